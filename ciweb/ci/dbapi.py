"""DB-API connections whose waits leave the event loop: no query stalls the other requests.

Under ciweb's eventlet server all requests of a worker share one OS thread, and a database
call that blocks it holds up every other request (measured on main: ``/healthcheck`` p99
670 ms while the builds page was loaded).  Only the waiting leaves the event loop; SQLAlchemy,
its pool and the serialisation stay on it:

* **SQLite** has no non-blocking interface.  What may wait runs in a real thread through
  :attr:`EventLoop.run_blocking` (``execute``, a C call that releases the GIL while SQLite
  searches): the statements of heavy reads (the history lists, under the statement timeout,
  see :func:`set_offloading`), ``BEGIN IMMEDIATE`` (it waits up to ``busy_timeout`` for
  another writer) and ``COMMIT`` (a checkpoint may sync).  Other reads stay inline: in WAL
  mode a reader never waits for a lock, and a small indexed read costs less than the thread
  round trip (measured under load: ``/api/tenants`` took 0.58 ms of CPU inline, 1.13 ms
  offloaded).  ``ROLLBACK`` only drops a lock.  The threads touch sqlite3 objects only,
  never a green lock (SQLAlchemy's pool, ``logging``): after monkey-patching, ``threading``
  hands out eventlet's locks, which break when a real thread waits on one.  This is why
  whole data-layer calls are not sent to threads, as oslo.db's ``use_tpool`` does.
* A heavy read's statement first runs **inline for at most** :data:`INLINE_BUDGET`: most
  are done by then (the first step of the dashboard's builds page: 0.02 ms), and a thread
  round trip through eventlet's pool costs about 0.2 ms of CPU (measured: the data of a
  builds page took 2.1 ms of CPU with its three statements offloaded, 0.9 ms inline).
  SQLite calls a progress handler every :data:`PROGRESS_STEPS` instructions; past the budget
  it interrupts the statement, a read with no effect, which then runs again in a thread.
  A slow query thus holds the event loop for the budget at most, and costs that much more
  CPU.
* **Concurrency** is bounded by the pool (``[database] pool_size``, no overflow by
  default): requests beyond it wait for a connection, parked.  Fewer requests in flight
  means shorter turns of the event loop, so that a health check is not queued behind
  fifty builds pages (measured: p50 19 ms with 20 in flight, 3-5 ms with 2-4).
* **PostgreSQL**: psycopg 3 polls its socket in C (``wait_c``) unless *gevent* patched
  ``select``; under eventlet that poll blocks the hub for each round trip.  Connections
  made here wait with :attr:`EventLoop.wait_socket` instead, on the hub, like any socket
  (and cheaper: 48 µs of CPU per ``SELECT 1`` against 70 µs with ``wait_c``).  A wait with a
  timeout (rare: notifications, cancellation) uses psycopg's ``wait_select``, which the
  patched ``select`` makes green.

Without an event loop (gunicorn, waitress, ``ciweb-manage``) everything runs as usual.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "INLINE_BUDGET",
    "PROGRESS_STEPS",
    "EventLoop",
    "OffloadingConnection",
    "OffloadingCursor",
    "psycopg_connect",
    "set_offloading",
]


# Seconds a heavy read's statement runs on the event loop before it moves to a thread.
INLINE_BUDGET = 0.0005
# SQLite virtual machine instructions between two calls of the progress handler, which
# checks the inline budget and the statement timeout (some tens of microseconds of work;
# a call costs 0.3 µs).
PROGRESS_STEPS = 10000


def _direct(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def _never() -> bool:
    return False


@dataclasses.dataclass(frozen=True)
class EventLoop:
    """How blocking database calls leave the server's event loop.

    :ivar active: returns True when there is an event loop to keep free (checked per call).
    :ivar run_blocking: ``run_blocking(function, *args)`` runs C work in a real thread.
    :ivar wait_socket: ``wait_socket(fileno, read=, write=)`` parks the green thread.
    """

    active: Callable[[], bool] = _never
    run_blocking: Callable[..., Any] = _direct
    wait_socket: Callable[..., None] | None = None


class OffloadingConnection(sqlite3.Connection):
    """A sqlite3 connection whose waits run in :attr:`offload` (see the module).

    While it is :attr:`offloading` (see :func:`set_offloading`), its cursors' statements run
    inline for :data:`INLINE_BUDGET` at most, then in :attr:`offload`, when :attr:`active`.
    """

    offload: Callable[..., Any] = staticmethod(_direct)
    active: Callable[[], bool] = staticmethod(_never)
    offloading = False
    inline_first = True
    deadline: float | None = None
    _inline_until: float | None = None
    _over_budget = False

    def cursor(self, factory: Any = None) -> Any:
        """Return an :class:`OffloadingCursor` (or a cursor of *factory*)."""
        return super().cursor(factory or OffloadingCursor)

    def commit(self) -> None:
        """Commit off the event loop: a WAL checkpoint may wait for the disk."""
        self.offload(sqlite3.Connection.commit, self)

    def _progress(self) -> int:
        # SQLite's progress handler: non-zero interrupts the running statement.
        now = time.monotonic()
        if self._inline_until is not None and now > self._inline_until:
            self._over_budget = True
            return 1
        return int(self.deadline is not None and now > self.deadline)

    def run_statement(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` (a cursor's execute) inline within the budget, else (or
        when the budget is spent) in :attr:`offload`."""
        if not self.inline_first:
            self.offload(function, *args)
            return
        if not self.active():
            function(*args)
            return
        self._inline_until, self._over_budget = time.monotonic() + INLINE_BUDGET, False
        try:
            function(*args)
            return
        except sqlite3.OperationalError:
            if not self._over_budget:
                raise
        finally:
            self._inline_until = None
        self.offload(function, *args)


class OffloadingCursor(sqlite3.Cursor):
    """A sqlite3 cursor whose ``execute`` leaves the event loop when it takes long, while its
    connection is :attr:`~OffloadingConnection.offloading`; fetches stay inline.

    SQLite does a statement's searching and sorting in its first step, which ``execute``
    runs: the history lists (``id IN (SELECT ... LIMIT n)``) and counts do all their scanning
    there.  The later steps hand out rows already found; running them in the thread too
    would hand the GIL back and forth once per row (measured: +1 ms of CPU per builds page).
    """

    def execute(self, sql: str, parameters: Any = (), /) -> OffloadingCursor:
        """Run *sql* (its first step), off the event loop if it takes long."""
        connection = self.connection
        if isinstance(connection, OffloadingConnection) and connection.offloading:
            connection.run_statement(sqlite3.Cursor.execute, self, sql, parameters)
        else:
            sqlite3.Cursor.execute(self, sql, parameters)
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> OffloadingCursor:
        """Run *sql* once per parameter set, off the event loop (a write)."""
        connection = self.connection
        if isinstance(connection, OffloadingConnection) and connection.offloading:
            connection.offload(sqlite3.Cursor.executemany, self, sql, seq_of_parameters)
        else:
            sqlite3.Cursor.executemany(self, sql, seq_of_parameters)
        return self


def set_offloading(
    connection: Any, on: bool, *, deadline: float | None = None, inline_first: bool = True
) -> None:
    """Start (*on*) or end a heavy read on *connection*: its statements leave the event loop
    when they take long (see the module), and are interrupted past *deadline*.

    :param connection: a sqlite3 connection; an :class:`OffloadingConnection` offloads,
        another only gets the deadline.
    :param on: start the heavy read, or end it (no deadline, statements inline).
    :param deadline: a :func:`time.monotonic` time, or None for no statement timeout.
    :param inline_first: try statements inline first; False for those that may wait for a
        lock (``BEGIN IMMEDIATE``), which no instruction budget can interrupt.
    """
    if not on:
        deadline = None
    if isinstance(connection, OffloadingConnection):
        connection.offloading, connection.deadline = on, deadline
        connection.inline_first = inline_first
        connection.set_progress_handler(connection._progress if on else None, PROGRESS_STEPS)
    elif deadline is not None:
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
    else:
        connection.set_progress_handler(None, PROGRESS_STEPS)


def psycopg_connect(loop: EventLoop) -> Callable[..., Any]:
    """Return ``connect(*args, **kwargs)`` making psycopg connections that wait on *loop*.

    :param loop: the event loop to wait on when it is active.
    """
    import psycopg
    from psycopg import waiting

    wait_socket = loop.wait_socket

    class CooperativeConnection(psycopg.Connection[Any]):
        """A psycopg connection that parks its green thread while the server answers."""

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            if wait_socket is None or not loop.active():
                return super().wait(gen, interval=interval, timeout=timeout)
            if timeout is not None:
                return waiting.wait_select(gen, self.pgconn.socket, interval, timeout)
            fileno = self.pgconn.socket
            try:
                state = next(gen)
                while True:
                    wait_socket(fileno, read=bool(state & 1), write=bool(state & 2))
                    # Ready has Wait's values; "ready for what was asked" is safe even if only
                    # one of RW is: libpq's reads and writes here never block.
                    state = gen.send(waiting.Ready(state))
            except StopIteration as stop:
                return stop.value

    return CooperativeConnection.connect
