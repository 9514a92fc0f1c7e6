"""The monitor port: a line protocol for operators, with zc.monitor's semantics.

A client connects, sends one command line (``stats``, ``help health``...), reads the answer
and the server closes the connection, so ``echo stats | nc 127.0.0.1 8081`` works.  Words
after the command name are its arguments.

Commands are callables ``command(connection, *args)`` that write their answer with
``connection.write(text)``; ``connection.context`` is what the host process exposes
(``stats()`` and ``health()``).  Built-ins: ``help``, ``health``, ``stats``, ``version``.
Packages add commands through the ``ciweb.monitor`` entry point group::

    [options.entry_points]
    ciweb.monitor =
        mycommand = mypackage.monitor:mycommand
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

import ciweb
from ciweb.discovery.address import parse_name
from ciweb.process.plugins import SimplePlugin

if TYPE_CHECKING:
    from ciweb.process.bus import Bus

__all__ = [
    "ENTRY_POINT_GROUP",
    "MonitorConnection",
    "MonitorPlugin",
    "MonitorServer",
    "builtin_commands",
    "load_commands",
    "parse_address",
]

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ciweb.monitor"
MAX_LINE = 4096
READ_TIMEOUT = 10.0

Command = Callable[..., Any]


class Context(Protocol):
    """What the monitor asks of the process it reports on."""

    def stats(self) -> dict[str, Any]:
        """Return the counters of the process."""

    def health(self) -> dict[str, Any]:
        """Return ``{"status": "ok" | "degraded", ...}``."""


def parse_address(value: str) -> tuple[str, int]:
    """Return ``(host, port)`` of ``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (127.0.0.1).

    Port 0 picks any free port.

    :param value: the ``[process] monitor_address`` value.
    :raises ValueError: naming the bad value.
    """
    host, port = parse_name(value, port_zero=True)
    return host or "127.0.0.1", port


class MonitorConnection:
    """One client of the monitor, as commands see it.

    :param sock: the client socket.
    :param context: the process's stats and health provider.
    :param commands: every command by name (``help`` lists them).
    """

    def __init__(self, sock: socket.socket, context: Context, commands: Mapping[str, Command]):
        self.sock = sock
        self.context = context
        self.commands = commands

    def write(self, text: str) -> None:
        """Send *text* to the client (UTF-8)."""
        self.sock.sendall(text.encode("utf-8"))


def _first_line(command: Command) -> str:
    doc = (command.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def help_command(connection: MonitorConnection, name: str | None = None) -> None:
    """List the commands, or describe one: help [command]."""
    if name is not None:
        command = connection.commands.get(name)
        if command is None:
            connection.write(f"Unknown command {name!r}\n")
        else:
            connection.write(f"{name}: {(command.__doc__ or '').strip()}\n")
        return
    width = max(len(n) for n in connection.commands)
    lines = [f"{n.ljust(width)}  {_first_line(c)}" for n, c in sorted(connection.commands.items())]
    connection.write("Commands:\n" + "\n".join(lines) + "\n")


def health_command(connection: MonitorConnection) -> None:
    """Print the health as JSON: status ok when every wanted worker is ready."""
    connection.write(json.dumps(connection.context.health(), sort_keys=True) + "\n")


def stats_command(connection: MonitorConnection) -> None:
    """Print requests served, in flight and free green threads, in total and per worker."""
    connection.write(json.dumps(connection.context.stats(), sort_keys=True) + "\n")


def version_command(connection: MonitorConnection) -> None:
    """Print the version of ciweb."""
    connection.write(f"{ciweb.__version__}\n")


def builtin_commands() -> dict[str, Command]:
    """Return the built-in commands by name."""
    return {
        "help": help_command,
        "health": health_command,
        "stats": stats_command,
        "version": version_command,
    }


def load_commands(group: str = ENTRY_POINT_GROUP) -> dict[str, Command]:
    """Return the built-in commands plus those of the *group* entry points.

    An entry point that fails to load is logged and skipped; built-ins cannot be replaced.

    :param group: the entry point group.
    """
    commands = builtin_commands()
    for entry in metadata.entry_points(group=group):
        if entry.name in commands:
            LOG.warning("monitor command %r from %s ignored: name taken", entry.name, entry.value)
            continue
        try:
            commands[entry.name] = entry.load()
        except Exception:
            LOG.exception("monitor command %r (%s) failed to load", entry.name, entry.value)
    return commands


class _Handler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        sock = self.request
        sock.settimeout(READ_TIMEOUT)
        try:
            line = self._read_line(sock)
        except OSError:
            return
        words = line.decode("utf-8", "replace").split()
        if not words:
            return
        name, args = words[0], words[1:]
        commands = self.server.commands
        connection = MonitorConnection(sock, self.server.context, commands)
        command = commands.get(name)
        try:
            if command is None:
                connection.write(f"Invalid command {name!r}\nTry 'help'.\n")
                return
            try:
                command(connection, *args)
            except TypeError as exc:
                connection.write(f"Bad arguments for {name!r}: {exc}\n")
            except Exception as exc:
                LOG.exception("monitor command %r failed", name)
                connection.write(f"Error: {exc!r}\n")
        except OSError as exc:
            LOG.debug("monitor client %s went away: %s", self.client_address, exc)

    @staticmethod
    def _read_line(sock: socket.socket) -> bytes:
        data = b""
        while b"\n" not in data and len(data) < MAX_LINE:
            chunk = sock.recv(MAX_LINE)
            if not chunk:
                break
            data += chunk
        return data.split(b"\n", 1)[0]


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    context: Context
    commands: Mapping[str, Command]


class MonitorServer:
    """Serve monitor commands on a TCP address from a background thread.

    :param host: address to listen on (loopback by default).
    :param port: port; 0 picks a free one (see :attr:`address`).
    :param context: the stats and health provider.
    :param commands: commands by name; default :func:`load_commands`.
    """

    def __init__(
        self,
        context: Context,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        commands: Mapping[str, Command] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.context = context
        self.commands = dict(commands) if commands is not None else load_commands()
        self._server: _TCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Return the bound ``(host, port)``."""
        if self._server is None:
            raise RuntimeError("the monitor is not started")
        name = self._server.server_address
        return str(name[0]), int(name[1])

    def start(self) -> None:
        """Bind and serve in a daemon thread; log the bound address."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_Server", (_TCPServer,), {"address_family": family})
        server = server_class((self.host, self.port), _Handler)
        server.context = self.context
        server.commands = self.commands
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="monitor"
        )
        self._thread.daemon = True
        self._thread.start()
        host, port = self.address
        LOG.info("monitor listening on %s:%d", f"[{host}]" if ":" in host else host, port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()


class MonitorPlugin(SimplePlugin):
    """Run a :class:`MonitorServer` from the bus's ``start`` to its ``stop``.

    :param bus: the process bus.
    :param monitor: the monitor server.
    """

    channels = ("start", "stop")
    # Up before ZooKeeper registration (70) advertises it; down after the servers drained.
    priorities = {"start": 60, "stop": 80}

    def __init__(self, bus: Bus, monitor: MonitorServer) -> None:
        super().__init__(bus)
        self.monitor = monitor

    def start(self) -> None:
        """Start the monitor server."""
        self.monitor.start()

    def stop(self) -> None:
        """Stop the monitor server."""
        self.monitor.stop()
