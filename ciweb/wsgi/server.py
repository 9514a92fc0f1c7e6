"""The eventlet HTTP server of ciweb: a green pool behind a strict HTTP/1.1 front end.

This module and :mod:`ciweb.wsgi.protocol` are the only ones that import eventlet; only the
``ciweb-api`` command monkey-patches.  A :class:`Server` owns one listening socket, one
green pool and its connections; its limits are its own (eventlet's module globals are never
touched), so several servers with different limits can run in one process.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import ssl
import time
import warnings
from typing import TYPE_CHECKING, Any

from ciweb.conf import ConfigError

with warnings.catch_warnings():
    # eventlet announces its own deprecation on import; that message only is silenced.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.greenpool
    import eventlet.wsgi
    from eventlet import greenio
    from eventlet.green import socket as green_socket
    from eventlet.green import ssl as green_ssl

from ciweb.wsgi.protocol import (
    STATE_IDLE,
    STATE_NEW,
    STATE_REQUEST,
    STATE_UPGRADED,
    HttpProtocol,
    Limits,
    Site,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from oslo_config import cfg

__all__ = ["Server", "make_ssl_context"]

LOG = logging.getLogger(__name__)
# What a graceful stop closes at once: idle keep-alive and taken-over (websocket) connections.
_DRAINED_STATES = frozenset({STATE_IDLE, STATE_UPGRADED})

_TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# Errors of accept() that concern one client, not the listening socket.
_ACCEPT_CLIENT_ERRORS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
_ACCEPT_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def make_ssl_context(
    *,
    cert_file: str,
    key_file: str,
    ca_file: str | None = None,
    min_version: str = "TLSv1.2",
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """Return a server TLS context; with *ca_file*, clients must present a certificate.

    :param cert_file: PEM certificate chain of the server.
    :param key_file: PEM private key.
    :param ca_file: PEM CA bundle that client certificates must chain to.
    :param min_version: ``TLSv1.2`` or ``TLSv1.3``.
    :param ciphers: OpenSSL cipher list for TLS 1.2.
    :raises ConfigError: naming the ``[ssl]`` option that is wrong.
    """
    for option, path in (("cert_file", cert_file), ("key_file", key_file), ("ca_file", ca_file)):
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"[ssl] {option}: file {path} not found")
    if min_version not in _TLS_VERSIONS:
        raise ConfigError(
            f"[ssl] min_version: {min_version!r} is not one of {sorted(_TLS_VERSIONS)}"
        )
    context = green_ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[min_version]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if ciphers:
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError as exc:
            raise ConfigError(f"[ssl] ciphers: {exc}") from None
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"[ssl] cert_file/key_file: cannot load: {exc}") from None
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"[ssl] ca_file: cannot load: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _check_log_format(access_log_format: str) -> None:
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


class Server:
    """Serve a WSGI application on one socket with a green pool.

    :param app: the WSGI application.
    :param host: address to bind (IPv4, IPv6 or name); ignored when *sock* is given.
    :param port: port to bind; 0 picks a free one (see :attr:`address`).
    :param backlog: listen queue length.
    :param pool_size: green threads, i.e. connections served at once.
    :param limits: request limits and deadlines.
    :param keepalive: keep connections open between requests.
    :param ssl_context: serve TLS with this context (see :func:`make_ssl_context`).
    :param tcp_keepalive: (idle, interval, count) of TCP keepalive probes, or None.
    :param graceful_timeout: seconds :meth:`stop` lets in-flight requests finish.
    :param access_log: log one line per request to ``ciweb.access``.
    :param access_log_format: that line's format.
    :param sock: an already bound and listening socket to serve instead of binding.
    :param pool: a green pool to use instead of a new one of *pool_size*.
    """

    protocol_class = HttpProtocol

    def __init__(
        self,
        app: WSGIApplication,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 128,
        pool_size: int = 1000,
        limits: Limits | None = None,
        keepalive: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        tcp_keepalive: tuple[int, int, int] | None = (600, 60, 9),
        graceful_timeout: float = 30.0,
        access_log: bool = True,
        access_log_format: str = eventlet.wsgi.DEFAULT_LOG_FORMAT,
        sock: socket.socket | None = None,
        pool: eventlet.greenpool.GreenPool | None = None,
    ) -> None:
        _check_log_format(access_log_format)
        self.app = app
        self.host = host
        self.port = port
        self.backlog = backlog
        self.limits = limits or Limits()
        self.keepalive = keepalive
        self.ssl_context = ssl_context
        self.tcp_keepalive = tcp_keepalive
        self.graceful_timeout = graceful_timeout
        self.access_log = access_log
        self.access_log_format = access_log_format
        self.pool = pool if pool is not None else eventlet.greenpool.GreenPool(pool_size)
        self._socket = sock
        self._address: tuple[str, int] | None = None
        self._site: Site | None = None
        self._acceptor: Any = None
        self._connections: dict[int, list[Any]] = {}
        self._stopped = eventlet.Event()

    @classmethod
    def from_conf(cls, app: WSGIApplication, conf: cfg.ConfigOpts, **kwargs: Any) -> Server:
        """Build a server from the ``[server]`` and ``[ssl]`` groups of *conf*.

        :param app: the WSGI application.
        :param conf: parsed options (see :func:`ciweb.conf.load`).
        :param kwargs: further keyword arguments of :class:`Server` (e.g. ``sock``).
        :raises ConfigError: naming a bad option.
        """
        srv = conf.server
        tls = conf.ssl
        context = None
        if tls.cert_file or tls.key_file:
            if not (tls.cert_file and tls.key_file):
                raise ConfigError("[ssl] cert_file and key_file must be set together")
            context = make_ssl_context(
                cert_file=tls.cert_file,
                key_file=tls.key_file,
                ca_file=tls.ca_file,
                min_version=tls.min_version,
                ciphers=tls.ciphers,
            )
        elif tls.ca_file:
            raise ConfigError("[ssl] ca_file needs cert_file and key_file")
        limits = Limits(
            max_request_line=srv.max_request_line,
            max_header_line=srv.max_header_line,
            max_header_fields=srv.max_header_fields,
            max_header_size=srv.max_header_size,
            max_body_size=srv.max_body_size,
            header_timeout=srv.header_timeout,
            keepalive_timeout=srv.keepalive_timeout,
            client_socket_timeout=srv.client_socket_timeout,
        )
        options: dict[str, Any] = {
            "host": srv.bind_host,
            "port": srv.bind_port,
            "backlog": srv.backlog,
            "pool_size": srv.pool_size,
            "limits": limits,
            "keepalive": srv.keepalive,
            "ssl_context": context,
            "tcp_keepalive": (srv.tcp_keepidle, srv.tcp_keepintvl, srv.tcp_keepcnt),
            "graceful_timeout": srv.graceful_shutdown_timeout,
            "access_log": srv.access_log,
            "access_log_format": srv.access_log_format,
        }
        options.update(kwargs)
        return cls(app, **options)

    # -- the socket ---------------------------------------------------------------------

    def bind(self) -> socket.socket:
        """Create, bind and listen on the server socket (once); return it."""
        if self._socket is None:
            self._socket = listen(self.host, self.port, backlog=self.backlog)
        sock = self._socket
        if self._address is None:
            self._set_tcp_options(sock)
            name = sock.getsockname()
            self._address = (name[0], name[1])
        return sock

    def _set_tcp_options(self, sock: socket.socket) -> None:
        # Accepted TCP sockets inherit these options from the listening socket (Linux, BSD).
        if sock.family == socket.AF_UNIX:
            return
        # No Nagle: a response leaves in as few writes as the writer can make, and any
        # write it cannot merge (a head before a long body, the last chunk) must not wait
        # for the client's delayed ACK; with Nagle on, that wait is 40 ms a response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tcp_keepalive is None:
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        idle, interval, count = self.tcp_keepalive
        for name, value in (
            ("TCP_KEEPIDLE", idle),
            ("TCP_KEEPINTVL", interval),
            ("TCP_KEEPCNT", count),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)

    @property
    def address(self) -> tuple[str, int]:
        """Return the (host, port) the server listens on, with the real port when 0 was asked."""
        if self._address is None:
            raise RuntimeError("the server is not bound yet")
        return self._address

    @property
    def url(self) -> str:
        """Return the base URL of the server, e.g. ``https://[::1]:8443``."""
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{port}"

    # -- serving ------------------------------------------------------------------------

    def start(self) -> None:
        """Bind if needed and start accepting connections in a green thread."""
        if self._acceptor is not None:
            raise RuntimeError("the server is already started")
        sock = self.bind()
        host, port = self.address
        self._site = Site(
            self.app,
            limits=self.limits,
            keepalive=self.keepalive,
            url_scheme="https" if self.ssl_context else "http",
            server_name=host,
            server_port=port,
            ssl_context=self.ssl_context,
            access_log=self.access_log,
            access_log_format=self.access_log_format,
            pool_free=self.pool.free,
        )
        self._acceptor = eventlet.spawn(self._accept_loop, sock, self._site)
        LOG.info("serving on %s", self.url)

    def _accept_loop(self, sock: socket.socket, site: Site) -> None:
        while True:
            try:
                client, address = sock.accept()
            except OSError as exc:
                if exc.errno in _ACCEPT_CLIENT_ERRORS:
                    continue
                if exc.errno in _ACCEPT_RESOURCE_ERRORS:
                    LOG.error("accept failed: %s; retrying in 0.1 s", exc)
                    eventlet.sleep(0.1)
                    continue
                if site.stopping:
                    return
                raise
            if self.pool.free() == 0:
                # The pool is full: idle keep-alive connections make room for new clients
                # (RFC 9112 §9.6 lets a server close an idle connection at any time).
                self._close_idle()
            # A new connection is not idle: closing it before it was read would drop it.
            conn = [address, client, STATE_NEW]
            key = id(conn)
            self._connections[key] = conn
            greenthread = self.pool.spawn(self.protocol_class, conn, site)
            conn.append(greenthread)
            greenthread.link(self._forget, key)

    def _forget(self, _greenthread: Any, key: int) -> None:
        self._connections.pop(key, None)

    def _close_idle(self, states: frozenset[str] = frozenset({STATE_IDLE})) -> int:
        closed = 0
        for conn in list(self._connections.values()):
            if conn[2] in states:
                greenio.shutdown_safe(conn[1])
                closed += 1
        return closed

    def stop(self, timeout: float | None = None) -> None:
        """Stop gracefully: refuse new connections, finish in-flight requests, then close.

        Idle keep-alive connections are closed at once; requests in progress get until
        *timeout* (default: the server's ``graceful_timeout``) to finish and are answered
        with ``Connection: close``; connections still busy after that are cut.

        :param timeout: seconds to wait for in-flight requests.
        """
        if self._site is None:
            # Never started: nothing to drain, but wait() must not block forever.
            if self._socket is not None:
                self._socket.close()
            if not self._stopped.ready():
                self._stopped.send(None)
            return
        if self._site.stopping:
            return
        timeout = self.graceful_timeout if timeout is None else timeout
        self._site.stopping = True
        try:
            if self._acceptor is not None:
                self._acceptor.kill()
            if self._socket is not None:
                self._socket.close()
            LOG.info(
                "stopped accepting on %s; draining %d connection(s)",
                self.url,
                len(self._connections),
            )
            self._drain(timeout)
        finally:
            self._stopped.send(None)
        LOG.info("stopped serving on %s", self.url)

    def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._connections and time.monotonic() < deadline:
            # Connections that finish a request turn idle; close them as they do.
            self._close_idle(_DRAINED_STATES)
            eventlet.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        busy = list(self._connections.values())
        if busy:
            LOG.warning(
                "graceful stop: cutting %d connection(s) still busy after %.1f s",
                len(busy),
                timeout,
            )
        for conn in busy:
            conn[3].kill()

    def wait(self) -> None:
        """Block (the calling green thread) until the server has stopped."""
        self._stopped.wait()

    @property
    def in_flight(self) -> int:
        """Return the number of connections with a request in progress."""
        return sum(1 for conn in self._connections.values() if conn[2] == STATE_REQUEST)

    @property
    def connections(self) -> int:
        """Return the number of open client connections."""
        return len(self._connections)

    def connection_states(self) -> dict[str, int]:
        """Return the number of open client connections in each state.

        States: ``new`` (accepted, nothing read yet), ``request`` (a request in progress),
        ``idle`` (keep-alive, between requests), ``upgraded`` (taken over: websockets).
        """
        counts = dict.fromkeys((STATE_NEW, STATE_REQUEST, STATE_IDLE, STATE_UPGRADED), 0)
        for conn in self._connections.values():
            if conn[2] in counts:
                counts[conn[2]] += 1
        return counts


def listen(host: str, port: int, *, backlog: int = 128, reuse_port: bool = False) -> socket.socket:
    """Return a green socket bound to (*host*, *port*) and listening, IPv4 or IPv6.

    :param host: address or name (``::`` is dual-stack where the OS makes it so).
    :param port: port, 0 for any free one.
    :param backlog: listen queue length.
    :param reuse_port: set SO_REUSEPORT so that several processes can each bind the port.
    :raises ConfigError: naming ``[server] bind_host`` / ``bind_port`` when binding fails.
    """
    try:
        infos = socket.getaddrinfo(
            host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigError(f"[server] bind_host: cannot resolve {host!r}: {exc}") from None
    family, _type, _proto, _name, address = infos[0]
    sock = green_socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"[server] bind_host/bind_port: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    return sock
