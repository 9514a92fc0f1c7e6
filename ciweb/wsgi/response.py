"""The response writer of ciweb's HTTP/1.1 server (RFC 9112 §6, §7, §9).

It runs the WSGI application of one request for :class:`ciweb.wsgi.protocol.HttpProtocol`
and writes what it answers: the status line and header section, a body framed by
Content-Length or chunked coding, and the connection's fate (kept alive or closed).
It never sends a traceback: an error before the response started becomes a short 500,
an error after it closes the connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import webob.exc

if TYPE_CHECKING:
    from types import TracebackType

    from _typeshed.wsgi import WSGIApplication

    from ciweb.wsgi.protocol import HttpProtocol

__all__ = ["ErrorStream", "ResponseWriter"]

LOG = logging.getLogger("ciweb.wsgi.server")
ACCESS_LOG = logging.getLogger("ciweb.access")

# PEP 3333: applications must not send hop-by-hop headers; the server owns framing.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "proxy-connection"}
)
# A keep-alive connection whose client left more body unread than this is closed instead
# of drained: draining would spend the server's time for the client's mistake.
_MAX_DISCARD = 64 * 1024
_SERVER_ERROR = "Internal Server Error"


class ErrorStream:
    """``wsgi.errors``: what applications write there goes to the log, not to stderr."""

    _log = logging.getLogger("ciweb.wsgi.errors")

    def write(self, text: str) -> None:
        """Log *text* at ERROR."""
        if text.strip():
            self._log.error("%s", text.rstrip())

    def writelines(self, lines: Iterable[str]) -> None:
        """Log each of *lines*."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Do nothing: lines are logged as they come."""


class ResponseWriter:
    """Run the application of one request and write its response on the connection.

    :param protocol: the connection's protocol, holding the environ, wfile and flags.
    """

    def __init__(self, protocol: HttpProtocol) -> None:
        self.protocol = protocol
        self.environ = protocol.environ
        # The server's own body reader: middleware may replace wsgi.input in the environ.
        self.input = protocol.environ["wsgi.input"]
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = False
        self.bodyless = False
        self.chunked = False
        self.length: int | None = None
        self.written = 0

    # -- WSGI callables -----------------------------------------------------------------

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: tuple[type[BaseException], BaseException, TracebackType] | None = None,
    ) -> Any:
        """PEP 3333 ``start_response``: remember the status and headers until the first write."""
        if exc_info is not None:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise RuntimeError("start_response() called twice without exc_info")
        if len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
            raise ValueError(f"invalid WSGI status {status!r}")
        if status < "200":
            # RFC 9110 §15.2: 1xx responses are interim; a WSGI application's response is
            # final (a client would wait for another), so this is an application error.
            raise ValueError(f"interim status {status!r} as a final response")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data: bytes) -> None:
        """Send *data* as body bytes, sending the head first if it is not sent yet."""
        wfile = self.protocol.wfile
        head = b""
        if not self.sent:
            head = self._head()
            self.sent = True
            # A body read from now on must not send "100 Continue" into the response.
            self.input.headers_sent = True
        if self.bodyless or not data:
            # A response without body bytes (HEAD, 204, 304, empty) must still leave now,
            # not when the keep-alive connection closes.
            wfile.write(head)
            wfile.flush()
            return
        if self.length is not None:
            room = self.length - self.written
            if len(data) > room:
                # More than Content-Length announced: send what was announced, then close.
                LOG.error(
                    "application sent more than its Content-Length for %s",
                    self.protocol.requestline,
                )
                data = data[:room]
                self.protocol.close_connection = True
        self.written += len(data)
        if self.chunked:
            data = b"%x\r\n" % len(data) + data + b"\r\n"
        # The head leaves with the first body bytes: one send, one segment for a small
        # response, where the buffered file would send a head alone before a long body.
        wfile.write(head + data if head else data)
        wfile.flush()

    # -- the head -----------------------------------------------------------------------

    def _head(self) -> bytes:
        protocol = self.protocol
        if self.status is None:
            raise RuntimeError("the application wrote before start_response()")
        code = int(self.status[:3])
        self.bodyless = code in (204, 304) or code < 200 or self.environ["REQUEST_METHOD"] == "HEAD"
        lines = [f"HTTP/1.1 {self.status}"]
        has_date = False
        for name, value in self.headers:
            lower = name.lower()
            if lower in _HOP_BY_HOP:
                continue
            if lower == "content-length":
                if code == 204:
                    continue  # RFC 9110 §8.6: never a Content-Length in a 204.
                if not (value.isascii() and value.isdigit()):
                    raise ValueError(f"invalid Content-Length {value!r} from the application")
                self.length = int(value)
            elif lower == "date":
                has_date = True
            lines.append(f"{name}: {value}")
        if not has_date:
            lines.append(f"Date: {protocol.server.date()}")
        keep = (
            protocol.keep_alive_requested
            and protocol.server.keepalive
            and not protocol.server.stopping
            and not protocol.close_connection_forced
        )
        if self.length is None and not self.bodyless:
            if protocol.request_version == "HTTP/1.1":
                self.chunked = True
                lines.append("Transfer-Encoding: chunked")
            else:
                keep = False  # HTTP/1.0: the body ends when the connection does.
        if self.bodyless and self.environ["REQUEST_METHOD"] != "HEAD":
            self.length = 0
        if not keep:
            lines.append("Connection: close")
        elif protocol.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        protocol.close_connection = not keep
        head = "\r\n".join(lines) + "\r\n\r\n"
        # A CR or LF inside a name or value would split the header (response splitting).
        if head.count("\n") != len(lines) + 1 or head.count("\r") != len(lines) + 1:
            raise ValueError("CR or LF in a response header")
        return head.encode("latin-1")

    # -- running the application ----------------------------------------------------------

    def run(self) -> None:
        """Call the application, send its response, then log and tidy the connection."""
        protocol = self.protocol
        started = time.monotonic()
        try:
            self._serve(protocol.server.app)
        except webob.exc.HTTPException as exc:
            # No faults filter in the pipeline: webob's own rendering still gives the
            # right status and headers.
            self._recover(exc)
        except Exception:
            LOG.exception("error serving %s", protocol.requestline)
            self._recover(None)
        finally:
            self._finish_request()
            self._log_access(started)

    def _serve(self, app: WSGIApplication) -> None:
        result = app(self.environ, self.start_response)  # type: ignore[arg-type]
        try:
            for data in result:
                if data:
                    self.write(data)
            if self.status is None and self.protocol.upgraded:
                # eventlet.websocket took the connection over and answered on its own.
                self.protocol.close_connection = True
                return
            if not self.sent:
                self.write(b"")
            if self.chunked:
                self.protocol.wfile.write(b"0\r\n\r\n")
                self.protocol.wfile.flush()
            elif self.length is not None and self.written < self.length and not self.bodyless:
                LOG.error(
                    "application sent less than its Content-Length for %s",
                    self.protocol.requestline,
                )
                self.protocol.close_connection = True
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    def _recover(self, exc: webob.exc.HTTPException | None) -> None:
        """Answer an error raised by the application, if the response has not started."""
        # After an application error the state of the request body is unknown: close.
        self.protocol.close_connection = self.protocol.close_connection_forced = True
        if self.sent:
            return  # The client gets a truncated response and a closed connection.
        self._reset()
        if exc is not None:
            try:
                self._serve(exc)
                return
            except Exception:
                LOG.exception("error rendering %s", exc)
                self._reset()
        status = "500 Internal Server Error"
        content_type, body = self.protocol.server.error_body(
            status, _SERVER_ERROR, self.environ.get("PATH_INFO")
        )
        self.start_response(
            status, [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        )
        self.write(body)

    def _reset(self) -> None:
        """Forget a response that failed before its head was sent (framing included)."""
        self.status, self.headers = None, []
        self.bodyless = self.chunked = False
        self.length = None
        self.written = 0

    def _finish_request(self) -> None:
        """Decide whether the connection can carry another request, draining the body."""
        protocol = self.protocol
        body = self.input
        if body.should_send_hundred_continue:
            # The client may or may not send the body it announced: only closing is safe.
            protocol.close_connection = True
        if protocol.close_connection:
            return
        if body.chunked_input:
            if body.chunk_length != 0:
                protocol.close_connection = True
            return
        left = (body.content_length or 0) - body.position
        if left > _MAX_DISCARD:
            protocol.close_connection = True
        elif left > 0:
            try:
                body.discard()
            except (OSError, ValueError, webob.exc.HTTPException):
                protocol.close_connection = True

    def _log_access(self, started: float) -> None:
        protocol = self.protocol
        site = protocol.server
        if not site.access_log or self.environ.get("ciweb.access_logged"):
            return
        if not ACCESS_LOG.isEnabledFor(logging.INFO):
            return
        ACCESS_LOG.info(
            site.access_log_format,
            {
                "client_ip": self.environ["REMOTE_ADDR"],
                "client_port": self.environ["REMOTE_PORT"],
                "date_time": protocol.log_date_time_string(),
                "request_line": protocol.requestline,
                "status_code": (self.status or "000")[:3],
                "body_length": self.written,
                "wall_seconds": time.monotonic() - started,
            },
        )
