"""Log one access line per request, once its response body has been sent.

The line goes to a named logger (``ciweb.access`` by default) at INFO, in Apache's
``common`` or ``combined`` format, in ``extended`` (combined, then the request id and the
duration in seconds; the default) or in a %-format string of the keys listed in
:data:`KEYS`.  The body iterable is wrapped so that ``bytes`` counts what was really sent
and ``duration`` runs until the server closes the body (PEP 3333: ``close()`` is always
called, also when the client went away).  The filter sets ``environ['ciweb.access_logged']``
so that the server does not log its own line for the request.  When the logger is not
enabled for INFO, the request passes through unwrapped.

Values that come from the client (request line, user, referer, user agent, request id) are
escaped as Apache does (``"`` and ``\\`` by a backslash, other non-printable bytes as
``\\xhh``), so a line cannot be forged.  Place the filter outside ``faults`` so that it logs
the status of rendered errors, and inside ``request_id`` to log the id.

Paste deployment::

    [filter:access_log]
    paste.filter_factory = ciweb.middleware.access_log:filter_factory
    # Optional; defaults come from [access_log] in ciweb.conf.
    # logger_name = ciweb.access
    # format = extended
    # paste.deploy interpolates %(...)s in ini values: double the % of a custom format,
    # e.g. format = %%(remote_addr)s %%(status)s %%(duration_ms).1f
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from ciweb.conf import ConfigError
from ciweb.conf import access_log as access_log_conf
from ciweb.middleware import options_filter_factory

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["KEYS", "PRESETS", "AccessLog", "filter_factory"]

_COMMON = '%(remote_addr)s - %(remote_user)s [%(time)s] "%(request_line)s" %(status)s %(bytes_clf)s'
_COMBINED = _COMMON + ' "%(referer)s" "%(user_agent)s"'
PRESETS: Mapping[str, str] = {
    "common": _COMMON,
    "combined": _COMBINED,
    "extended": _COMBINED + " %(request_id)s %(duration).6f",
}

# The keys a format may use, with sample values that validate a format at startup.
KEYS: Mapping[str, object] = {
    "remote_addr": "192.0.2.1",
    "remote_user": "-",
    "time": "10/Oct/2000:13:55:36 +0000",
    "request_line": "GET / HTTP/1.1",
    "method": "GET",
    "path": "/",
    "query": "",
    "protocol": "HTTP/1.1",
    "status": "200",
    "bytes": 0,
    "bytes_clf": "-",
    "referer": "-",
    "user_agent": "-",
    "request_id": "-",
    "duration": 0.0,
    "duration_ms": 0.0,
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# RFC 3986 §3.3: characters a path may carry unencoded.
_PATH_SAFE = "/;:@&=+$,!~*'()%"


def _escape(value: str) -> str:
    """Escape *value* as Apache's log does: no quote, backslash or control byte unescaped."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(f"\\x{ord(char):02x}" if ord(char) < 256 else f"\\u{ord(char):04x}")
    return "".join(out)


def _apache_time(timestamp: float) -> str:
    local = time.localtime(timestamp)
    offset = local.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    return (
        f"{local.tm_mday:02d}/{_MONTHS[local.tm_mon - 1]}/{local.tm_year}:"
        f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d} {zone}"
    )


def _target(environ: WSGIEnvironment) -> str:
    """Return the request target as the client sent it, or as near as the host allows."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    # PEP 3333: PATH_INFO is the decoded path as latin-1; quote it back for the log.
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1")
    query = environ.get("QUERY_STRING")
    quoted = urllib.parse.quote(path, safe=_PATH_SAFE)
    return f"{quoted}?{query}" if query else quoted


class _Exchange:
    """What is known of one request and its response while it is served."""

    __slots__ = ("bytes", "environ", "filter", "start", "start_response", "status", "wall")

    def __init__(
        self, owner: AccessLog, environ: WSGIEnvironment, start_response: StartResponse
    ) -> None:
        self.filter = owner
        self.environ = environ
        self.start_response = start_response
        self.wall = time.time()
        self.start = time.perf_counter()
        self.status = "-"
        self.bytes = 0

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        write = self.start_response(status, headers, exc_info)
        self.status = status.partition(" ")[0]

        def _write(data: bytes) -> object:
            # PEP 3333's legacy write(): count it as sent too.
            self.bytes += len(data)
            return write(data)

        return _write

    def log(self) -> None:
        self.filter._log(self, time.perf_counter() - self.start)


class _LoggedBody:
    """The application's body, counted as it is sent; the line is logged on close()."""

    __slots__ = ("_exchange", "_iterable")

    def __init__(self, iterable: Iterable[bytes], exchange: _Exchange) -> None:
        self._iterable = iterable
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        for chunk in self._iterable:
            exchange.bytes += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            self._exchange.log()


class AccessLog:
    """WSGI filter that logs one line per request (see the module docstring)."""

    def __init__(
        self,
        application: WSGIApplication,
        *,
        logger_name: str = "ciweb.access",
        format: str = "extended",
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param logger_name: the logger that receives the lines, at INFO.
        :param format: a preset name (common, combined, extended) or a %-format string.
        :raises ConfigError: naming the bad option.
        """
        line_format = PRESETS.get(format, format)
        try:
            line_format % KEYS
        except KeyError as exc:
            raise ConfigError(f"[access_log] format: unknown key {exc} in {format!r}") from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"[access_log] format: {exc} in {format!r}") from None
        if not logger_name:
            raise ConfigError("[access_log] logger_name: empty")
        self.application = application
        self.logger = logging.getLogger(logger_name)
        self.format = line_format
        self._needs_time = "%(time)" in line_format

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["ciweb.access_logged"] = True
        if not self.logger.isEnabledFor(logging.INFO):
            return self.application(environ, start_response)
        exchange = _Exchange(self, environ, start_response)
        try:
            iterable = self.application(environ, exchange)
        except BaseException:
            # No response from here: the server will answer 500 (faults is not inside).
            exchange.status = "500"
            exchange.log()
            raise
        return _LoggedBody(iterable, exchange)

    def _log(self, exchange: _Exchange, duration: float) -> None:
        environ = exchange.environ
        method = environ.get("REQUEST_METHOD", "-")
        target = _target(environ)
        protocol = environ.get("SERVER_PROTOCOL", "-")
        sent = exchange.bytes
        values = {
            "remote_addr": environ.get("REMOTE_ADDR") or "-",
            "remote_user": _escape(environ.get("REMOTE_USER") or "-"),
            "time": _apache_time(exchange.wall) if self._needs_time else "-",
            "request_line": _escape(f"{method} {target} {protocol}"),
            "method": _escape(method),
            "path": _escape(target.partition("?")[0]),
            "query": _escape(environ.get("QUERY_STRING", "")),
            "protocol": _escape(protocol),
            "status": exchange.status,
            "bytes": sent,
            "bytes_clf": str(sent) if sent else "-",
            "referer": _escape(environ.get("HTTP_REFERER") or "-"),
            "user_agent": _escape(environ.get("HTTP_USER_AGENT") or "-"),
            "request_id": _escape(environ.get("ciweb.request_id") or "-"),
            "duration": duration,
            "duration_ms": duration * 1000.0,
        }
        self.logger.info(self.format, values)


filter_factory = options_filter_factory(AccessLog, access_log_conf.GROUP, access_log_conf.OPTS)
