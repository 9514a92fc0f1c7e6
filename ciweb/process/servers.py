"""Bus plugins that run :class:`~ciweb.wsgi.server.Server` instances and register them.

:class:`ServersPlugin` starts servers on the bus's ``start`` and drains them on ``stop``;
:class:`ZooKeeperPlugin` keeps one :class:`~ciweb.discovery.zookeeper.Registration` per
listening address, created once the servers listen and removed on ``stop`` *before* they
drain (its ``stop`` runs first), so that clients stop dialling a server that is going away.
:class:`RequestCounter` counts the requests an application was given, for ``stats`` and
``max_requests``.

Threads here are plain :mod:`threading` ones: under ``ciweb-api``'s monkey-patching they are
green threads, so this module never imports eventlet itself (ARCHITECTURE: eventlet is
quarantined in :mod:`ciweb.wsgi.server`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ciweb.process.plugins import SimplePlugin
from ciweb.wsgi.server import Server

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from ciweb.discovery.zookeeper import Registration
    from ciweb.process.bus import Bus

__all__ = ["RequestCounter", "ServersPlugin", "ZooKeeperPlugin"]

LOG = logging.getLogger(__name__)


class RequestCounter:
    """Count the requests handed to *app* (WSGI middleware; ``count`` is read by ``stats``).

    :param app: the WSGI application to count requests of.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.count = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Count the request and pass it on."""
        # One process, green threads: += on an int never interleaves with another greenlet.
        self.count += 1
        return self.app(environ, start_response)


class ServersPlugin(SimplePlugin):
    """Start servers on ``start``; stop them all at once, gracefully, on ``stop``.

    A stop closes idle keep-alive connections at once, unless it was asked for with
    :meth:`hand_over`.

    :param bus: the process bus.
    :param servers: the servers to run (bound or not).
    """

    priorities = {"start": 50, "stop": 50}

    def __init__(self, bus: Bus, servers: Sequence[Server]) -> None:
        super().__init__(bus)
        if not servers:
            raise ValueError("ServersPlugin needs at least one server")
        self.servers = list(servers)
        self.close_idle = True

    def hand_over(self) -> None:
        """Exit the bus, leaving each idle connection to its next request or timeout.

        For a worker whose sockets a successor serves on (SIGUSR2 from the supervisor):
        the next request on an idle keep-alive connection is answered here with
        ``Connection: close`` and the client's next connection goes to the successor;
        nothing a client is sending or waiting for is cut.
        """
        self.close_idle = False
        self.bus.exit()

    def start(self) -> None:
        """Bind and start every server."""
        for server in self.servers:
            server.start()

    def stop(self) -> None:
        """Drain every server concurrently; return once all have stopped."""
        threads = [
            threading.Thread(
                target=server.stop,
                kwargs={"close_idle": self.close_idle},
                name=f"stop-server-{index}",
                daemon=True,
            )
            for index, server in enumerate(self.servers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Return the bound ``(host, port)`` of every server."""
        return [server.address for server in self.servers]


class ZooKeeperPlugin(SimplePlugin):
    """Register each listening address in ZooKeeper from ``start`` until ``stop``.

    :param bus: the process bus.
    :param factory: returns the registrations to run; called on ``start``, once the
        servers are bound (their real ports are known then).
    """

    # After the servers started (50); before they drain (50) on stop.
    priorities = {"start": 70, "stop": 10}

    def __init__(self, bus: Bus, factory: Callable[[], Sequence[Registration]]) -> None:
        super().__init__(bus)
        self.factory = factory
        self.registrations: list[Registration] = []

    def start(self) -> None:
        """Create the registrations and start them (in the background)."""
        self.registrations = list(self.factory())
        for registration in self.registrations:
            registration.start()

    def stop(self) -> None:
        """Delete every node, then close the sessions."""
        registrations, self.registrations = self.registrations, []
        for registration in registrations:
            registration.stop()

    def status(self) -> list[dict[str, Any]]:
        """Return ``{"node": path, "registered": bool}`` per registration."""
        return [{"node": r.node_path, "registered": r.is_registered} for r in self.registrations]
