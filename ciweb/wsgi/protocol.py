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
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import eventlet
import eventlet.wsgi
import webob.exc
from eventlet import greenio

from ciweb.wsgi import head
from ciweb.wsgi.head import Refuse
from ciweb.wsgi.response import ErrorStream, ResponseWriter

if TYPE_CHECKING:
    import ssl

    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

__all__ = ["BadChunk", "BodyTooLarge", "HttpProtocol", "Limits", "Site", "StrictInput"]

LOG = logging.getLogger(__name__)
ACCESS_LOG = logging.getLogger("ciweb.access")

STATE_IDLE = eventlet.wsgi.STATE_IDLE
STATE_REQUEST = eventlet.wsgi.STATE_REQUEST
STATE_CLOSE = eventlet.wsgi.STATE_CLOSE
# Accepted, first request not read yet: neither idle (never closed to make room) nor in flight.
STATE_NEW = "new"
# A connection an application took over (eventlet.websocket): closed by a graceful stop,
# like an idle one, but never to make room in a full pool, since its client is active.
STATE_UPGRADED = "upgraded"

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

    # RFC 9110 §15.5.14: the current name of 413, as the head's refusal uses.
    title = "Content Too Large"


class BadChunk(webob.exc.HTTPBadRequest):
    """The chunked request body is malformed (RFC 9112 §7.1)."""


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
        size = head.parse_chunk_size(rfile.readline(1024))
        if size is None:
            # RFC 9112 §7.1: sizes are hex digits only: no sign, no "0x", no spaces.
            raise self._fail(BadChunk(detail="malformed chunk size line"))
        return size

    def _read_trailers(self, rfile: Any) -> None:
        # RFC 9112 §7.1.2: trailer fields are read and discarded, with bounded size.
        for _ in range(64):
            line = rfile.readline(8192)
            if line == b"\r\n":
                return
            if not line.endswith(b"\r\n") or not head.FIELD_LINE.fullmatch(line):
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
        # A connection accepted before a stop began gets its first request served (with
        # "Connection: close"): nothing accepted is dropped silently.
        while self.requests == 0 or not self.server.stopping:
            self.close_connection = True
            self.close_connection_forced = False
            self.handle_one_request()
            self.requests += 1
            if self.close_connection or self.conn_state[2] == STATE_CLOSE:
                return
            self.conn_state[2] = STATE_IDLE
            # Fairness: a client whose next request is always ready when the last answer
            # is written would never make this green thread block, and the others would
            # wait (measured: p99 0.7 s for 32 clients).  Go to the back of the run queue.
            eventlet.sleep(0)

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
        except Refuse as refusal:
            self._refuse(refusal)
            return
        except _HeadTimeout:
            # RFC 9110 §15.5.9 408: the client was too slow to send its head.
            self._refuse(Refuse("408 Request Timeout", "request head not received in time"))
            return
        except ValueError:
            # A head the checks above let through but the standard library cannot use:
            # still a status line and a closed connection, never a dead green thread.
            LOG.exception("unusable request head from %s", self.client_address[0])
            self._refuse(Refuse("400 Bad Request", "malformed request head"))
            return
        if environ is None:
            return
        self.request.settimeout(self.server.limits.client_socket_timeout)
        self.environ = environ
        self.handle_one_response()

    def _readline(self, limit: int, status: str, what: str) -> bytes:
        line: bytes = self.rfile.readline(limit)
        if len(line) >= limit:
            raise Refuse(status, f"{what} too long")
        if line and not line.endswith(b"\n"):
            raise Refuse("400 Bad Request", f"{what} ended without a line break")
        return line

    def _read_request_line(self) -> head.RequestLine | None:
        limits = self.server.limits
        for _ in range(_MAX_BLANK_LINES + 1):
            line = self._readline(limits.max_request_line, "414 URI Too Long", "request line")
            if not line:
                return None
            # RFC 9112 §2.2: empty lines before the request line are ignored.
            if line not in (b"\r\n", b"\n"):
                break
        else:
            raise Refuse("400 Bad Request", "too many empty lines")
        self.requestline = line.rstrip(b"\r\n").decode("latin-1")
        return head.parse_request_line(line)

    def _read_fields(self) -> list[tuple[str, str]]:
        limits = self.server.limits
        fields: list[tuple[str, str]] = []
        total = 0
        too_large = "431 Request Header Fields Too Large"
        while True:
            line = self._readline(limits.max_header_line, too_large, "header field line")
            if not line:
                raise Refuse("400 Bad Request", "connection closed inside the request head")
            if line in (b"\r\n", b"\n"):
                return fields
            total += len(line)
            if total >= limits.max_header_size:
                raise Refuse(too_large, "header section too large")
            if len(fields) + 1 >= limits.max_header_fields:
                raise Refuse(too_large, "too many header fields")
            fields.append(head.parse_field_line(line))

    def _read_head(self) -> WSGIEnvironment | None:
        """Return the environ of the next request, None at a clean end of connection."""
        request_line = self._read_request_line()
        if request_line is None:
            return None
        self.command, target, self.request_version = request_line
        fields = self._read_fields()
        environ = dict(self.server.base_environ)
        environ["REQUEST_METHOD"] = self.command
        environ["SERVER_PROTOCOL"] = self.request_version
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = _host_port(self.client_address)
        head.set_target(environ, target, self.command)
        self.path = target
        self.keep_alive_requested = head.apply_fields(
            environ, fields, self.request_version, self.server.limits.max_body_size
        )
        self._set_input(environ)
        return environ

    def _set_input(self, environ: WSGIEnvironment) -> None:
        chunked = "HTTP_TRANSFER_ENCODING" in environ
        length = None if chunked else environ.get("CONTENT_LENGTH", "0")
        # RFC 9110 §10.1.1: an HTTP/1.0 client's Expect is ignored.
        expect = (
            self.request_version == "HTTP/1.1"
            and environ.get("HTTP_EXPECT", "").lower() == "100-continue"
        )
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
        self.conn_state[2] = STATE_UPGRADED

    def _refuse(self, refusal: Refuse) -> None:
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
