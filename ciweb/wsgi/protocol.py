"""The strict HTTP/1.1 front end of ciweb's eventlet server.

:class:`HttpProtocol` replaces the lenient request reader and response writer of
``eventlet.wsgi.HttpProtocol`` while keeping eventlet's green sockets and its request body
reader.  Every rule of ``shared/reference/http-hardening.md`` is enforced here:

- a total deadline for the request head (and the TLS handshake), an idle keep-alive timeout;
- strict framing (RFC 9112 §6): one ``1*DIGIT`` Content-Length, ``chunked`` as the final and
  only transfer coding, never both, hex-only chunk sizes;
- no bare CR, NUL or control characters in the request line or field values (RFC 9112 §2.2,
  RFC 9110 §5.5), no whitespace before a field's colon (RFC 9112 §5.1);
- limits with exact boundaries: a size equal to a limit is refused;
- every refused request gets a status line, a short body and a closed connection;
- no traceback ever reaches the client.

Limits live in a :class:`Limits` instance per server: eventlet's module globals
(``MAX_HEADER_LINE`` and friends) are never read or written.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import eventlet
import eventlet.wsgi
import webob.exc
from eventlet import greenio

from ciweb.wsgi.response import ErrorStream, ResponseWriter

if TYPE_CHECKING:
    import ssl

    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = ["BadChunk", "BodyTooLarge", "HttpProtocol", "Limits", "Site"]

LOG = logging.getLogger(__name__)
ACCESS_LOG = logging.getLogger("ciweb.access")

STATE_IDLE = eventlet.wsgi.STATE_IDLE
STATE_REQUEST = eventlet.wsgi.STATE_REQUEST
STATE_CLOSE = eventlet.wsgi.STATE_CLOSE

# RFC 9110 §5.6.2: token = 1*tchar.
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
# RFC 9112 §3: method SP request-target SP HTTP-version, then CRLF (a bare LF is tolerated,
# RFC 9112 §2.2; a bare CR is not).  The target is visible ASCII only: no NUL, CTL, space or
# 8-bit byte can reach PATH_INFO through it.
_REQUEST_LINE = re.compile(rb"([" + _TCHAR + rb"]+) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])\r?\n")
# RFC 9112 §5: field-name ":" OWS field-value OWS; the name is a token directly followed by
# the colon; the value is VCHAR / obs-text with inner SP / HTAB (RFC 9110 §5.5).
_FIELD_LINE = re.compile(
    rb"([" + _TCHAR + rb"]+):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff]+[ \t]+)*[\x21-\x7e\x80-\xff]+)?[ \t]*\r?\n"
)
_DIGITS = re.compile(r"[0-9]+")
# RFC 9112 §7.1: chunk-size = 1*HEXDIG, then chunk extensions (ignored, but well-formed).
_CHUNK_SIZE = re.compile(
    rb"([0-9A-Fa-f]{1,16})"
    rb"((?:[ \t]*;[ \t]*["
    + _TCHAR
    + rb"]+(?:[ \t]*=[ \t]*(?:["
    + _TCHAR
    + rb"]+|\"[^\"\r\n]*\"))?)*)"
    rb"[ \t]*\r\n"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_MAX_BLANK_LINES = 4


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-server request limits; each is the smallest size refused (0 disables the body one).

    :param max_request_line: request line, bytes with CRLF (414).
    :param max_header_line: one field line, bytes with CRLF (431).
    :param max_header_fields: number of field lines (431).
    :param max_header_size: all field lines, bytes with CRLFs (431).
    :param max_body_size: request body, bytes (413); 0 for no limit.
    :param header_timeout: seconds to receive a whole request head (and a TLS handshake).
    :param keepalive_timeout: seconds an idle keep-alive connection waits for a request.
    :param client_socket_timeout: seconds of each read or write while a body moves.
    """

    max_request_line: int = 8192
    max_header_line: int = 16384
    max_header_fields: int = 100
    max_header_size: int = 65536
    max_body_size: int = 16 * 1024 * 1024
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    client_socket_timeout: float = 900.0


class BodyTooLarge(webob.exc.HTTPRequestEntityTooLarge):
    """The request body grew to the server's limit while the application read it."""


class BadChunk(webob.exc.HTTPBadRequest):
    """The chunked request body is malformed (RFC 9112 §7.1)."""


class _Refuse(Exception):
    """Refuse the request head with *status* and a short plain-text *reason*."""

    def __init__(self, status: str, reason: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class _HeadTimeout(Exception):
    """The request head did not arrive within the deadline."""


class Site:
    """What every connection of one server shares: the application, limits and options.

    :param app: the WSGI application.
    :param limits: the request limits.
    :param keepalive: keep connections open between requests.
    :param url_scheme: ``http`` or ``https``.
    :param server_name: host name or address of the listening socket.
    :param server_port: port of the listening socket.
    :param ssl_context: wraps every accepted connection when set.
    :param access_log: log one line per request to ``ciweb.access``.
    :param access_log_format: the line's format (eventlet's keys).
    :param pool_free: returns the number of free green threads (for ``ciweb.pool_free``).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        limits: Limits,
        keepalive: bool,
        url_scheme: str,
        server_name: str,
        server_port: int,
        ssl_context: ssl.SSLContext | None,
        access_log: bool,
        access_log_format: str,
        pool_free: Callable[[], int],
    ) -> None:
        self.app = app
        self.limits = limits
        self.keepalive = keepalive
        self.ssl_context = ssl_context
        self.access_log = access_log
        self.access_log_format = access_log_format
        self.pool_free = pool_free
        self.errors = ErrorStream()
        self.stopping = False
        self.base_environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": url_scheme,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SCRIPT_NAME": "",
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        if url_scheme == "https":
            self.base_environ["HTTPS"] = "on"
        self._date_second = -1
        self._date = ""

    def date(self) -> str:
        """Return the current IMF-fixdate, formatted at most once a second."""
        now = int(time.time())
        if now != self._date_second:
            self._date = eventlet.wsgi.format_date_time(now)
            self._date_second = now
        return self._date


class StrictInput(eventlet.wsgi.Input):
    """eventlet's request body reader with strict chunk framing and a size limit."""

    def __init__(self, *args: Any, max_body_size: int, on_error: Callable[[], None], **kw: Any):
        super().__init__(*args, **kw)
        self.max_body_size = max_body_size
        self.on_error = on_error
        self.received = 0
        self.position: int = self.position

    def _fail(self, exc: webob.exc.HTTPException) -> webob.exc.HTTPException:
        self.on_error()
        self.chunk_length = 0
        self.content_length = self.position
        return exc

    def _next_chunk_size(self, rfile: Any) -> int:
        line = rfile.readline(1024)
        match = _CHUNK_SIZE.fullmatch(line)
        if match is None:
            # RFC 9112 §7.1: sizes are hex digits only: no sign, no "0x", no spaces.
            raise self._fail(BadChunk(detail="malformed chunk size line"))
        return int(match.group(1), 16)

    def _read_trailers(self, rfile: Any) -> None:
        # RFC 9112 §7.1.2: trailer fields are read and discarded, with bounded size.
        for _ in range(64):
            line = rfile.readline(8192)
            if line == b"\r\n":
                return
            if not line.endswith(b"\r\n") or not _FIELD_LINE.fullmatch(line):
                raise self._fail(BadChunk(detail="malformed chunked trailer"))
        raise self._fail(BadChunk(detail="too many chunked trailer fields"))

    def _chunked_read(
        self, rfile: Any, length: int | None = None, use_readline: bool = False
    ) -> bytes:
        if self.should_send_hundred_continue:
            self.send_hundred_continue_response()
            self.is_hundred_continue_response_sent = True
        if length is not None and length < 0:
            length = None
        parts: list[bytes] = []
        while self.chunk_length != 0 and length != 0:
            if self.chunk_length < 0 or self.position == self.chunk_length:
                size = self._next_chunk_size(rfile)
                self.chunk_length, self.position = size, 0
                if size == 0:
                    self._read_trailers(rfile)
                    break
                self.received += size
                if self.max_body_size and self.received >= self.max_body_size:
                    raise self._fail(BodyTooLarge(detail="request body too large"))
            want = self.chunk_length - self.position
            if length is not None:
                want = min(want, length)
            data = rfile.readline(want) if use_readline else rfile.read(want)
            if not data:
                raise self._fail(BadChunk(detail="request body ended inside a chunk"))
            parts.append(data)
            self.position += len(data)
            if length is not None:
                length -= len(data)
            if self.position == self.chunk_length and rfile.read(2) != b"\r\n":
                raise self._fail(BadChunk(detail="chunk data not followed by CRLF"))
            if use_readline and data.endswith(b"\n"):
                break
        return b"".join(parts)

    def discard(self, buffer_size: int = 16 << 10) -> None:
        """Read and drop what the application left of the body, for the next request."""
        while self.read(buffer_size):
            pass


class HttpProtocol(eventlet.wsgi.HttpProtocol):
    """Serve the requests of one connection, strictly, under the limits of its :class:`Site`."""

    server: Site

    def __init__(self, conn_state: list[Any], site: Site) -> None:
        """Serve *conn_state* (``[address, socket, state]``) until the connection closes."""
        self.conn_state = conn_state
        self.client_address = conn_state[0]
        self.request = conn_state[1]
        self.server = site
        self.started = time.monotonic()
        self.requests = 0
        self.close_connection = True
        self.keep_alive_requested = False
        self.close_connection_forced = False
        self.upgraded = False
        self.requestline = ""
        try:
            if self.setup_connection():
                self.setup()
                self.handle()
        except (_HeadTimeout, OSError) as exc:
            LOG.debug("connection from %s ended: %r", self.client_address, exc)
        finally:
            self.finish()

    def setup_connection(self) -> bool:
        """Set socket options and complete the TLS handshake within the head deadline."""
        sock = self.request
        context = self.server.ssl_context
        if context is None:
            return True
        with eventlet.Timeout(self.server.limits.header_timeout, _HeadTimeout()):
            try:
                tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                tls.do_handshake()
            except (OSError, ValueError) as exc:
                LOG.info("TLS handshake with %s failed: %s", self.client_address, exc)
                return False
        self.request = self.conn_state[1] = tls
        return True

    def finish(self) -> None:
        """Flush and close the connection."""
        try:
            if hasattr(self, "wfile"):
                super().finish()
            else:
                greenio.shutdown_safe(self.request)
                self.request.close()
        except OSError:
            pass
        self.conn_state[2] = STATE_CLOSE

    def handle(self) -> None:
        """Serve requests until the connection is to be closed."""
        while not self.server.stopping:
            self.close_connection = True
            self.close_connection_forced = False
            self.handle_one_request()
            self.requests += 1
            if self.close_connection or self.conn_state[2] == STATE_CLOSE:
                return
            self.conn_state[2] = STATE_IDLE

    # -- the request head -------------------------------------------------------------

    def _wait_for_request(self) -> bool:
        """Wait (keep-alive) for the first byte of the next request; False to close."""
        if self.requests == 0:
            return True
        self.request.settimeout(self.server.limits.keepalive_timeout)
        try:
            return bool(self.rfile.peek(1))
        except (TimeoutError, OSError):
            return False

    def _head_deadline(self) -> float:
        limits = self.server.limits
        if self.requests == 0:
            # A new connection's deadline runs from its accept, handshake included.
            return max(0.0, self.started + limits.header_timeout - time.monotonic())
        return limits.header_timeout

    def handle_one_request(self) -> None:
        """Read one request head, check it, build the environ and run the application."""
        if not self._wait_for_request():
            return
        self.conn_state[2] = STATE_REQUEST
        self.request.settimeout(None)
        try:
            with eventlet.Timeout(self._head_deadline(), _HeadTimeout()):
                environ = self._read_head()
        except _Refuse as refusal:
            self._refuse(refusal)
            return
        except _HeadTimeout:
            # RFC 9110 §15.5.9 408: the client was too slow to send its head.
            self._refuse(_Refuse("408 Request Timeout", "request head not received in time"))
            return
        if environ is None:
            return
        self.request.settimeout(self.server.limits.client_socket_timeout)
        self.environ = environ
        self.handle_one_response()

    def _readline(self, limit: int, status: str, what: str) -> bytes:
        line: bytes = self.rfile.readline(limit)
        if len(line) >= limit:
            raise _Refuse(status, f"{what} too long")
        if line and not line.endswith(b"\n"):
            raise _Refuse("400 Bad Request", f"{what} ended without a line break")
        return line

    def _read_request_line(self) -> tuple[bytes, ...] | None:
        limits = self.server.limits
        for _ in range(_MAX_BLANK_LINES + 1):
            line = self._readline(limits.max_request_line, "414 URI Too Long", "request line")
            if not line:
                return None
            # RFC 9112 §2.2: empty lines before the request line are ignored.
            if line not in (b"\r\n", b"\n"):
                break
        else:
            raise _Refuse("400 Bad Request", "too many empty lines")
        self.requestline = line.rstrip(b"\r\n").decode("latin-1")
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            if re.fullmatch(rb"\S+ \S+ HTTP/[0-9]+\.[0-9]+\r?\n", line):
                raise _Refuse("505 HTTP Version Not Supported", "only HTTP/1.0 and 1.1 are served")
            raise _Refuse("400 Bad Request", "malformed request line")
        if match.group(3) != b"1":
            # RFC 9110 §15.6.6: the major version is not supported.
            raise _Refuse("505 HTTP Version Not Supported", "only HTTP/1.0 and 1.1 are served")
        return match.groups()

    def _read_fields(self) -> list[tuple[str, str]]:
        limits = self.server.limits
        fields: list[tuple[str, str]] = []
        total = 0
        too_large = "431 Request Header Fields Too Large"
        while True:
            line = self._readline(limits.max_header_line, too_large, "header field line")
            if not line:
                raise _Refuse("400 Bad Request", "connection closed inside the request head")
            if line in (b"\r\n", b"\n"):
                return fields
            total += len(line)
            if total >= limits.max_header_size:
                raise _Refuse(too_large, "header section too large")
            if len(fields) + 1 >= limits.max_header_fields:
                raise _Refuse(too_large, "too many header fields")
            match = _FIELD_LINE.fullmatch(line)
            if match is None:
                # RFC 9112 §5.1 (space before colon), §5.2 (obs-fold), RFC 9110 §5.5 (CTLs).
                raise _Refuse("400 Bad Request", "malformed header field")
            name, value = match.groups()
            fields.append((name.decode("latin-1"), (value or b"").decode("latin-1")))

    def _read_head(self) -> WSGIEnvironment | None:
        """Return the environ of the next request, None at a clean end of connection."""
        parts = self._read_request_line()
        if parts is None:
            return None
        method_b, target_b, _major, minor = parts
        self.command = method = method_b.decode("ascii")
        self.request_version = "HTTP/1.1" if minor != b"0" else "HTTP/1.0"
        fields = self._read_fields()
        environ = dict(self.server.base_environ)
        environ["REQUEST_METHOD"] = method
        environ["SERVER_PROTOCOL"] = self.request_version
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = _host_port(self.client_address)
        self._set_target(environ, target_b.decode("ascii"), method)
        self._set_fields(environ, fields)
        self._set_input(environ)
        return environ

    def _set_target(self, environ: WSGIEnvironment, target: str, method: str) -> None:
        if target.startswith("/"):
            path, _, query = target.partition("?")
        elif target == "*" and method == "OPTIONS":
            path, query = "*", ""
        elif target.startswith(("http://", "https://")):
            # RFC 9112 §3.2.2: absolute-form; its authority replaces Host.
            split = urllib.parse.urlsplit(target)
            if not split.netloc:
                raise _Refuse("400 Bad Request", "malformed request target")
            environ["ciweb.target_host"] = split.netloc
            path, query = split.path or "/", split.query
        else:
            raise _Refuse("400 Bad Request", "malformed request target")
        path_info = urllib.parse.unquote(path, encoding="latin-1")
        if _CONTROL.search(path_info):
            # Percent-encoded NUL or control characters never reach the application.
            raise _Refuse("400 Bad Request", "control character in request target")
        self.path = target
        environ["RAW_PATH_INFO"] = path
        environ["PATH_INFO"] = path_info
        environ["QUERY_STRING"] = query

    def _set_fields(self, environ: WSGIEnvironment, fields: list[tuple[str, str]]) -> None:
        framing: dict[str, list[str]] = {"host": [], "content-length": [], "transfer-encoding": []}
        for name, value in fields:
            lower = name.lower()
            if lower in framing:
                framing[lower].append(value)
            if "_" in name:
                # Header names with underscores would collide with dashes in environ keys.
                continue
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            # RFC 9110 §5.3: repeated fields combine into one comma-separated value.
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        if len(framing["host"]) > 1 or (self.request_version == "HTTP/1.1" and not framing["host"]):
            raise _Refuse("400 Bad Request", "exactly one Host header field is required")
        if "ciweb.target_host" in environ:
            environ["HTTP_HOST"] = environ.pop("ciweb.target_host")
        self._check_framing(environ, framing["content-length"], framing["transfer-encoding"])
        tokens = {t.strip().lower() for t in environ.get("HTTP_CONNECTION", "").split(",")}
        # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        if self.request_version == "HTTP/1.1":
            self.keep_alive_requested = "close" not in tokens
        else:
            self.keep_alive_requested = "keep-alive" in tokens
        expect = environ.get("HTTP_EXPECT")
        if (
            expect is not None
            and expect.lower() != "100-continue"
            and self.request_version == "HTTP/1.1"
        ):
            raise _Refuse("417 Expectation Failed", "only 100-continue is supported")

    def _check_framing(
        self, environ: WSGIEnvironment, lengths: list[str], codings: list[str]
    ) -> None:
        if codings:
            if self.request_version == "HTTP/1.0":
                # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
                raise _Refuse("400 Bad Request", "Transfer-Encoding in an HTTP/1.0 request")
            if lengths:
                # RFC 9112 §6.1, §11.2: both headers are a smuggling attempt; refuse and close.
                raise _Refuse("400 Bad Request", "both Content-Length and Transfer-Encoding")
            names = [c.strip().lower() for v in codings for c in v.split(",")]
            if any(not re.fullmatch(rb"[" + _TCHAR + rb"]+", n.encode("latin-1")) for n in names):
                raise _Refuse("400 Bad Request", "malformed Transfer-Encoding")
            if any(n != "chunked" for n in names):
                # RFC 9112 §6.1: a transfer coding the server does not understand: 501.
                raise _Refuse(
                    "501 Not Implemented", "only the chunked transfer coding is supported"
                )
            if len(names) != 1:
                raise _Refuse("400 Bad Request", "chunked applied more than once")
            environ.pop("CONTENT_LENGTH", None)
            return
        if not lengths:
            return
        # RFC 9112 §6.3: one Content-Length, 1*DIGIT; anything else is unrecoverable framing.
        if len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0]):
            raise _Refuse("400 Bad Request", "invalid Content-Length")
        limit = self.server.limits.max_body_size
        if limit and int(lengths[0]) >= limit:
            raise _Refuse("413 Content Too Large", "request body too large")

    def _set_input(self, environ: WSGIEnvironment) -> None:
        chunked = "HTTP_TRANSFER_ENCODING" in environ
        length = None if chunked else environ.get("CONTENT_LENGTH", "0")
        expect = environ.get("HTTP_EXPECT", "").lower() == "100-continue"
        wfile_line = b"HTTP/1.1 100 Continue\r\n" if expect else None
        body = StrictInput(
            self.rfile,
            length,
            self.request,
            wfile=self.wfile if expect else None,
            wfile_line=wfile_line,
            chunked_input=chunked,
            max_body_size=self.server.limits.max_body_size,
            on_error=self._mark_close,
        )
        environ["wsgi.input"] = environ["eventlet.input"] = body
        environ["wsgi.errors"] = self.server.errors
        environ["eventlet.posthooks"] = []
        environ["eventlet.set_idle"] = self._set_idle
        environ["ciweb.pool_free"] = self.server.pool_free()

    def _mark_close(self) -> None:
        # The body's framing broke or hit the limit: this connection carries no more requests.
        self.close_connection_forced = self.close_connection = True

    def _set_idle(self) -> None:
        # eventlet.websocket calls this when it takes the connection over.
        self.upgraded = True
        self.conn_state[2] = STATE_IDLE

    def _refuse(self, refusal: _Refuse) -> None:
        """Answer a refused head with a status line and a short body, then close."""
        body = refusal.reason.encode("ascii") + b"\n"
        head = [f"HTTP/1.1 {refusal.status}", f"Date: {self.server.date()}"]
        head += [f"{k}: {v}" for k, v in refusal.headers]
        head += [
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
            "",
            "",
        ]
        self.close_connection = True
        LOG.info(
            "refused request from %s: %s (%s)",
            self.client_address[0],
            refusal.status,
            refusal.reason,
        )
        try:
            self.wfile.write("\r\n".join(head).encode("latin-1") + body)
            self.wfile.flush()
        except OSError:
            pass

    # -- the response -----------------------------------------------------------------

    def handle_one_response(self) -> None:
        """Run the application and write its response."""
        ResponseWriter(self).run()


def _host_port(address: Any) -> tuple[str, str]:
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), str(address[1])
    return str(address or ""), ""
