"""Run blocking work without stalling the server's other requests.

Under ciweb's eventlet server every request shares one OS thread: a second of CPU work in
C (an RSA key made by ``cryptography``) or of waiting (a slow SQLite query, a PostgreSQL
round trip) holds up every other connection of the worker for that second.  These tools keep
such work off the event loop when eventlet has patched ``threading`` (ciweb-api's workers,
the paste server runner), and step aside under any other WSGI host, whose threads are real
already:

* :func:`run_blocking` runs a function in eventlet's pool of real threads;
* :func:`wait_socket` parks the calling green thread until a socket is ready, so that a
  driver with its own non-blocking protocol (psycopg) waits on the event loop;
* :class:`TurnGate` bounds how much heavy work one turn of the event loop runs, so that a
  light request is not queued behind every heavy one.

The check is made per call, not at import: paste builds the application before the server
runner monkey-patches.  Nothing here imports eventlet: it is looked up in ``sys.modules``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["TurnGate", "on_event_loop", "run_blocking", "wait_socket"]

T = TypeVar("T")


def _eventlet() -> Any:
    eventlet = sys.modules.get("eventlet")
    if eventlet is not None and eventlet.patcher.is_monkey_patched("thread"):
        return eventlet
    return None


def on_event_loop() -> bool:
    """Return True when eventlet has patched this process: blocking calls stall its hub."""
    return _eventlet() is not None


def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """Return ``function(*args)``, run off the event loop when there is one.

    *function* runs in a real OS thread: it must not touch green-thread state (eventlet's
    locks, which ``threading`` hands out once patched: SQLAlchemy's pool, ``logging``).
    Plain C calls that release the GIL (a sqlite3 statement, key generation) are what
    it is for.

    :param function: the work; it should release the GIL (C code) to let others run.
    :param args: its positional arguments.
    """
    if _eventlet() is not None:
        from eventlet import tpool

        return tpool.execute(function, *args)
    return function(*args)


def wait_socket(fileno: int, *, read: bool, write: bool) -> None:
    """Park the calling green thread until *fileno* is readable or writable.

    Only on the event loop (see :func:`on_event_loop`); elsewhere a caller blocks its own
    thread the usual way.

    :param fileno: the socket's file descriptor.
    :param read: wake when it is readable.
    :param write: wake when it is writable.
    :raises RuntimeError: when there is no event loop.
    """
    eventlet = _eventlet()
    if eventlet is None:
        raise RuntimeError("wait_socket needs eventlet's hub; check on_event_loop() first")
    from eventlet.hubs import trampoline

    trampoline(fileno, read=read, write=write)


class TurnGate:
    """Let at most *size* heavy sections start per turn of the event loop.

    A green thread holds the event loop from one wait to the next, and each turn of the loop
    runs every connection that became ready.  A request that reads and converts a page of
    history without waiting (an SQLite read runs inline, see :mod:`ciweb.ci.dbapi`) takes
    about a millisecond: fifty of them in one turn kept a health check waiting 30 to 60 ms.
    Inside the gate at most *size* sections run; a freed place is handed back only at the
    next turn, after the loop looked at its sockets, so that one turn runs *size* heavy
    sections at most and a light request waits for a few milliseconds, not fifty.

    Elsewhere than on eventlet's loop (another WSGI host, a command), the gate is open.

    :param size: sections per turn (``[database] pool_size``: a section holds a connection).
    :param active: returns True when there is an event loop to share (checked per use).
    """

    def __init__(self, size: int, *, active: Callable[[], bool] = on_event_loop) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._active = active
        self._semaphore: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Run the block once a place is free (parked until then)."""
        if not self._active():
            yield
            return
        from eventlet import hubs
        from eventlet.semaphore import Semaphore

        if self._semaphore is None:
            self._semaphore = Semaphore(self.size)
        semaphore = self._semaphore
        semaphore.acquire()
        try:
            yield
        finally:
            hubs.get_hub().schedule_call_global(0, semaphore.release)
