"""Basic plugins of the process bus: the plugin base, signal handling and the pid file.

The semantics follow CherryPy's ``cherrypy/process/plugins.py``.

Signals (the default map of :class:`SignalHandler`):

=========  =================================  ==============================================
signal     bus action                         meaning
=========  =================================  ==============================================
SIGTERM    ``bus.exit()``                     drain: stop every service, then exit
SIGINT     ``bus.exit()``                     the same, from a terminal's Ctrl-C
SIGHUP     ``bus.graceful()``                 reload configuration and pipeline, keep serving
SIGUSR1    ``bus.publish("reopen_logs")``     reopen log files (after logrotate)
SIGTTIN    ``bus.publish("add_worker")``      one more worker process
SIGTTOU    ``bus.publish("remove_worker")``   one fewer worker process
=========  =================================  ==============================================

Nothing heavy runs in signal context: the Python-level handler only queues the action with
:meth:`Bus.call_in_main_thread <ciweb.process.bus.Bus.call_in_main_thread>` (a deque append),
and the main thread's :meth:`Bus.block <ciweb.process.bus.Bus.block>` loop runs it within one
interval.  Once the bus is ``EXITING`` that loop has ended, so a second SIGTERM or SIGINT then
gets the previous disposition (by default: the process dies, or KeyboardInterrupt for SIGINT);
this is how an operator forces a stuck shutdown.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import tempfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ciweb.process.bus import State, in_main_thread

if TYPE_CHECKING:
    from types import FrameType

    from ciweb.process.bus import Bus

__all__ = ["PIDFile", "PIDFileError", "SignalHandler", "SimplePlugin", "default_signal_map"]

LOG = logging.getLogger(__name__)

_SignalAction = Callable[[], Any]
_PreviousHandler = Callable[[int, "FrameType | None"], Any] | int | signal.Handlers | None


class SimplePlugin:
    """Base of the bus plugins: methods named after channels are the plugin's listeners.

    :meth:`subscribe` subscribes every method named in :attr:`channels` that the plugin
    defines, at the priority given in :attr:`priorities` (default: the bus's default).
    """

    #: Channels whose same-named methods are subscribed.
    channels: tuple[str, ...] = ("start", "stop", "graceful", "exit", "log")
    #: Priority per channel; lower runs first.
    priorities: Mapping[str, int] = {}

    def __init__(self, bus: Bus) -> None:
        """Attach the plugin to *bus* (subscribe it with :meth:`subscribe`).

        :param bus: the process bus.
        """
        self.bus = bus

    def _channel_methods(self) -> list[tuple[str, Callable[..., Any]]]:
        found = []
        for channel in self.channels:
            method = getattr(self, channel, None)
            if callable(method):
                found.append((channel, method))
        return found

    def subscribe(self) -> None:
        """Subscribe the plugin's channel methods to the bus."""
        for channel, method in self._channel_methods():
            self.bus.subscribe(channel, method, self.priorities.get(channel))

    def unsubscribe(self) -> None:
        """Unsubscribe the plugin's channel methods from the bus."""
        for channel, method in self._channel_methods():
            self.bus.unsubscribe(channel, method)


def default_signal_map(bus: Bus) -> dict[signal.Signals, _SignalAction]:
    """Return the default signal -> action map of :class:`SignalHandler` for *bus*.

    Signals the platform lacks are left out.

    :param bus: the process bus whose transitions the signals trigger.
    """
    wanted: dict[str, _SignalAction] = {
        "SIGTERM": bus.exit,
        "SIGINT": bus.exit,
        "SIGHUP": bus.graceful,
        "SIGUSR1": functools.partial(bus.publish, "reopen_logs"),
        "SIGTTIN": functools.partial(bus.publish, "add_worker"),
        "SIGTTOU": functools.partial(bus.publish, "remove_worker"),
    }
    signals = {name: getattr(signal.Signals, name, None) for name in wanted}
    return {sig: wanted[name] for name, sig in signals.items() if sig is not None}


def _as_signal(key: int | str | signal.Signals) -> signal.Signals:
    try:
        if isinstance(key, str):
            name = key.upper()
            return signal.Signals[name if name.startswith("SIG") else "SIG" + name]
        return signal.Signals(key)
    except (KeyError, ValueError):
        raise ValueError(f"SignalHandler handlers: unknown signal {key!r}") from None


class SignalHandler(SimplePlugin):
    """Map process signals to bus actions, run by the main thread's ``bus.block()`` loop.

    Handlers are installed by :meth:`subscribe` and the previous ones restored by
    :meth:`unsubscribe` (and on ``exit``, when the bus exits in the main thread); both must
    be called in the main thread, as Python only lets it set signal handlers.
    """

    priorities = {"exit": 90}  # restore the handlers after the other exit listeners ran

    def __init__(
        self,
        bus: Bus,
        handlers: Mapping[int | str | signal.Signals, _SignalAction] | None = None,
    ) -> None:
        """Prepare the handlers; nothing is installed until :meth:`subscribe`.

        :param bus: the process bus.
        :param handlers: signal (number, name such as ``"SIGHUP"`` or ``"HUP"``, or
            :class:`signal.Signals`) -> callable taking no argument; default
            :func:`default_signal_map`.
        """
        super().__init__(bus)
        given = default_signal_map(bus) if handlers is None else handlers
        self.handlers: dict[signal.Signals, _SignalAction] = {}
        for key, action in given.items():
            if not callable(action):
                raise ValueError(f"SignalHandler handlers: action of {key!r} is not callable")
            self.handlers[_as_signal(key)] = action
        self._previous: dict[signal.Signals, _PreviousHandler] = {}

    @staticmethod
    def _require_main_thread(what: str) -> None:
        if not in_main_thread():
            raise RuntimeError(f"SignalHandler.{what}() must run in the main thread")

    def subscribe(self) -> None:
        """Install the signal handlers, remembering the previous ones, and subscribe."""
        self._require_main_thread("subscribe")
        for sig in self.handlers:
            if sig not in self._previous:
                self._previous[sig] = signal.signal(sig, self._on_signal)
        super().subscribe()

    def unsubscribe(self) -> None:
        """Restore the previous signal handlers and unsubscribe."""
        self._require_main_thread("unsubscribe")
        while self._previous:
            sig, previous = self._previous.popitem()
            # None: the handler was not set from Python; the default is the best guess.
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        super().unsubscribe()

    def exit(self) -> None:
        """Restore the previous handlers when the bus exits in the main thread."""
        if in_main_thread():
            self.unsubscribe()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Signal context: no locks, no logging, no I/O; only queue the action.
        sig = signal.Signals(signum)
        action = self.handlers[sig]
        if self.bus.state is not State.EXITING:
            self.bus.call_in_main_thread(self._dispatch, sig)
        elif action == self.bus.exit:
            # No loop runs queued calls any more: a repeated exit signal forces its way out.
            previous = self._previous.pop(sig, None)
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
            signal.raise_signal(sig)

    def _dispatch(self, sig: signal.Signals) -> None:
        action = self.handlers[sig]
        self.bus.log(f"Caught signal {sig.name}: {getattr(action, '__name__', action)!r}")
        action()


class PIDFileError(RuntimeError):
    """Raised when a pid file is held by another live process."""


def _pid_alive(pid: int) -> bool:
    try:
        # Signal 0 checks that the process exists without disturbing it.
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class PIDFile(SimplePlugin):
    """Write the process id to a file on ``start`` and remove it on ``exit``.

    Refuses to start while another live process holds the file; a file left by a dead
    process (or one that holds no pid) is replaced, with a warning.
    """

    # Claim the file before the servers bind: a second instance fails before touching them.
    priorities = {"start": 10, "exit": 90}

    def __init__(self, bus: Bus, path: str | os.PathLike[str]) -> None:
        """Prepare the plugin; nothing is written until ``start``.

        :param bus: the process bus.
        :param path: the pid file; its directory must exist.
        """
        super().__init__(bus)
        if not os.fspath(path):
            raise ValueError("PIDFile path must not be empty")
        self.path = os.path.abspath(os.fspath(path))

    def _read(self) -> int | None:
        """Return the pid in the file, 0 for garbage, None when there is no file."""
        try:
            with open(self.path, encoding="ascii", errors="replace") as f:
                text = f.read(64).strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else 0

    def _check_holder(self, pid: int) -> None:
        held = self._read()
        if held is None or held == pid:
            return
        # A pid of 0 is garbage; never os.kill(0, 0), which probes our own process group.
        if held > 0 and _pid_alive(held):
            raise PIDFileError(f"pid file {self.path} is held by live process {held}")
        self.bus.log(
            f"Replacing stale pid file {self.path} (process {held} is not running)",
            level=logging.WARNING,
        )

    def start(self) -> None:
        """Write our pid atomically, unless a live process holds the file."""
        pid = os.getpid()
        directory, name = os.path.split(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(f"{pid}\n")
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; pid files are read by other tools
            # link() fails if the file exists: two instances starting at once cannot both
            # win, which a check-then-replace alone would allow.
            try:
                os.link(tmp, self.path)
                linked = True
            except OSError:  # it exists, or the file system has no hard links
                linked = False
            if not linked:
                self._check_holder(pid)
                os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self.bus.log(f"PID {pid} written to {self.path}")

    def exit(self) -> None:
        """Remove the file if it still holds our pid."""
        held = self._read()
        if held == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
            self.bus.log(f"PID file removed: {self.path}")
        elif held is not None:
            self.bus.log(
                f"Leaving pid file {self.path}: it holds {held}, not our pid",
                level=logging.WARNING,
            )
