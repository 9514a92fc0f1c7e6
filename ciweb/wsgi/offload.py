"""Run blocking work without stalling the server's other requests.

Under ciweb's eventlet server every request shares one OS thread: a second of CPU work in
C (an RSA key made by ``cryptography``) or of waiting (a slow SQLite query, a PostgreSQL
round trip) holds up every other connection of the worker for that second.  Two tools keep
such work off the event loop when eventlet has patched ``threading`` (ciweb-api's workers,
the paste server runner), and step aside under any other WSGI host, whose threads are real
already:

* :func:`run_blocking` runs a function in eventlet's pool of real threads;
* :func:`wait_socket` parks the calling green thread until a socket is ready, so that a
  driver with its own non-blocking protocol (psycopg) waits on the event loop.

The check is made per call, not at import: paste builds the application before the server
runner monkey-patches.  Nothing here imports eventlet: it is looked up in ``sys.modules``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["on_event_loop", "run_blocking", "wait_socket"]

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
