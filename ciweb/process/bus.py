"""The process bus: a state machine and publish/subscribe messenger for one process.

The semantics follow CherryPy's Web Site Process Bus (``cherrypy/process/wspbus.py``):

* states ``STOPPED -> STARTING -> STARTED -> STOPPING -> STOPPED -> EXITING``;
* built-in channels ``start``, ``stop``, ``graceful``, ``exit``, ``log`` and ``main`` (published
  once per interval while the main thread waits in :meth:`Bus.block`); any other name is a custom
  channel, created by its first subscriber;
* listeners run in ascending priority (default 50), ties in subscription order;
* every listener of a channel is called even when another one fails: each failure is logged with
  its traceback, and once all listeners ran :meth:`Bus.publish` raises :class:`ChannelFailures`
  carrying them.  Only ``SystemExit`` and ``KeyboardInterrupt`` stop a publish at once.

Differences from wspbus, on purpose:

* :meth:`Bus.wait` sleeps on a :class:`threading.Condition` that the state setter notifies, so a
  state change wakes waiters at once instead of at the next poll;
* work for the main thread (signal handlers, see :mod:`ciweb.process.plugins`) is queued with
  :meth:`Bus.call_in_main_thread` and run by the main thread's :meth:`Bus.wait` loop, so nothing
  heavy runs in signal context;
* the library never calls ``os._exit``: :meth:`Bus.exit` logs listener failures and always reaches
  ``EXITING``; :meth:`Bus.block` returns and the command decides the exit status;
* a restart re-executes ``sys.orig_argv`` (Python >= 3.10), which keeps interpreter options and
  ``-m``/``-c`` forms that ``sys.argv`` loses; inherited descriptors need no closing because
  Python creates them non-inheritable (PEP 446).
"""

from __future__ import annotations

import collections
import contextlib
import enum
import itertools
import logging
import os
import sys
import threading
import time
import traceback as _traceback
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["CHANNELS", "Bus", "ChannelFailures", "State", "in_main_thread"]

LOG = logging.getLogger(__name__)

#: Channels every bus knows; others are created by their first subscriber.
CHANNELS = ("start", "stop", "graceful", "exit", "log", "main")

DEFAULT_PRIORITY = 50


def in_main_thread() -> bool:
    """Return whether the caller runs in the main thread (the main greenlet under eventlet).

    Under eventlet's monkey-patching the main greenlet's ``current_thread()`` is a second
    ``_MainThread`` object, of a second ``_MainThread`` class (eventlet re-imports
    ``threading``), not ``threading.main_thread()``; an identity test would then never
    match, and queued signal actions would never run.  Green threads are ``Thread`` or
    ``_DummyThread`` objects, so the class name tells the main one apart in both worlds.
    """
    current = threading.current_thread()
    main = threading.main_thread()
    return current is main or type(current).__name__ == type(main).__name__


class State(enum.Enum):
    """The states of a :class:`Bus`."""

    STOPPED = "stopped"
    STARTING = "starting"
    STARTED = "started"
    STOPPING = "stopping"
    EXITING = "exiting"


class ChannelFailures(Exception):
    """Raised by :meth:`Bus.publish` after all listeners ran when one or more of them failed."""

    def __init__(self, channel: str, exceptions: Iterable[BaseException] = ()) -> None:
        """Collect the failures of one publish.

        :param channel: the channel that was published.
        :param exceptions: the exceptions raised by its listeners, in call order.
        """
        self.channel = channel
        self.exceptions: list[BaseException] = list(exceptions)
        super().__init__(channel, self.exceptions)

    def __str__(self) -> str:
        failures = "; ".join(repr(exc) for exc in self.exceptions)
        return f"{len(self.exceptions)} listener(s) of channel {self.channel!r} failed: {failures}"

    def __bool__(self) -> bool:
        return bool(self.exceptions)


class _Listener:
    """One subscription: the sort key is (priority, subscription order)."""

    __slots__ = ("callback", "priority", "seq")

    def __init__(self, callback: Callable[..., Any], priority: int, seq: int) -> None:
        self.callback = callback
        self.priority = priority
        self.seq = seq


class Bus:
    """Process state machine and messenger: start, stop, reload and exit a process's services.

    Create one per process (there is no global bus) and pass it to the plugins.
    State changes happen under a lock; listeners are called outside it, so a listener may
    call back into the bus (``bus.exit()`` from a ``start`` listener, say).
    """

    def __init__(self) -> None:
        """Create a bus in the ``STOPPED`` state with the built-in channels."""
        self._cond = threading.Condition(threading.RLock())
        # block() waits for the threads started after this moment, not those before.
        self._threads_before = frozenset(t.ident for t in threading.enumerate())
        self._state = State.STOPPED
        self._exit_started = False
        self._restart_requested = False
        self._listeners: dict[str, list[_Listener]] = {channel: [] for channel in CHANNELS}
        self._seq = itertools.count()
        # deque.append and popleft are atomic, hence safe from a Python signal handler that
        # interrupts the main thread at any bytecode, even one holding self._cond.
        self._pending: collections.deque[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            collections.deque()
        )
        # Relative paths in sys.orig_argv are resolved against the directory we started from.
        self._startup_cwd = os.getcwd()

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state."""
        return self._state

    def _set_state(self, state: State) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()
        self.log(f"Bus {state.name}")

    @property
    def restart_requested(self) -> bool:
        """True once :meth:`restart` was called: :meth:`block` re-executes the process."""
        return self._restart_requested

    # -- subscriptions -------------------------------------------------------------------------

    def subscribe(
        self, channel: str, callback: Callable[..., Any], priority: int | None = None
    ) -> None:
        """Add *callback* to *channel*; subscribing it again only changes its priority.

        :param channel: a built-in or custom channel name.
        :param callback: called with the arguments given to :meth:`publish`.
        :param priority: lower runs first; default the callback's ``priority`` attribute, or 50.
        """
        if priority is None:
            priority = getattr(callback, "priority", DEFAULT_PRIORITY)
        if not isinstance(priority, int):
            raise ValueError(f"priority of a listener of {channel!r} must be an int: {priority!r}")
        with self._cond:
            listeners = self._listeners.setdefault(channel, [])
            for listener in listeners:
                if listener.callback == callback:
                    listener.priority = priority
                    return
            listeners.append(_Listener(callback, priority, next(self._seq)))

    def unsubscribe(self, channel: str, callback: Callable[..., Any]) -> None:
        """Remove *callback* from *channel*; nothing happens when it is not subscribed.

        :param channel: the channel name.
        :param callback: the callback given to :meth:`subscribe`.
        """
        with self._cond:
            listeners = self._listeners.get(channel, [])
            listeners[:] = [item for item in listeners if item.callback != callback]

    def listeners(self, channel: str) -> list[Callable[..., Any]]:
        """Return the callbacks of *channel* in the order :meth:`publish` calls them.

        :param channel: the channel name.
        """
        with self._cond:
            ordered = sorted(self._listeners.get(channel, []), key=lambda x: (x.priority, x.seq))
        return [item.callback for item in ordered]

    def publish(self, channel: str, *args: Any, **kwargs: Any) -> list[Any]:
        """Call every listener of *channel* and return their results in call order.

        A failing listener is logged with its traceback and the others still run; afterwards
        :class:`ChannelFailures` is raised with every failure.  ``SystemExit`` and
        ``KeyboardInterrupt`` propagate at once.

        :param channel: the channel name; an unknown channel has no listeners.
        :param args: positional arguments for the listeners.
        :param kwargs: keyword arguments for the listeners.
        """
        failures = ChannelFailures(channel)
        results: list[Any] = []
        for callback in self.listeners(channel):
            try:
                results.append(callback(*args, **kwargs))
            except KeyboardInterrupt:
                raise
            except SystemExit as exc:
                # As wspbus: an exit after failed listeners must not report success.
                if failures and exc.code in (0, None):
                    exc.code = 1
                raise
            except Exception as exc:
                failures.exceptions.append(exc)
                if channel == "log":
                    # Going through the bus again would recurse into the failing listener.
                    LOG.exception("Error in 'log' listener %r", callback)
                else:
                    self.log(
                        f"Error in {channel!r} listener {callback!r}",
                        level=logging.ERROR,
                        traceback=True,
                    )
        if failures:
            raise failures
        return results

    def log(self, msg: str, level: int = logging.INFO, traceback: bool = False) -> None:
        """Log *msg* to this module's logger and publish it on the ``log`` channel.

        :param msg: the message.
        :param level: a :mod:`logging` level.
        :param traceback: add the exception being handled to the message.
        """
        LOG.log(level, "%s", msg, exc_info=traceback)
        if not self._listeners.get("log"):
            return
        if traceback:
            msg = msg + "\n" + _traceback.format_exc()
        # publish() logged each failure to LOG already.
        with contextlib.suppress(ChannelFailures):
            self.publish("log", msg, level)

    # -- transitions ---------------------------------------------------------------------------

    def start(self) -> None:
        """Publish ``start`` between the ``STARTING`` and ``STARTED`` states.

        When a ``start`` listener fails, the failure is logged, the bus exits (``stop`` and
        ``exit`` run, so the services that did start are stopped) and the error is re-raised.
        """
        with self._cond:
            if self._exit_started:
                raise RuntimeError("the bus has exited; create a new Bus to start again")
        self._set_state(State.STARTING)
        try:
            self.publish("start")
        except ChannelFailures:
            self.log("Shutting down due to error in start listener", level=logging.ERROR)
            self.exit()
            raise
        self._set_state(State.STARTED)

    def stop(self) -> None:
        """Publish ``stop`` between the ``STOPPING`` and ``STOPPED`` states.

        The bus reaches ``STOPPED`` even when a listener fails, since every listener ran;
        the failures are then raised as :class:`ChannelFailures`.
        """
        self._set_state(State.STOPPING)
        try:
            self.publish("stop")
        finally:
            self._set_state(State.STOPPED)

    def graceful(self) -> None:
        """Publish ``graceful``: ask every service to reload without dropping work."""
        self.log("Bus graceful")
        self.publish("graceful")

    def exit(self) -> None:
        """Stop, enter ``EXITING`` and publish ``exit``; only the first call does anything.

        Listener failures are logged and swallowed: exit is called from signal handlers, other
        threads and error paths, and must always reach ``EXITING`` so that :meth:`block`
        returns.  A second call returns at once, even while the first is still stopping;
        wait for ``EXITING`` with :meth:`wait` if needed.
        """
        with self._cond:
            if self._exit_started:
                return
            self._exit_started = True
        # Each failure was logged by publish(); exiting must go on regardless.
        with contextlib.suppress(ChannelFailures):
            self.stop()
        self._set_state(State.EXITING)
        with contextlib.suppress(ChannelFailures):
            self.publish("exit")
        self.log("Bus EXITED")

    def restart(self) -> None:
        """Exit, and have :meth:`block` re-execute the process once it returns from waiting.

        The exec happens in the main thread (some platforms require it), after the other
        threads have finished; call this from any thread.
        """
        with self._cond:
            self._restart_requested = True
        self.exit()

    def start_with_callback(
        self,
        func: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> threading.Thread:
        """Start the bus, then run ``func(*args, **kwargs)`` in a new thread and return it.

        The thread is started only once the bus is ``STARTED``; when :meth:`start` fails it
        raises and no thread is created.

        :param func: the callable to run.
        :param args: its positional arguments.
        :param kwargs: its keyword arguments.
        """
        self.start()
        thread = threading.Thread(
            target=func,
            args=tuple(args or ()),
            kwargs=dict(kwargs or {}),
            name=f"bus-callback-{getattr(func, '__name__', 'func')}",
        )
        thread.start()
        return thread

    # -- waiting -------------------------------------------------------------------------------

    def call_in_main_thread(self, func: Callable[..., Any], *args: Any) -> None:
        """Queue ``func(*args)`` for the main thread's :meth:`wait` (or :meth:`block`) loop.

        Safe to call from a signal handler: it only appends to a deque.  The call runs at
        the next interval of the loop; a failure is logged and the loop carries on.

        :param func: the callable to run.
        :param args: its positional arguments.
        """
        self._pending.append((func, args))

    def _run_pending(self) -> None:
        while self._pending:
            func, args = self._pending.popleft()
            try:
                func(*args)
            except ChannelFailures as exc:
                LOG.error("Deferred call %r: %s", func, exc)  # Each one logged in publish().
            except Exception:
                LOG.exception("Deferred call %r failed", func)

    def wait(
        self,
        state: State | Iterable[State],
        interval: float = 0.1,
        channel: str | None = None,
        timeout: float | None = None,
    ) -> bool:
        """Wait until the bus is in *state* (or one of several states).

        In the main thread, the calls queued by :meth:`call_in_main_thread` run once per
        *interval*; *channel*, when given, is published once per interval.

        :param state: a state, or an iterable of states.
        :param interval: seconds between runs of the queued calls and publishes of *channel*.
        :param channel: a channel to publish each interval (``block`` uses ``main``).
        :param timeout: give up after this many seconds; None waits for ever.
        :returns: True when the state was reached, False on timeout.
        """
        if interval <= 0:
            raise ValueError(f"interval must be positive: {interval!r}")
        wanted = frozenset([state] if isinstance(state, State) else state)
        in_main = in_main_thread()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if in_main:
                self._run_pending()
            with self._cond:
                wait_for = interval
                if deadline is not None:
                    wait_for = min(interval, deadline - time.monotonic())
                if self._state in wanted:
                    return True
                if wait_for <= 0:
                    return False
                if self._cond.wait_for(lambda: self._state in wanted, wait_for):
                    return True
            if channel is not None:
                # publish() has logged each failure; the loop (and block()) goes on, so
                # the bus can still be stopped and exited cleanly.
                with contextlib.suppress(ChannelFailures):
                    self.publish(channel)

    def block(self, interval: float = 0.1) -> None:
        """Wait in the main thread until ``EXITING``, join the threads started since the bus
        was created, then return.

        Runs the calls queued by signal handlers meanwhile and publishes ``main`` once per
        interval.  ``KeyboardInterrupt`` exits the bus; ``SystemExit`` exits it and
        propagates.  After :meth:`restart`, the process is re-executed instead of returning.

        :param interval: seconds between runs of the queued calls.
        """
        try:
            self.wait(State.EXITING, interval=interval, channel="main")
        except KeyboardInterrupt:
            self.log("Keyboard interrupt: shutting down the bus")
            self.exit()
        except SystemExit:
            self.log("SystemExit raised: shutting down the bus")
            self.exit()
            raise
        self._join_threads()
        if self._restart_requested:
            self._do_execv()

    def _join_threads(self) -> None:
        # As wspbus: let non-daemon threads finish before atexit handlers or an exec run.
        current = threading.current_thread()
        for thread in threading.enumerate():
            if thread is current or thread is threading.main_thread() or thread.daemon:
                continue
            if thread.ident in self._threads_before:
                # Not the bus's to wait for: it ran before the bus existed (a library's
                # idle executor thread, say, would never end).
                continue
            self.log(f"Waiting for thread {thread.name}")
            thread.join()

    def _do_execv(self) -> None:
        """Replace the process with a fresh run of the same command line (same pid)."""
        args = [sys.executable, *sys.orig_argv[1:]]
        self.log(f"Re-executing {' '.join(args)}")
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.chdir(self._startup_cwd)
        os.execv(sys.executable, args)  # noqa: S606 - the same interpreter and arguments
