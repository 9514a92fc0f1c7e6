"""Answer CORS preflights and add CORS headers to responses (Fetch standard, §3.2).

Two modes, fixed at start-up:

* ``allowed_origin = *`` (Zuul's behaviour, the default): every response carries
  ``Access-Control-Allow-Origin: *``, whether or not the request had an ``Origin``, and no
  ``Vary`` is added, as the Fetch standard advises for a static value ("CORS protocol and
  HTTP caches").
* a list of origins: a request whose ``Origin`` is listed gets that origin echoed back;
  any other request gets no CORS header at all; and every response gets ``Vary: Origin``
  (extending an existing Vary), because the answer depends on ``Origin``.

A preflight (OPTIONS with ``Origin`` and ``Access-Control-Request-Method``) is answered
here with 204 and never reaches the application.  If its origin, method or any requested
header is not allowed, the 204 carries no CORS header, so the browser's CORS check fails
(Fetch §4.8).  An allowed preflight gets every allowed method, every allowed header and
``Access-Control-Max-Age``.

Credentials: ``allow_credentials = true`` cannot be combined with ``*`` in
``allowed_origin``, ``allow_headers`` or ``expose_headers``; the filter refuses such a
configuration at start-up (ConfigError) rather than echo any origin, because echoing any
origin with credentials lets every web site read a logged-in user's data.

The filter sits outside ``faults`` so that error responses, already rendered, get CORS
headers too (a browser script can then read the JSON error)::

    [filter:cors]
    paste.filter_factory = ciweb.middleware.cors:filter_factory
    # Zuul's behaviour; defaults come from [cors] in ciweb.conf, local keys override.
    allowed_origin = *
    allow_credentials = false
    allow_methods = GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS
    allow_headers = Authorization, Content-Type
    expose_headers =
    max_age = 86400
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ciweb.conf import ConfigError
from ciweb.conf import cors as cors_conf
from ciweb.middleware import options_filter_factory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["CORS", "filter_factory"]

LOG = logging.getLogger(__name__)

# RFC 9110 §5.6.2 token; methods and field names are tokens.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Fetch §3.2.1 / RFC 6454 §6.1: a serialised origin is scheme "://" host [":" port], no path.
_ORIGIN = re.compile(r"^[a-z][a-z0-9+.\-]*://[^/?#\s]+$")
_HeaderList = list[tuple[str, str]]


def _tokens(option: str, values: Iterable[str]) -> list[str]:
    out = [v.strip() for v in values if v.strip()]
    for value in out:
        if value != "*" and not _TOKEN.match(value):
            raise ConfigError(f"[cors] {option}: {value!r} is not a valid token")
    return out


def _check_origins(origins: list[str]) -> None:
    """Raise ConfigError unless every origin of a list (not ``*``) is a serialised origin."""
    for origin in origins:
        if origin == "*":
            raise ConfigError("[cors] allowed_origin: * must stand alone")
        if not _ORIGIN.match(origin.lower()):
            raise ConfigError(f"[cors] allowed_origin: {origin!r} is not scheme://host[:port]")


def _check_options(
    methods: list[str],
    credentials: bool,
    origins: list[str],
    headers: list[str],
    exposed: list[str],
    max_age: int,
) -> None:
    """Raise ConfigError naming the option with an unsupported or forbidden ``*``, or max_age.

    :param methods: ``allow_methods``, upper-cased tokens.
    :param credentials: ``allow_credentials``.
    :param origins: ``allowed_origin``, stripped.
    :param headers: ``allow_headers`` tokens.
    :param exposed: ``expose_headers`` tokens.
    :param max_age: ``max_age`` in seconds.
    """
    if "*" in methods:
        raise ConfigError("[cors] allow_methods: list the methods; * is not supported")
    if credentials:
        _check_no_star_with_credentials(origins, headers, exposed)
    if max_age < 0:
        raise ConfigError("[cors] max_age must be >= 0")


def _check_no_star_with_credentials(
    origins: list[str], headers: list[str], exposed: list[str]
) -> None:
    """Raise ConfigError naming the first option that holds ``*`` next to credentials."""
    # Fetch §3.2.5: with credentials, * is a literal, not a wildcard, in every
    # CORS response header; refuse rather than silently echo anything.
    for option, values in (
        ("allowed_origin", origins),
        ("allow_headers", headers),
        ("expose_headers", exposed),
    ):
        if "*" in values:
            raise ConfigError(
                f"[cors] {option} = * cannot be combined with allow_credentials = true"
            )


def _extra_headers(
    credentials: bool, methods: list[str], headers: list[str], exposed: list[str], max_age: int
) -> tuple[_HeaderList, _HeaderList]:
    """Return the constant CORS fields of an actual response and of an allowed preflight.

    :param credentials: ``allow_credentials``.
    :param methods: ``allow_methods``.
    :param headers: ``allow_headers``.
    :param exposed: ``expose_headers``.
    :param max_age: ``max_age`` in seconds.
    """
    common: _HeaderList = []
    if credentials:
        common.append(("Access-Control-Allow-Credentials", "true"))
    actual: _HeaderList = list(common)
    if exposed:
        actual.append(("Access-Control-Expose-Headers", ", ".join(exposed)))
    preflight: _HeaderList = [*common, ("Access-Control-Max-Age", str(max_age))]
    if methods:
        preflight.append(("Access-Control-Allow-Methods", ", ".join(methods)))
    if headers:
        preflight.append(("Access-Control-Allow-Headers", ", ".join(headers)))
    return actual, preflight


def _add_vary_origin(headers: _HeaderList) -> _HeaderList:
    """Return *headers* with Origin added to Vary, extending an existing Vary."""
    for i, (name, value) in enumerate(headers):
        if name.lower() == "vary":
            fields = {f.strip().lower() for f in value.split(",")}
            if "origin" in fields or "*" in fields:
                return headers
            # RFC 9110 §12.5.5: Vary is a list; extend it, never replace it.
            headers = list(headers)
            headers[i] = (name, f"{value}, Origin" if value.strip() else "Origin")
            return headers
    return [*headers, ("Vary", "Origin")]


class CORS:
    """WSGI filter implementing the server side of the CORS protocol."""

    def __init__(
        self,
        application: WSGIApplication,
        *,
        allowed_origin: Iterable[str] = ("*",),
        allow_credentials: bool = False,
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
        allow_headers: Iterable[str] = ("Authorization", "Content-Type"),
        expose_headers: Iterable[str] = (),
        max_age: int = 86400,
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param allowed_origin: origins (``scheme://host[:port]``) or ``["*"]``; empty: none.
        :param allow_credentials: send ``Access-Control-Allow-Credentials: true``.
        :param allow_methods: methods a preflight may request; all are listed in the answer.
        :param allow_headers: request fields a preflight may request; ``*`` allows any but
            Authorization.
        :param expose_headers: response fields scripts may read.
        :param max_age: seconds a browser may cache a preflight answer.
        :raises ConfigError: naming a bad option or a forbidden combination.
        """
        self.application = application
        origins = [o.strip() for o in allowed_origin if o.strip()]
        self._enabled = bool(origins)
        self._wildcard = origins == ["*"]
        if not self._wildcard:
            _check_origins(origins)
        methods = [m.upper() for m in _tokens("allow_methods", allow_methods)]
        headers = _tokens("allow_headers", allow_headers)
        exposed = _tokens("expose_headers", expose_headers)
        _check_options(methods, allow_credentials, origins, headers, exposed, max_age)
        self._origins = frozenset(o.lower() for o in origins)
        self._methods = frozenset(methods)
        self._any_header = "*" in headers
        self._headers = frozenset(h.lower() for h in headers if h != "*")
        self._credentials = allow_credentials
        # Precomputed header tuples; the origin is prepended per request in list mode.
        self._actual_extra, self._preflight_extra = _extra_headers(
            allow_credentials, methods, headers, exposed, max_age
        )
        self._star: _HeaderList = [("Access-Control-Allow-Origin", "*")]
        self._star_actual = self._star + self._actual_extra
        self._star_preflight = self._star + self._preflight_extra

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._enabled:
            return self.application(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        if (
            origin is not None
            and environ["REQUEST_METHOD"] == "OPTIONS"
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        ):
            # Fetch §3.2.2: OPTIONS with Origin and Access-Control-Request-Method is a
            # CORS-preflight request; the application never sees it.
            return self._preflight(environ, origin, start_response)
        if self._wildcard:
            # Fetch "CORS protocol and HTTP caches": a static * goes on every response,
            # CORS request or not, and needs no Vary.
            extra = self._star_actual
            return self.application(environ, _appending(start_response, extra, vary=False))
        if origin is not None and origin in self._origins:
            # Fetch §3.2.3: echo the one allowed origin (a list is not allowed in the header).
            extra = [("Access-Control-Allow-Origin", origin), *self._actual_extra]
        else:
            # Fetch §3.2.3: a disallowed or absent origin gets no CORS header, but the
            # response still depends on Origin, hence Vary.
            extra = []
        return self.application(environ, _appending(start_response, extra, vary=True))

    def _preflight(
        self, environ: WSGIEnvironment, origin: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Answer a CORS-preflight request with 204, with CORS headers only if allowed."""
        headers: _HeaderList = [] if self._wildcard else [("Vary", "Origin")]
        method = environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"].strip()
        requested = [
            h.strip().lower()
            for h in environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").split(",")
            if h.strip()
        ]
        if not self._wildcard and origin not in self._origins:
            # Fetch §4.9 CORS check: without Access-Control-Allow-Origin the check fails.
            LOG.debug("cors: preflight from origin %s refused", origin)
        elif method not in self._methods:
            # Fetch §4.8 step 7: a method not in Access-Control-Allow-Methods fails.
            LOG.debug("cors: preflight for method %s refused", method)
        elif not all(self._header_allowed(h) for h in requested):
            # Fetch §4.8 step 8: every requested non-safelisted header must be allowed.
            LOG.debug("cors: preflight for headers %s refused", requested)
        elif self._wildcard:
            headers = self._star_preflight
        else:
            headers = [("Access-Control-Allow-Origin", origin), *self._preflight_extra, *headers]
        start_response("204 No Content", list(headers))
        return []

    def _header_allowed(self, name: str) -> bool:
        if name in self._headers:
            return True
        # Fetch §3.2.3: * in Access-Control-Allow-Headers never covers Authorization.
        return self._any_header and name != "authorization"


def _appending(start_response: StartResponse, extra: _HeaderList, *, vary: bool) -> Any:
    """Return a start_response that adds *extra* headers (and Vary: Origin if *vary*)."""

    def _start_response(
        status: str, headers: _HeaderList, exc_info: Any = None
    ) -> Callable[[bytes], object]:
        if vary:
            headers = _add_vary_origin(headers)
        if extra:
            headers = [*headers, *extra]
        return start_response(status, headers, exc_info)

    return _start_response


filter_factory = options_filter_factory(CORS, cors_conf.GROUP, cors_conf.OPTS)
