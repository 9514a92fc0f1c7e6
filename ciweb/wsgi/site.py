"""What the connections of one server share: its limits, application and options.

Free of eventlet and of sockets: :class:`~ciweb.wsgi.server.Server` builds one :class:`Site`
and every :class:`~ciweb.wsgi.protocol.HttpProtocol` reads it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.handlers import format_date_time

from ciweb.conf import ConfigError
from ciweb.wsgi.connections import ConnectionTable
from ciweb.wsgi.response import ErrorStream

if TYPE_CHECKING:
    import ssl

    from _typeshed.wsgi import WSGIApplication

__all__ = ["Limits", "Site", "check_log_format"]


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
    :param connections: the server's connections, whose states the protocol keeps current.
    :param json_error_prefixes: path prefixes under which the server's own error answers
        (refused heads, a failed application) are JSON rather than plain text.
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
        connections: ConnectionTable | None = None,
        json_error_prefixes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.limits = limits
        self.keepalive = keepalive
        self.ssl_context = ssl_context
        self.access_log = access_log
        self.access_log_format = access_log_format
        self.pool_free = pool_free
        self.connections = connections if connections is not None else ConnectionTable()
        self.json_error_prefixes = tuple(p.rstrip("/") for p in json_error_prefixes if p)
        self.errors = ErrorStream()
        # The server's hook that takes a slow head's socket out of the pool (socket, the
        # answer to send at its deadline, the deadline); None: answer such heads at once.
        self.park: Callable[[Any, bytes, float], None] | None = None
        # Set by a graceful stop: responses close their connection from then on.
        self.stopping = False
        # Whether that stop also closes idle keep-alive connections at once, or leaves each
        # to its next request (answered, with "Connection: close") or its keep-alive timeout.
        self.close_idle = True
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
            self._date = format_date_time(now)
            self._date_second = now
        return self._date

    def error_body(self, status: str, description: str, path: str | None) -> tuple[str, bytes]:
        """Return the content type and body of an error the server answers by itself.

        JSON ``{"error", "description"}`` (the shape of the ``faults`` filter) for a path
        under :attr:`json_error_prefixes`; a line of plain text otherwise, or when the path
        is unknown (a request line too broken to tell).

        :param status: the status line, e.g. ``400 Bad Request``; its phrase is ``error``.
        :param description: one short sentence for the client.
        :param path: the request's decoded path, or None.
        """
        if path is not None and any(
            path == prefix or path.startswith(prefix + "/") for prefix in self.json_error_prefixes
        ):
            error = {"error": status.partition(" ")[2], "description": description}
            return "application/json", json.dumps(error).encode("ascii")
        return "text/plain; charset=utf-8", description.encode("ascii") + b"\n"


def check_log_format(access_log_format: str) -> None:
    """Check the server's access log format on a sample line.

    :raises ConfigError: naming ``[server] access_log_format``.
    """
    sample = {
        "client_ip": "127.0.0.1",
        "client_port": "1",
        "date_time": "-",
        "request_line": "-",
        "status_code": "200",
        "body_length": 0,
        "wall_seconds": 0.0,
    }
    try:
        access_log_format % sample
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"[server] access_log_format: {exc!r}") from None
