"""The eventlet HTTP server of ciweb: a green pool behind a strict HTTP/1.1 front end.

This module and :mod:`ciweb.wsgi.protocol` are the only ones that import eventlet; only the
``ciweb-api`` command monkey-patches.  A :class:`Server` owns one listening socket, one
green pool and its connections; its limits are its own (eventlet's module globals are never
touched), so several servers with different limits can run in one process.
"""

from __future__ import annotations

import contextlib
import errno
import logging
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

from ciweb.wsgi import tls
from ciweb.wsgi.connections import (
    STATE_HEAD,
    STATE_IDLE,
    STATE_NEW,
    STATE_REQUEST,
    STATE_UPGRADED,
    STATES,
    Connection,
    ConnectionTable,
    ParkedHeads,
)
from ciweb.wsgi.protocol import Evicted, HttpProtocol, Limits, Site
from ciweb.wsgi.site import check_log_format

if TYPE_CHECKING:
    from collections.abc import Iterable

    from _typeshed.wsgi import WSGIApplication
    from oslo_config import cfg

__all__ = ["Server", "make_ssl_context"]

LOG = logging.getLogger(__name__)
# What a graceful stop closes at once: taken-over (websocket) connections, and idle
# keep-alive ones unless they are left to their next request or their keep-alive timeout.
_DRAINED_STATES = frozenset({STATE_IDLE, STATE_UPGRADED})
_DRAINED_STATES_KEEP_IDLE = frozenset({STATE_UPGRADED})
# Seconds between two log lines about connections that made room in a full pool.
_EVICTION_LOG_INTERVAL = 60.0
# Seconds between two looks for a connection to close when every slot serves a request.
_FULL_POOL_POLL = 0.01

# Errors of accept() that concern one client, not the listening socket.
_ACCEPT_CLIENT_ERRORS = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM})
_ACCEPT_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def make_ssl_context(**options: Any) -> ssl.SSLContext:
    """Return a server TLS context for green sockets; with ``ca_file``, clients need one too.

    :param options: ``cert_file``, ``key_file``, ``ca_file``, ``min_version``, ``ciphers``
        and ``groups`` (default X25519, P-256, P-384) of :func:`ciweb.wsgi.tls.make_context`.
    :raises ConfigError: naming the ``[ssl]`` option that is wrong.
    """
    return tls.make_context(green_ssl.SSLContext, **options)


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
    :param json_error_prefixes: path prefixes under which the server's own error answers
        (refused requests, a failed application) are JSON ``{"error", "description"}``.
    :param sock: an already bound and listening socket to serve instead of binding.
    :param pool: a green pool to use instead of a new one of *pool_size*.
    """

    protocol_class = HttpProtocol
    #: Seconds after which a request head still arriving counts as slow: when the pool is
    #: full, such a head gives up its slot before an idle keep-alive connection does
    #: (younger heads after).
    slow_head = 1.0

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
        json_error_prefixes: Iterable[str] = (),
        sock: socket.socket | None = None,
        pool: eventlet.greenpool.GreenPool | None = None,
    ) -> None:
        check_log_format(access_log_format)
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
        self.json_error_prefixes = tuple(json_error_prefixes)
        self.pool = pool if pool is not None else eventlet.greenpool.GreenPool(pool_size)
        self._socket = sock
        self._address: tuple[str, int] | None = None
        self._site: Site | None = None
        self._acceptor: Any = None
        self._accepting = False
        self._table = ConnectionTable()
        self._parked = ParkedHeads(self.pool.size)
        self._sweeper: Any = None
        self._evicted = {STATE_HEAD: 0, STATE_IDLE: 0}
        self._evicted_logged = -_EVICTION_LOG_INTERVAL
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
        tls_opts = conf.ssl
        context = None
        if tls_opts.cert_file or tls_opts.key_file:
            if not (tls_opts.cert_file and tls_opts.key_file):
                raise ConfigError("[ssl] cert_file and key_file must be set together")
            context = make_ssl_context(
                cert_file=tls_opts.cert_file,
                key_file=tls_opts.key_file,
                ca_file=tls_opts.ca_file,
                min_version=tls_opts.min_version,
                ciphers=tls_opts.ciphers,
                groups=tls_opts.groups,
            )
        elif tls_opts.ca_file:
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
            "json_error_prefixes": srv.json_error_prefixes,
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
            connections=self._table,
            json_error_prefixes=self.json_error_prefixes,
        )
        self._site.park = self._park
        self._acceptor = eventlet.spawn(self._accept_loop, sock, self._site)
        LOG.info("serving on %s", self.url)

    def _accept_loop(self, sock: socket.socket, site: Site) -> None:
        while not site.stopping:
            self._accepting = True
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
            finally:
                self._accepting = False
            self._admit(client, address, site)

    def _admit(self, client: socket.socket, address: Any, site: Site) -> None:
        """Serve an accepted connection in a green thread, making room in a full pool."""
        self._make_room()
        conn = self._table.add(address, client)
        greenthread = self.pool.spawn(self.protocol_class, conn, site)
        conn.greenthread = greenthread
        greenthread.link(self._forget, conn)

    def _forget(self, _greenthread: Any, conn: Connection) -> None:
        self._table.remove(conn)

    def _make_room(self) -> None:
        """Return once the pool has a free green thread, closing one connection if needed.

        Only one: a new client needs one slot (see :meth:`ConnectionTable.victim` for
        which connection gives it up); its green thread ends before this returns.  When
        every slot serves a request, wait for one to end or turn idle.
        """
        while self.pool.free() == 0:
            victim = self._table.victim(self.slow_head)
            if victim is not None:
                self._evict(victim)
            elif self._table.count(STATE_NEW):
                eventlet.sleep(0)  # connections accepted just now: let them start
            else:
                eventlet.sleep(_FULL_POOL_POLL)

    def _evict(self, victim: Connection) -> None:
        # A request head is parked (kept open, unread, to its deadline: a slowloris client
        # does not come straight back for the next slot); an idle connection is closed.
        self._evicted[victim.state] += 1
        now = time.monotonic()
        if now - self._evicted_logged >= _EVICTION_LOG_INTERVAL:
            heads, idle = self._evicted[STATE_HEAD], self._evicted[STATE_IDLE]
            LOG.log(
                logging.WARNING if heads else logging.INFO,
                "pool of %d full: %d request head(s) set aside until their deadline and %d "
                "idle keep-alive connection(s) closed to admit new clients, since the last "
                "such line (at most one a minute)",
                self.pool.size,
                heads,
                idle,
            )
            self._evicted = {STATE_HEAD: 0, STATE_IDLE: 0}
            self._evicted_logged = now
        victim.greenthread.kill(Evicted(park=victim.state == STATE_HEAD))

    def _park(self, sock: socket.socket, answer: bytes, deadline: float) -> None:
        """Keep a request head's socket out of the pool until *deadline* (see ParkedHeads)."""
        for old in self._parked.add(sock, answer, deadline):
            _close_parked(*old)
        if self._sweeper is None:
            self._sweeper = eventlet.spawn(self._sweep_parked)

    def _sweep_parked(self) -> None:
        """Answer and close parked heads at their deadlines, until none is left."""
        try:
            while (deadline := self._parked.next_deadline()) is not None:
                eventlet.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                for sock, answer in self._parked.due(time.monotonic()):
                    _close_parked(sock, answer)
        finally:
            self._sweeper = None

    def stop(self, timeout: float | None = None, *, close_idle: bool = True) -> None:
        """Stop gracefully: refuse new connections, finish in-flight requests, then close.

        Requests in progress get until *timeout* (default: the server's
        ``graceful_timeout``) to finish and are answered with ``Connection: close``;
        connections still busy after that are cut.  Connections the kernel had queued
        already are accepted and served.  Idle keep-alive connections are closed at once
        with *close_idle*; without it (a worker handing its socket over to a successor),
        each is left to its next request, answered with ``Connection: close``, or to its
        keep-alive timeout, so that no client sending or waiting sees its connection cut.

        :param timeout: seconds to wait for in-flight requests.
        :param close_idle: close idle keep-alive connections at once.
        """
        site = self._site
        if site is None:
            # Never started: nothing to drain, but wait() must not block forever.
            if self._socket is not None:
                self._socket.close()
            if not self._stopped.ready():
                self._stopped.send(None)
            return
        if site.stopping:
            return
        timeout = self.graceful_timeout if timeout is None else timeout
        site.stopping = True
        site.close_idle = close_idle
        try:
            if self._acceptor is not None and self._accepting:
                # Only while it waits in accept(): a connection it holds is still served.
                self._acceptor.kill()
            if self._socket is not None:
                self._accept_queued(self._socket, site)
                self._socket.close()
            LOG.info(
                "stopped accepting on %s; draining %d connection(s)%s",
                self.url,
                len(self._table),
                "" if close_idle else ", idle ones until their next request or timeout",
            )
            for sock, answer in self._parked.clear():
                _close_parked(sock, answer)  # no request of theirs is in progress
            self._drain(site, timeout)
        finally:
            self._stopped.send(None)
        LOG.info("stopped serving on %s", self.url)

    def _accept_queued(self, sock: socket.socket, site: Site) -> None:
        """Admit the connections already queued on *sock*, while there are free threads.

        Closing the last descriptor of a listening socket resets what its queue holds;
        this socket may be the last one (its slot is being removed, or the process stops).
        At most ``backlog`` of them: on a socket shared with a successor, the successor
        takes the rest.
        """
        sock.settimeout(0.001)
        try:
            for _ in range(self.backlog):
                if self.pool.free() == 0:
                    return
                client, address = sock.accept()
                self._admit(client, address, site)
        except OSError:
            return  # the queue is empty (a timeout), or the socket is gone

    def _drain(self, site: Site, timeout: float) -> None:
        closing = _DRAINED_STATES if site.close_idle else _DRAINED_STATES_KEEP_IDLE
        deadline = time.monotonic() + timeout
        while len(self._table) and time.monotonic() < deadline:
            # Connections that finish a request turn idle; close them as they do.
            for conn in self._table.in_states(closing):
                greenio.shutdown_safe(conn.socket)
            eventlet.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        busy = list(self._table)
        if busy:
            LOG.warning(
                "graceful stop: cutting %d connection(s) still busy after %.1f s",
                len(busy),
                timeout,
            )
        for conn in busy:
            if conn.greenthread is not None:
                conn.greenthread.kill()

    def wait(self) -> None:
        """Block (the calling green thread) until the server has stopped."""
        self._stopped.wait()

    @property
    def in_flight(self) -> int:
        """Return the number of connections with a request in progress."""
        return self._table.count(STATE_REQUEST)

    @property
    def connections(self) -> int:
        """Return the number of open client connections."""
        return len(self._table)

    def connection_states(self) -> dict[str, int]:
        """Return the number of open client connections in each state.

        States (see :mod:`ciweb.wsgi.connections`): ``new`` (accepted, not started yet),
        ``head`` (reading a request head), ``request`` (a request in progress), ``idle``
        (keep-alive, between requests), ``upgraded`` (taken over: websockets), ``closing``
        (writing its last bytes).
        """
        return {state: self._table.count(state) for state in STATES}


def _close_parked(sock: socket.socket, answer: bytes) -> None:
    """Send a parked head its 408 if the socket takes it at once, then close it."""
    with contextlib.suppress(OSError):
        sock.settimeout(0.0)
        sock.send(answer)
    with contextlib.suppress(OSError):
        sock.close()


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
