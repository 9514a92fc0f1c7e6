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

Limits live in a :class:`~ciweb.wsgi.site.Limits` instance per server (re-exported here):
eventlet's module globals (``MAX_HEADER_LINE`` and friends) are never read or written.
Each connection keeps its state in the server's
:class:`~ciweb.wsgi.connections.ConnectionTable` current, so that a full pool can pick a
connection to close (:class:`Evicted`) without a scan.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import eventlet
import eventlet.wsgi
import webob.exc
from eventlet import greenio

from ciweb.wsgi import head
from ciweb.wsgi.connections import (
    STATE_CLOSE,
    STATE_CLOSING,
    STATE_HEAD,
    STATE_IDLE,
    STATE_REQUEST,
    STATE_UPGRADED,
    Connection,
)
from ciweb.wsgi.head import Refuse
from ciweb.wsgi.response import ResponseWriter
from ciweb.wsgi.site import Limits, Site

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "BadChunk",
    "BodyTooLarge",
    "Evicted",
    "HttpProtocol",
    "Limits",
    "Site",
    "StrictInput",
]

LOG = logging.getLogger(__name__)
ACCESS_LOG = logging.getLogger("ciweb.access")

_MAX_BLANK_LINES = 4
_TIMEOUT = Refuse("408 Request Timeout", "request head not received in time")


class BodyTooLarge(webob.exc.HTTPRequestEntityTooLarge):
    """The request body grew to the server's limit while the application read it."""

    # RFC 9110 §15.5.14: the current name of 413, as the head's refusal uses.
    title = "Content Too Large"


class BadChunk(webob.exc.HTTPBadRequest):
    """The chunked request body is malformed (RFC 9112 §7.1)."""


class _HeadTimeout(Exception):
    """The request head did not arrive within the deadline."""


class Evicted(_HeadTimeout):
    """Thrown into a connection's green thread to free its slot for a new client.

    A request head in progress is answered 408 at once, or with *park* handed to the
    server's ``park`` hook with the 408 to send at its deadline; an idle keep-alive
    connection is closed.

    :param park: hand the socket of a request head over instead of answering now.
    """

    def __init__(self, park: bool = False) -> None:
        super().__init__()
        self.park = park


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

    def __init__(self, conn: Connection, site: Site) -> None:
        """Serve *conn* until the connection closes."""
        self.conn = conn
        self.client_address = conn.address
        self.request = conn.socket
        self.server = site
        self.started = time.monotonic()
        self.requests = 0
        self.close_connection = True
        self.keep_alive_requested = False
        self.close_connection_forced = False
        self.upgraded = False
        self.requestline = ""
        self.raw_requestline = b""
        self.parked = False
        # Running now: from here on the server may tell this thread to make room.
        self._set_state(STATE_HEAD)
        try:
            if self.setup_connection():
                self.setup()
                self.handle()
        except Evicted as evicted:
            # During a TLS handshake (nothing can be answered) or while idle.
            deadline = self.started + site.limits.header_timeout
            if evicted.park and self.conn.state == STATE_HEAD and site.park is not None:
                self.parked = True
                site.park(self.request, b"", deadline)
        except (_HeadTimeout, OSError) as exc:
            LOG.debug("connection from %s ended: %r", self.client_address, exc)
        finally:
            self.finish()

    def _set_state(self, state: str) -> None:
        self.server.connections.set_state(self.conn, state)

    def setup_connection(self) -> bool:
        """Set socket options and complete the TLS handshake within the head deadline."""
        sock = self.request
        context = self.server.ssl_context
        if context is None:
            return True
        with eventlet.Timeout(self.server.limits.header_timeout, _HeadTimeout()):
            try:
                tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                # The TLS socket owns the descriptor from here on, handshake or not.
                self.request = self.conn.socket = tls
                tls.do_handshake()
            except (OSError, ValueError) as exc:
                LOG.info("TLS handshake with %s failed: %s", self.client_address, exc)
                return False
        return True

    def finish(self) -> None:
        """Flush and close the connection (unless it was parked: the server has it)."""
        if self.parked:
            self._set_state(STATE_CLOSE)
            return
        try:
            if hasattr(self, "wfile"):
                super().finish()
        except OSError:
            pass  # a client gone, or one that reads nothing (the flush would block)
        with contextlib.suppress(OSError):
            greenio.shutdown_safe(self.request)
        self.request.close()
        self._set_state(STATE_CLOSE)

    def handle(self) -> None:
        """Serve requests until the connection is to be closed."""
        while True:
            self.close_connection = True
            self.close_connection_forced = False
            self.handle_one_request()
            self.requests += 1
            if self.close_connection or self.conn.state in (STATE_CLOSE, STATE_CLOSING):
                return
            if self.server.stopping and self.server.close_idle:
                # A graceful stop closes idle connections; this one just became idle.
                return
            # Idle: a graceful stop that keeps idle connections (a worker handing over to
            # its successor) answers the next request with "Connection: close" instead.
            self._set_state(STATE_IDLE)
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
        self.raw_requestline = b""
        if not self._wait_for_request():
            return
        if self.requests:
            self._set_state(STATE_HEAD)
        self.request.settimeout(None)
        deadline = self._head_deadline()
        try:
            with eventlet.Timeout(deadline, _HeadTimeout()):
                environ = self._read_head()
        except Refuse as refusal:
            self._refuse(refusal)
            return
        except Evicted as evicted:
            self._evicted(evicted, time.monotonic() + deadline)
            return
        except _HeadTimeout:
            # RFC 9110 §15.5.9 408: the client was too slow to send its head.
            self._refuse(_TIMEOUT)
            return
        except ValueError:
            # A head the checks above let through but the standard library cannot use:
            # still a status line and a closed connection, never a dead green thread.
            LOG.exception("unusable request head from %s", self.client_address[0])
            self._refuse(Refuse("400 Bad Request", "malformed request head"))
            return
        if environ is None:
            return
        self._set_state(STATE_REQUEST)
        self.request.settimeout(self.server.limits.client_socket_timeout)
        self.environ = environ
        self.handle_one_response()

    def _readline(self, limit: int, status: str, what: str) -> bytes:
        line: bytes = self.rfile.readline(limit)
        _check_line(line, limit, status, what)
        return line

    def _read_request_line(self) -> head.RequestLine | None:
        limits = self.server.limits
        for _ in range(_MAX_BLANK_LINES + 1):
            line = self.rfile.readline(limits.max_request_line)
            # Kept, even cut short, for a refusal to find the path it answers.
            self.raw_requestline = line
            _check_line(line, limits.max_request_line, "414 URI Too Long", "request line")
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
        self._set_state(STATE_UPGRADED)

    def _evicted(self, evicted: Evicted, deadline: float) -> None:
        """Give this slot to a new client: hand the head to the server, or answer 408."""
        park = self.server.park
        if evicted.park and park is not None:
            # The socket stays open, unread, until its deadline: see ParkedHeads.
            self._set_state(STATE_CLOSING)
            self.parked = True
            park(self.request, self._refusal(_TIMEOUT), deadline)
            return
        # RFC 9110 §15.5.9 408, if the socket takes it at once (a new client waits).
        self._refuse(_TIMEOUT, logging.DEBUG, write_timeout=0.0)

    def _refusal(self, refusal: Refuse) -> bytes:
        """Return the answer to a refused head: a status line and a short body.

        The body is JSON under the site's ``json_error_prefixes`` (when the request line
        got far enough to name a path), plain text otherwise.
        """
        site = self.server
        path = head.target_path(self.raw_requestline)
        content_type, body = site.error_body(refusal.status, refusal.reason, path)
        lines = [f"HTTP/1.1 {refusal.status}", f"Date: {site.date()}"]
        lines += [f"{k}: {v}" for k, v in refusal.headers]
        lines += [
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Connection: close",
            "",
            "",
        ]
        return "\r\n".join(lines).encode("latin-1") + body

    def _refuse(
        self, refusal: Refuse, level: int = logging.INFO, write_timeout: float | None = None
    ) -> None:
        """Answer a refused head (see :meth:`_refusal`), then close.

        :param refusal: the status and reason.
        :param level: the level of the log line.
        :param write_timeout: seconds the answer may take to leave (0: only if it can at
            once); default the head deadline.
        """
        self._set_state(STATE_CLOSING)
        self.close_connection = True
        LOG.log(
            level,
            "refused request from %s: %s (%s)",
            self.client_address[0],
            refusal.status,
            refusal.reason,
        )
        limits = self.server.limits
        # A client that reads nothing must not hold this thread: the answer is small, a
        # socket buffer takes it at once, and a full one gets the head deadline at most.
        if write_timeout is None:
            write_timeout = min(limits.header_timeout, limits.client_socket_timeout)
        self.request.settimeout(write_timeout)
        try:
            self.wfile.write(self._refusal(refusal))
            self.wfile.flush()
        except OSError:
            pass

    # -- the response -----------------------------------------------------------------

    def handle_one_response(self) -> None:
        """Run the application and write its response."""
        ResponseWriter(self).run()


def _check_line(line: bytes, limit: int, status: str, what: str) -> None:
    if len(line) >= limit:
        raise Refuse(status, f"{what} too long")
    if line and not line.endswith(b"\n"):
        raise Refuse("400 Bad Request", f"{what} ended without a line break")


def _host_port(address: Any) -> tuple[str, str]:
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), str(address[1])
    return str(address or ""), ""
