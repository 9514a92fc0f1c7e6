"""Registration of a running server in ZooKeeper, and discovery of the registered ones.

A server registers an ephemeral node ``<path>/<host>:<port>`` whose data is a JSON object
(``pid``, ``version``, ``start_time``, ``host``, ``port``, ``monitor`` and any extra keys).
ZooKeeper removes the node when the server's session ends, so the children of ``<path>`` are
the live instances.  Serving never waits on ZooKeeper: :meth:`Registration.start` returns at
once, kazoo connects in the background, retrying with exponential backoff, and the node is
(re)created on every connection whose session does not hold it yet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    NoNodeError,
    SessionExpiredError,
)
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.retry import KazooRetry

import ciweb
from ciweb.conf import ConfigError, paste_options
from ciweb.conf import zookeeper as zk_conf
from ciweb.discovery.address import advertise_address, format_name, is_unspecified, parse_name

if TYPE_CHECKING:
    from kazoo.interfaces import IHandler
    from oslo_config import cfg

__all__ = [
    "Registration",
    "conf_options",
    "discover",
    "make_handler",
    "paste_registration_options",
]

LOG = logging.getLogger(__name__)

DEFAULT_PATH = "/ciweb/servers"
# Failures that end with the connection: the next CONNECTED event schedules a new attempt.
_DISCONNECTED = (ConnectionLoss, ConnectionClosedError, SessionExpiredError)
# zc.zkzopeserver's paste keys, mapped onto the [zookeeper] option names.
PASTE_ALIASES = {"zookeeper": "hosts"}
def make_handler(kind: str = "threading") -> IHandler:
    """Return a kazoo handler: ``"threading"`` (the default) or ``"eventlet"``.

    The eventlet handler is imported here, not at module import, so that ciweb imports no
    eventlet unless the server that runs it asks for it.

    :param kind: ``"threading"`` or ``"eventlet"``.
    :raises ValueError: on another kind.
    """
    if kind == "threading":
        return SequentialThreadingHandler()
    if kind == "eventlet":
        from kazoo.handlers.eventlet import SequentialEventletHandler

        return SequentialEventletHandler()
    raise ValueError(f"handler kind {kind!r} is neither 'threading' nor 'eventlet'")


def _check_path(path: str) -> str:
    if not path.startswith("/") or path.endswith("/") or "//" in path:
        raise ValueError(f"path {path!r} must be absolute, like /ciweb/servers")
    return path


def _check_seconds(name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ValueError(f"{name} = {value!r} is not in {low}-{high} seconds")
    return float(value)


class Registration:
    """Keep an ephemeral node ``<path>/<host>:<port>`` in ZooKeeper while a server runs.

    :param hosts: ZooKeeper connection string (``zk1:2181,zk2:2181``).
    :param path: parent path of the node, created if missing.
    :param address: ``(host, port)`` that clients dial (see :func:`advertise_address`).
    :param data: extra keys of the node's JSON data (``monitor`` and the like).
    :param session_timeout: ZooKeeper session timeout in seconds.
    :param connect_timeout: seconds after which an unreachable ZooKeeper is logged, then at
        doubling intervals; also the deadline of each ZooKeeper call of :meth:`stop`.
    :param retry_max_delay: longest pause between two connection attempts, in seconds.
    :param handler: a kazoo handler; a ``SequentialThreadingHandler`` when None, pass
        ``make_handler("eventlet")`` under eventlet.
    """

    client_class = KazooClient

    def __init__(
        self,
        hosts: str,
        path: str,
        address: tuple[str, int],
        data: Mapping[str, Any] | None = None,
        *,
        session_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        retry_max_delay: float = 30.0,
        handler: IHandler | None = None,
    ) -> None:
        if not hosts or not hosts.strip():
            raise ValueError("hosts is empty: no ZooKeeper to register in")
        self.hosts = hosts.strip()
        self.path = _check_path(path)
        self.name = format_name(*address)
        self.node_path = f"{self.path}/{self.name}"
        self.session_timeout = _check_seconds("session_timeout", session_timeout, 1.0, 600.0)
        self.connect_timeout = _check_seconds("connect_timeout", connect_timeout, 0.1, 600.0)
        self.retry_max_delay = _check_seconds("retry_max_delay", retry_max_delay, 0.1, 3600.0)
        host, port = address
        self._data: dict[str, Any] = {
            "pid": os.getpid(),
            "version": ciweb.__version__,
            "start_time": None,
            "host": host.strip("[]"),
            "port": port,
            "monitor": None,
        }
        self._data.update(data or {})
        try:
            json.dumps(self._data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"data is not JSON-serialisable: {exc}") from None
        self._handler = handler if handler is not None else SequentialThreadingHandler()
        self._lock = self._handler.lock_object()
        # Set on CONNECTED and by stop(): wakes the watcher that logs an unreachable ZooKeeper.
        self._wake = self._handler.event_object()
        self._client: KazooClient | None = None
        self._value = b""
        self._node_session: int | None = None
        self._stopped = True

    @classmethod
    def from_options(
        cls,
        bound_address: tuple[str, int],
        *,
        hosts: str,
        path: str = DEFAULT_PATH,
        advertise_host: str | None = None,
        monitor: tuple[str, int] | None = None,
        data: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Registration:
        """Return a registration for a server bound to *bound_address*.

        Takes the keys of :func:`conf_options` or :func:`paste_registration_options`.

        :param bound_address: ``sock.getsockname()[:2]`` of the listening socket.
        :param hosts: ZooKeeper connection string.
        :param path: parent path of the node.
        :param advertise_host: address clients dial; derived from *bound_address* if None.
        :param monitor: the monitor server's bound ``(host, port)``, advertised in the data.
        :param data: extra keys of the node's data.
        :param kwargs: ``session_timeout``, ``connect_timeout``, ``retry_max_delay``,
            ``handler``.
        """
        address = advertise_address(bound_address[0], bound_address[1], advertise_host)
        extra = dict(data or {})
        if monitor is not None:
            mhost, mport = monitor
            # A monitor listening on every interface is reached at the server's own address.
            mhost = address[0] if is_unspecified(mhost) else mhost
            extra["monitor"] = format_name(mhost, mport)
        return cls(hosts, path, address, extra, **kwargs)

    @property
    def is_registered(self) -> bool:
        """Return whether the node exists and belongs to the current, connected session."""
        client = self._client
        if client is None or self._stopped or self._node_session is None:
            return False
        client_id = client.client_id
        return (
            client_id is not None
            and client_id[0] == self._node_session
            and client.state == KazooState.CONNECTED
        )

    @property
    def session_id(self) -> int | None:
        """Return the id of the connected ZooKeeper session, or None while disconnected."""
        client = self._client
        client_id = client.client_id if client is not None else None
        return client_id[0] if client_id is not None else None

    @property
    def data(self) -> dict[str, Any]:
        """Return a copy of the node's data."""
        return dict(self._data)

    def start(self) -> None:
        """Start registering, in the background; return at once.

        :raises RuntimeError: when called twice.
        """
        if self._client is not None:
            raise RuntimeError(f"registration of {self.node_path} was already started")
        self._data["start_time"] = time.time()
        self._value = json.dumps(self._data, sort_keys=True).encode("utf-8")
        retry = KazooRetry(
            max_tries=-1,  # forever: a server outlives any ZooKeeper outage
            delay=0.1,
            backoff=2,
            max_delay=self.retry_max_delay,
            sleep_func=self._handler.sleep_func,
        )
        client = self.client_class(
            hosts=self.hosts,
            timeout=self.session_timeout,
            handler=self._handler,
            connection_retry=retry,
        )
        client.add_listener(self._on_state)
        self._client = client
        self._stopped = False
        LOG.info("registering %s in ZooKeeper %s", self.node_path, self.hosts)
        client.start_async()
        self._handler.spawn(self._watch)

    def stop(self) -> None:
        """Delete the node, then close the session; call before draining connections.

        Each ZooKeeper call waits at most ``connect_timeout``; a node that cannot be deleted
        goes when its session ends.
        """
        client = self._client
        if client is None or self._stopped:
            return
        self._stopped = True
        self._wake.set()
        timeout = self.connect_timeout
        locked = self._lock.acquire(timeout=timeout)
        try:
            self._delete_own_node(client, timeout)
        finally:
            if locked:
                self._lock.release()
        self._node_session = None
        try:
            client.stop()
            client.close()
        except KazooException as exc:
            LOG.warning("closing the ZooKeeper session of %s: %s", self.node_path, exc)
        LOG.info("unregistered %s from ZooKeeper %s", self.node_path, self.hosts)

    def _delete_own_node(self, client: KazooClient, timeout: float) -> None:
        client_id = client.client_id
        if client_id is None or client_id[0] != self._node_session:
            return  # this session holds no node (never created, or lost with a session)
        try:
            client.delete_async(self.node_path).get(timeout=timeout)
        except NoNodeError:
            pass
        except (KazooException, self._handler.timeout_exception) as exc:
            LOG.warning("could not delete %s (%s); it goes with the session", self.node_path, exc)

    def _on_state(self, state: str) -> None:
        # kazoo calls listeners in its connection thread: never block here, only schedule
        # (kazoo docs, "Listening for Connection Events").
        if self._stopped:
            return
        if state == KazooState.CONNECTED:
            self._wake.set()
            LOG.info("connected to ZooKeeper %s", self.hosts)
            self._handler.spawn(self._ensure_node)
            return
        self._wake.clear()
        if state == KazooState.SUSPENDED:
            LOG.warning(
                "lost the connection to ZooKeeper %s; reconnecting (%s stays registered "
                "unless the session expires)",
                self.hosts,
                self.node_path,
            )
        else:  # LOST: the session expired, and its ephemeral node with it.
            self._node_session = None
            LOG.warning(
                "ZooKeeper session expired: %s is unregistered until the next connection",
                self.node_path,
            )
        self._handler.spawn(self._watch)

    def _watch(self) -> None:
        """Log, at doubling intervals, while ZooKeeper stays unreachable."""
        began = time.monotonic()
        interval = self.connect_timeout
        while not self._wake.wait(interval):
            if self._stopped:
                return
            LOG.warning(
                "ZooKeeper %s unreachable for %.1f s; still retrying",
                self.hosts,
                time.monotonic() - began,
            )
            interval = min(interval * 2, max(self.retry_max_delay, self.connect_timeout))

    def _ensure_node(self) -> None:
        """Create the node in the current session, retrying while connected."""
        delay = 0.1
        while True:
            with self._lock:
                client = self._client
                if self._stopped or client is None or not client.connected:
                    return
                try:
                    if self._register_once(client):
                        return
                except _DISCONNECTED as exc:
                    LOG.info("registering %s interrupted (%s)", self.node_path, exc)
                    return
                except (KazooException, self._handler.timeout_exception) as exc:
                    LOG.warning(
                        "registering %s failed (%r); retrying in %.1f s",
                        self.node_path,
                        exc,
                        delay,
                    )
            self._handler.sleep_func(delay)
            delay = min(delay * 2, self.retry_max_delay)

    def _register_once(self, client: KazooClient) -> bool:
        """Try once to own the node; return True when it is ours in this session."""
        client_id = client.client_id
        if client_id is None:
            raise ConnectionLoss("not connected")
        session = client_id[0]
        if self._node_session == session:
            return True
        timeout = self.session_timeout
        try:
            client.create_async(self.node_path, self._value, ephemeral=True, makepath=True).get(
                timeout=timeout
            )
        except NodeExistsError:
            stat = client.exists_async(self.node_path).get(timeout=timeout)
            if stat is None:
                return False  # the old node just expired: create it now
            if stat.ephemeralOwner != session:
                # Left by a session that has not expired yet: a previous run of this server
                # killed without stop(), or a session lost by this process.  The address is
                # ours (we are bound to it), so the old node is stale: replace it.
                LOG.warning(
                    "%s is held by session 0x%x, not ours (0x%x); replacing it",
                    self.node_path,
                    stat.ephemeralOwner,
                    session,
                )
                with contextlib.suppress(NoNodeError, BadVersionError):
                    client.delete_async(self.node_path, version=stat.version).get(timeout=timeout)
                return False
        self._node_session = session
        LOG.info("registered %s (session 0x%x)", self.node_path, session)
        return True


def _decode(name: str, value: bytes) -> dict[str, Any]:
    try:
        data = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict):
        LOG.warning("node %s holds no JSON object; listed with empty data", name)
        return {}
    return data


def discover(
    hosts: str,
    path: str = DEFAULT_PATH,
    timeout: float = 10.0,
    *,
    handler: IHandler | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(name, data)`` of every registered live instance, sorted by name.

    :param hosts: ZooKeeper connection string.
    :param path: parent path of the registration nodes.
    :param timeout: seconds to wait for the connection and for each call.
    :param handler: a kazoo handler (threading when None).
    :raises TimeoutError: when ZooKeeper cannot be reached or answer within *timeout*.
    """
    _check_path(path)
    client = KazooClient(hosts=hosts, timeout=max(timeout, 1.0), handler=handler)
    try:
        client.start(timeout=timeout)
    except client.handler.timeout_exception:
        raise TimeoutError(f"ZooKeeper {hosts} unreachable within {timeout} s") from None
    try:
        try:
            names = client.get_children_async(path).get(timeout=timeout)
        except NoNodeError:
            return []
        instances = []
        for name in sorted(names):
            try:
                value, _stat = client.get_async(f"{path}/{name}").get(timeout=timeout)
            except NoNodeError:
                continue  # unregistered between the listing and now
            instances.append((name, _decode(name, value)))
        return instances
    except client.handler.timeout_exception:
        raise TimeoutError(f"ZooKeeper {hosts} did not answer within {timeout} s") from None
    finally:
        client.stop()
        client.close()


def conf_options(conf: cfg.ConfigOpts) -> dict[str, Any]:
    """Return the ``[zookeeper]`` values of *conf* as :meth:`Registration.from_options` keys.

    ``hosts`` is empty when registration is off.

    :param conf: a ``ConfigOpts`` with the ``[zookeeper]`` group registered.
    """
    group = conf[zk_conf.GROUP.name]
    return {opt.dest: group[opt.dest] for opt in zk_conf.OPTS}


def paste_registration_options(
    local_conf: Mapping[str, str], global_conf: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return :meth:`Registration.from_options` keys from a paste server section.

    Reads zc.zkzopeserver's keys ``zookeeper = host:port[,host:port]``, ``path = /x`` and
    ``monitor_server = [host]:port``, and the ``[zookeeper]`` option names (``hosts``,
    ``session_timeout`` in seconds — zc.zkzopeserver's is in milliseconds —,
    ``advertise_host``, ``connect_timeout``, ``retry_max_delay``).  Other keys belong to the
    server runner and are ignored.  Defaults come from the ``config_file`` named in
    *global_conf*, if any.  ``hosts`` is empty when registration is off.

    :param local_conf: the ``[server:...]`` section's keys.
    :param global_conf: paste's global configuration.
    :raises ConfigError: naming the bad key.
    """
    names = {opt.name for opt in zk_conf.OPTS}
    local = {}
    for key, raw in local_conf.items():
        name = PASTE_ALIASES.get(key, key)
        if name in names:
            local[name] = raw
    values = paste_options(global_conf or {}, local, zk_conf.GROUP, zk_conf.OPTS)
    monitor = local_conf.get("monitor_server", "").strip()
    try:
        values["monitor"] = parse_name(monitor) if monitor else None
    except ValueError as exc:
        raise ConfigError(f"monitor_server = {monitor!r}: {exc}") from None
    return values
