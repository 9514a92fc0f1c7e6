"""HTTP caching per route: Cache-Control, validators, 304s and a short in-process cache.

For each GET or HEAD request whose path matches a policy (first match wins):

* the policy's Cache-Control value goes on 2xx responses that have none (RFC 9111 §5.2.2);
* a 200 response up to ``max_entry_bytes`` gets a strong ``ETag`` (a hash of its bytes)
  and a ``Last-Modified`` (the time it was generated) unless the application set them
  (RFC 9110 §8.8); HEAD is answered from a GET so that both carry the same validators;
* ``If-None-Match``, or failing that ``If-Modified-Since``, is evaluated against the
  response about to be sent and answered ``304 Not Modified`` with no body (RFC 9110
  §13.1.1-2, §13.2.2, §15.4.5);
* with ``ttl``, the response is kept in this process, keyed by path, query and the request
  headers its ``Vary`` names, and served from memory until it expires.  When it expires,
  exactly one request calls the application again; the others wait for it (up to
  ``fill_timeout``) or, within the policy's ``stale-while-revalidate`` window, get the
  stale copy at once.  The cache is bounded by ``max_entries`` and ``max_bytes`` (least
  recently used first out) and never stores a non-2xx response, a response with
  ``Set-Cookie``, ``Cache-Control: no-store``/``private`` or ``Vary: *``, nor the answer
  to a request with ``Authorization`` unless the route is marked ``shareable``.

This in-process cache belongs to the origin (it is what zuul-web does by hand for its
status), so request ``Cache-Control`` directives do not bypass it; ``max-age`` is sent as
configured, so a client may see data up to ``ttl + max-age`` seconds old.  It works under
eventlet green threads and OS threads: it uses ``threading.Lock`` and ``threading.Event``,
which eventlet's monkey-patching turns green, and never busy-waits.

Compression sits inside this filter, so the cache sees, hashes and stores each coding as
its own variant (``Vary: Accept-Encoding``), and a client's ``If-None-Match`` is compared
with the tag of the variant it would receive.  Other paths and methods pass through.

Policies are local keys ``policy.<name>`` (ini order is match order), or repeated
``policies`` values in ``[cache]`` of ciweb.conf; local ``policy.*`` keys replace those
(the policy language is :mod:`ciweb.middleware.cache_policy`)::

    [filter:cache]
    paste.filter_factory = ciweb.middleware.cache:filter_factory
    # policy.<name> = PATTERN CACHE-CONTROL [; ttl=SECONDS] [; shareable]
    policy.info = /api/info public, max-age=3600
    policy.tenant_info = /api/tenant/{tenant}/info public, max-age=3600
    policy.status = /api/tenant/{tenant}/status public, max-age=1; ttl=1
    policy.tenants = /api/tenants public, max-age=1
    policy.badge = /api/tenant/{tenant}/badge no-cache
    max_entries = 1000
    max_bytes = 67108864
"""

from __future__ import annotations

import collections
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from ciweb.conf import ConfigError, paste_options
from ciweb.conf import cache as cache_conf
from ciweb.middleware.cache_policy import Policy, PolicyTable
from ciweb.wsgi.router import ROUTE_KEY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["RESULT_KEY", "Cache", "filter_factory"]

LOG = logging.getLogger(__name__)
# What the in-process cache did for the request ("hit", "stale", "fill", "bypass",
# "uncacheable"), for the metrics of an outer layer (ciweb.process.metrics).
RESULT_KEY = "ciweb.cache"

_Headers = list[tuple[str, str]]
# RFC 9110 §15.4.5: the fields a 304 repeats from the 200 (Last-Modified only without ETag).
_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary"}
)
_FILL_ROUNDS = 3

# RFC 9110 §8.8.3: an entity tag, weak or strong.
_ETAG = re.compile(r'(?:W/)?("[^"]*")')


def etag_matches(header: str, etag: str) -> bool:
    """Return whether an ``If-None-Match`` value matches *etag* (weak comparison).

    :param header: the If-None-Match value: ``*`` or a list of entity tags.
    :param etag: the entity tag of the selected representation.
    """
    if header.strip() == "*":
        return True
    opaque = etag[2:] if etag.startswith("W/") else etag
    return opaque in _ETAG.findall(header)


class _Entry:
    """A complete response: what is sent, and what a cache lookup needs."""

    __slots__ = (
        "body", "etag", "expires", "headers", "key", "modified", "route", "stale_until", "status"
    )  # fmt: skip

    def __init__(self, status: str, headers: _Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.etag: str | None = None
        self.modified: float | None = None
        self.expires = 0.0
        self.stale_until = 0.0
        self.key: tuple[Any, ...] = ()
        self.route: str | None = None  # the router's ROUTE_KEY, given back on a hit


class _Partial:
    """A response too large to buffer: the chunks read so far and the rest of the iterable."""

    __slots__ = ("app_iter", "chunks", "headers", "rest", "status")

    def __init__(
        self,
        status: str,
        headers: _Headers,
        chunks: list[bytes],
        rest: Iterator[bytes],
        app_iter: Any,
    ) -> None:
        self.status, self.headers, self.chunks = status, headers, chunks
        self.rest, self.app_iter = rest, app_iter

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        yield from self.rest

    def close(self) -> None:
        close = getattr(self.app_iter, "close", None)
        if close is not None:
            close()


class Cache:
    """WSGI filter applying per-route HTTP caching policies and an in-process cache."""

    #: Seconds on a monotonic clock; entries expire by it.
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self,
        application: WSGIApplication,
        *,
        policies: Mapping[str, str] | Sequence[str] = (),
        max_entries: int = 1000,
        max_bytes: int = 64 * 1024 * 1024,
        max_entry_bytes: int = 4 * 1024 * 1024,
        fill_timeout: float = 5.0,
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param policies: ``{name: spec}`` or a list of specs, each
            ``PATTERN CACHE-CONTROL[; ttl=SECONDS][; shareable]``, first match wins.
        :param max_entries: most responses kept in memory; 0 disables the memory cache.
        :param max_bytes: most body bytes kept in memory.
        :param max_entry_bytes: largest body buffered for an ETag and storable.
        :param fill_timeout: seconds to wait for another request's fill of the same key.
        :raises ConfigError: naming the bad option or policy.
        """
        self.application = application
        for name, value in (
            ("max_entries", max_entries),
            ("max_bytes", max_bytes),
            ("max_entry_bytes", max_entry_bytes),
            ("fill_timeout", fill_timeout),
        ):
            if value < 0:
                raise ConfigError(f"[cache] {name} must be >= 0")
        if isinstance(policies, str):
            policies = [policies]
        named = (
            dict(policies)
            if isinstance(policies, Mapping)
            else {f"policies[{i}]": spec for i, spec in enumerate(policies)}
        )
        self._table = PolicyTable(named)
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_entry_bytes = max_entry_bytes
        self._fill_timeout = fill_timeout
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[tuple[Any, ...], _Entry] = collections.OrderedDict()
        self._vary: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self._fills: dict[tuple[Any, ...], threading.Event] = {}
        self._bytes = 0
        self._counts = collections.Counter[str]()
        self._waiting = 0

    def stats(self) -> dict[str, int]:
        """Return counters of the in-process cache (hits, fills, stale, waits...)."""
        with self._lock:
            out = dict(self._counts)
            out.update(entries=len(self._entries), bytes=self._bytes, waiting=self._waiting)
        return out

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method != "GET" and method != "HEAD":
            return self.application(environ, start_response)
        policy = self._table.match(environ.get("PATH_INFO") or "/")
        if policy is None:
            return self.application(environ, start_response)
        if "HTTP_AUTHORIZATION" in environ:
            policy = policy.authorized
        if policy.no_store:
            # RFC 9111 §5.2.2.5: nothing may be stored; only the header is set.
            return self.application(environ, _with_cache_control(start_response, policy))
        if (
            policy.ttl > 0
            and self._max_entries > 0
            # RFC 9111 §3.5: a shared cache must not reuse a response to an authenticated
            # request unless told it may; "shareable" is the operator saying so.
            and (policy.shareable or "HTTP_AUTHORIZATION" not in environ)
        ):
            result = self._cached(environ, policy)
        else:
            result = self._run(environ, policy)
        if isinstance(result, _Partial):
            start_response(result.status, result.headers)
            if method == "HEAD":
                result.close()
                return []
            return result
        return self._respond(environ, result, start_response)

    # -- producing responses ---------------------------------------------------------------

    def _run(self, environ: WSGIEnvironment, policy: Policy) -> _Entry | _Partial:
        """Call the application (HEAD as GET) and decorate a complete response."""
        outer = environ
        if environ["REQUEST_METHOD"] == "HEAD":
            # RFC 9110 §9.3.2: HEAD gets the GET's header fields, validators included.
            environ = dict(environ, REQUEST_METHOD="GET")
        captured: list[Any] = []

        def _start_response(status: str, headers: _Headers, exc_info: Any = None) -> Any:
            # PEP 3333: nothing is sent yet, so a later call (with exc_info) replaces.
            captured[:] = [status, headers]
            return chunks.append

        chunks: list[bytes] = []
        app_iter = self.application(environ, _start_response)
        try:
            size = sum(len(c) for c in chunks)
            it = iter(app_iter)
            for chunk in it:
                chunks.append(chunk)
                size += len(chunk)
                if size > self._max_entry_bytes:
                    status, headers = captured
                    return _Partial(
                        status, _decorate(status, headers, policy), chunks, it, app_iter
                    )
        except BaseException:
            _close(app_iter)
            raise
        _close(app_iter)
        if not captured:
            raise RuntimeError("the application returned without calling start_response")
        status, headers = captured
        entry = self._complete(status, headers, b"".join(chunks), policy)
        route = environ.get(ROUTE_KEY)
        if route is not None:
            entry.route = outer[ROUTE_KEY] = route
        return entry

    def _complete(self, status: str, headers: _Headers, body: bytes, policy: Policy) -> _Entry:
        headers = _decorate(status, headers, policy)
        entry = _Entry(status, headers, body)
        if status[:3] != "200":
            return entry
        for name, value in headers:
            lname = name.lower()
            if lname == "etag":
                entry.etag = value
            elif lname == "last-modified":
                entry.modified = _parse_date(value)
        if entry.etag is None:
            # RFC 9110 §8.8.3: a strong validator changes whenever the bytes change.
            entry.etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
            headers.append(("ETag", entry.etag))
        if not any(n.lower() == "last-modified" for n, _ in headers):
            # RFC 9110 §8.8.2.1: the time the representation was generated.
            now = time.time()
            entry.modified = float(int(now))
            headers.append(("Last-Modified", formatdate(now, usegmt=True)))
        headers[:] = [(n, v) for n, v in headers if n.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        return entry

    def _respond(
        self, environ: WSGIEnvironment, entry: _Entry, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Send *entry*, or 304 if the request's preconditions say the client has it."""
        if entry.etag is not None and self._not_modified(environ, entry):
            keep = _NOT_MODIFIED_FIELDS
            start_response(
                "304 Not Modified", [(n, v) for n, v in entry.headers if n.lower() in keep]
            )
            return []
        start_response(entry.status, list(entry.headers))
        if environ["REQUEST_METHOD"] == "HEAD":
            return []
        return [entry.body]

    @staticmethod
    def _not_modified(environ: WSGIEnvironment, entry: _Entry) -> bool:
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is not None:
            # RFC 9110 §13.1.2: weak comparison; §13.2.2: If-None-Match wins over IMS.
            return etag_matches(inm, entry.etag or "")
        ims = environ.get("HTTP_IF_MODIFIED_SINCE")
        if ims is not None and entry.modified is not None:
            # RFC 9110 §13.1.3: not modified if Last-Modified <= the date given.
            since = _parse_date(ims)
            return since is not None and entry.modified <= since
        return False

    # -- the in-process cache ------------------------------------------------------------

    def _cached(self, environ: WSGIEnvironment, policy: Policy) -> _Entry | _Partial:
        """Return the stored entry, or fill it once while concurrent requests wait."""
        base = (
            environ.get("SCRIPT_NAME", ""),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
        )
        deadline = 0.0
        mine: threading.Event | None = None
        for _ in range(_FILL_ROUNDS):
            with self._lock:
                key = self._key(base, environ)
                entry = self._entries.get(key)
                now = self.clock()
                if entry is not None and now < entry.expires:
                    self._entries.move_to_end(key)
                    self._counts["hits"] += 1
                    environ[RESULT_KEY] = "hit"
                    if entry.route is not None:
                        environ[ROUTE_KEY] = entry.route
                    return entry
                fill = self._fills.get(key)
                if fill is None:
                    mine = self._fills[key] = threading.Event()
                    break
                if entry is not None and now < entry.stale_until:
                    # RFC 5861 §3: serve stale while another request revalidates.
                    self._counts["stale"] += 1
                    environ[RESULT_KEY] = "stale"
                    if entry.route is not None:
                        environ[ROUTE_KEY] = entry.route
                    return entry
                self._counts["waits"] += 1
                self._waiting += 1
            if not deadline:
                deadline = time.monotonic() + self._fill_timeout
            try:
                done = fill.wait(max(0.0, deadline - time.monotonic()))
            finally:
                with self._lock:
                    self._waiting -= 1
            if not done:
                break
        if mine is None:
            # Timed out or could not settle: answer uncached rather than wait longer.
            self._counts["bypass"] += 1
            environ[RESULT_KEY] = "bypass"
            return self._run(environ, policy)
        try:
            result = self._run(environ, policy)
            if isinstance(result, _Entry):
                self._store(base, environ, result, policy)
            return result
        finally:
            with self._lock:
                del self._fills[key]
            mine.set()

    def _key(self, base: tuple[str, str, str], environ: WSGIEnvironment) -> tuple[Any, ...]:
        vary = self._vary.get(base, ())
        return (*base, *(environ.get(k) for k in vary))

    def _store(
        self, base: tuple[str, str, str], environ: WSGIEnvironment, entry: _Entry, policy: Policy
    ) -> None:
        vary = _storable_vary(entry, self._max_entry_bytes)
        if vary is None or len(entry.body) > self._max_bytes:
            self._counts["uncacheable"] += 1
            environ[RESULT_KEY] = "uncacheable"
            return
        now = self.clock()
        entry.expires = now + policy.ttl
        entry.stale_until = entry.expires + policy.stale
        environ[RESULT_KEY] = "fill"
        with self._lock:
            self._counts["fills"] += 1
            if len(self._vary) >= 4 * self._max_entries:
                self._vary.clear()  # only a hint: a lost one costs one extra fill
            self._vary[base] = vary
            entry.key = key = self._key(base, environ)
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = entry
            self._bytes += len(entry.body)
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)
                self._counts["evictions"] += 1


def _storable_vary(entry: _Entry, limit: int) -> tuple[str, ...] | None:
    """Return the environ keys named by Vary if *entry* may be stored, else None."""
    # Only successful, complete responses are stored (RFC 9111 §3; 206 is partial).
    if entry.status[:1] != "2" or entry.status[:3] == "206" or len(entry.body) > limit:
        return None
    vary: list[str] = []
    for name, value in entry.headers:
        lname = name.lower()
        if lname == "set-cookie":
            return None  # never share one client's cookie with another
        if lname == "cache-control":
            directives = {d.strip().split("=", 1)[0].lower() for d in value.split(",")}
            if "no-store" in directives or "private" in directives:
                return None  # RFC 9111 §5.2.2.5, §5.2.2.7
        elif lname == "vary":
            for field in value.split(","):
                field = field.strip().upper().replace("-", "_")
                if field == "*":
                    return None  # RFC 9111 §4.1: Vary: * never matches
                if field:
                    vary.append("HTTP_" + field)
    return tuple(sorted(set(vary)))


def _decorate(status: str, headers: _Headers, policy: Policy) -> _Headers:
    """Return a copy of *headers* with the policy's Cache-Control on a 2xx without one."""
    headers = list(headers)
    if status[:1] == "2" and not any(n.lower() == "cache-control" for n, _ in headers):
        headers.append(policy.header)
    return headers


def _with_cache_control(start_response: StartResponse, policy: Policy) -> Any:
    def _start_response(status: str, headers: _Headers, exc_info: Any = None) -> Any:
        return start_response(status, _decorate(status, headers, policy), exc_info)

    return _start_response


def _parse_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # RFC 9110 §13.1.3: an invalid date is ignored


def _close(app_iter: Any) -> None:
    close = getattr(app_iter, "close", None)
    if close is not None:
        close()


def filter_factory(global_conf: dict[str, str], **local_conf: str) -> Callable[..., Cache]:
    """Return a paste filter that wraps an application in :class:`Cache`.

    Local keys ``policy.<name>`` are policies (ini order is match order) and replace the
    ``policies`` of ciweb.conf; the other keys are options of ``[cache]``.

    :param global_conf: paste's global configuration; ``config_file`` names ciweb.conf.
    :param local_conf: the filter section's keys.
    :raises ConfigError: naming an unknown or bad option or policy.
    """
    named = {k: v for k, v in local_conf.items() if k.startswith("policy.")}
    rest = {k: v for k, v in local_conf.items() if not k.startswith("policy.")}
    options = paste_options(global_conf, rest, cache_conf.GROUP, cache_conf.OPTS)
    if named:
        options["policies"] = named

    def _filter(app: WSGIApplication) -> Cache:
        return Cache(app, **options)

    return _filter
