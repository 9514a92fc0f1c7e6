"""The connections of one server by state, oldest first: who gives up a slot in a full pool.

A green pool of ``pool_size`` threads serves one connection per thread.  When it is full,
the server admits a new client by closing a connection that is waiting on its client
rather than working for it (see :meth:`ConnectionTable.victim` and the README's "When the
pool is full").  Finding that connection must not cost a scan of every connection per
accept (5,000 idle keep-alive connections are normal), so each state keeps its
connections in an :class:`~collections.OrderedDict` in the order they entered it: the
oldest of a state is its first entry, and a state change is a move between two dicts,
all O(1).  This module knows nothing of eventlet; the server and protocol drive it.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "STATES",
    "STATE_CLOSE",
    "STATE_CLOSING",
    "STATE_HEAD",
    "STATE_IDLE",
    "STATE_NEW",
    "STATE_REQUEST",
    "STATE_UPGRADED",
    "Connection",
    "ConnectionTable",
    "ParkedHeads",
]

# Accepted; its green thread has not run yet (it cannot be told to stop before it runs).
STATE_NEW = "new"
# Reading a request head: a new connection's TLS handshake and first head, or a later head
# on a keep-alive connection, from its first byte.  A legitimate client sends a head in
# one round trip; a head that takes long is a slow or hostile client.
STATE_HEAD = "head"
# The head is read: the application runs, the body and the response move.
STATE_REQUEST = "request"
# Keep-alive: waiting for the first byte of the next request.
STATE_IDLE = "idle"
# An application took the connection over (eventlet.websocket): its client is active.
STATE_UPGRADED = "upgraded"
# Refused or told to make room: writing its last bytes (a 408, say) before it closes.
STATE_CLOSING = "closing"
# Finished: the socket is closed.
STATE_CLOSE = "close"
STATES = (STATE_NEW, STATE_HEAD, STATE_REQUEST, STATE_IDLE, STATE_UPGRADED, STATE_CLOSING)


class Connection:
    """One accepted client connection.

    :param address: the client's address as ``accept()`` returned it.
    :param sock: the accepted socket (replaced by the TLS socket after a handshake).
    :param since: monotonic time the connection entered its current state.
    """

    __slots__ = ("address", "greenthread", "since", "socket", "state")

    def __init__(self, address: Any, sock: Any, since: float) -> None:
        self.address = address
        self.socket = sock
        self.state = STATE_NEW
        self.since = since
        self.greenthread: Any = None

    def __repr__(self) -> str:
        return f"<Connection {self.address!r} {self.state}>"


class ConnectionTable:
    """The open connections of one server, by state, each state in order of entry.

    :param clock: the monotonic clock that stamps state changes.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._states: dict[str, OrderedDict[Connection, None]] = {s: OrderedDict() for s in STATES}

    def add(self, address: Any, sock: Any) -> Connection:
        """Record a connection just accepted (state ``new``) and return it.

        :param address: the client's address.
        :param sock: the accepted socket.
        """
        conn = Connection(address, sock, self.clock())
        self._states[STATE_NEW][conn] = None
        return conn

    def set_state(self, conn: Connection, state: str) -> None:
        """Move *conn* to *state* (to the end of its order); ``close`` forgets it.

        :param conn: a connection of this table.
        :param state: one of :data:`STATES` or :data:`STATE_CLOSE`.
        """
        old = self._states.get(conn.state)
        if old is not None:
            old.pop(conn, None)
        conn.state = state
        conn.since = self.clock()
        if state != STATE_CLOSE:
            self._states[state][conn] = None

    def remove(self, conn: Connection) -> None:
        """Forget *conn* (its green thread ended), whatever its state."""
        states = self._states.get(conn.state)
        if states is not None:
            states.pop(conn, None)

    def oldest(self, state: str) -> Connection | None:
        """Return the connection that has been in *state* longest, or None."""
        for conn in self._states[state]:
            return conn
        return None

    def count(self, state: str) -> int:
        """Return the number of connections in *state*."""
        return len(self._states[state])

    def in_states(self, states: frozenset[str]) -> list[Connection]:
        """Return the connections in any of *states* (a copy, safe to act on)."""
        return [conn for state in states for conn in self._states[state]]

    def victim(self, slow_head: float) -> Connection | None:
        """Return the connection to close so that a new client gets a slot, or None.

        In this order: the oldest request head still arriving after *slow_head* seconds
        (a slow client: slowloris); else the oldest idle keep-alive connection (RFC 9112
        §9.6 lets a server close one at any time; the oldest is the least likely to be
        reused soon); else the oldest request head.  A connection whose request is in
        progress, or that was taken over (a websocket), is never chosen: its client is
        being served.  The server sets a chosen head aside (:class:`ParkedHeads`) and
        closes a chosen idle connection.

        :param slow_head: seconds after which a request head counts as slow.
        """
        head = self.oldest(STATE_HEAD)
        if head is not None and self.clock() - head.since >= slow_head:
            return head
        return self.oldest(STATE_IDLE) or head

    def __len__(self) -> int:
        return sum(len(conns) for conns in self._states.values())

    def __iter__(self) -> Iterator[Connection]:
        return iter([conn for conns in self._states.values() for conn in conns])


class ParkedHeads:
    """Request heads taken out of a full pool: open sockets without a thread, to a deadline.

    Closing a head to give its slot to a new client would send its client (slowloris
    reconnects at once) straight back to the listen queue, where it takes the next slot
    and crowds out fresh clients: measured, 1,000 reconnections a second and a p99 of 5 s
    for fresh clients.  Kept open and unread, it costs a descriptor and some kernel buffer
    but no green thread, and it gets the answer it would have got anyway: a 408 at its head
    deadline.  A head in a full pool is one whose client has not sent it in one go (a
    complete head is read at once), so it is a slow client's.  At most *limit* are kept;
    beyond, the one nearest its deadline goes first.

    :param limit: the most sockets kept.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._heap: list[tuple[float, int, Any, bytes]] = []
        self._order = itertools.count()

    def add(self, sock: Any, answer: bytes, deadline: float) -> list[tuple[Any, bytes]]:
        """Keep *sock* until *deadline*; return the (socket, answer) pairs to close now.

        :param sock: the connection's socket, no longer read by anyone.
        :param answer: the bytes to send it at its deadline (a 408).
        :param deadline: monotonic time of its head deadline.
        """
        heapq.heappush(self._heap, (deadline, next(self._order), sock, answer))
        over = []
        while len(self._heap) > self.limit:
            _deadline, _n, old, old_answer = heapq.heappop(self._heap)
            over.append((old, old_answer))
        return over

    def due(self, now: float) -> list[tuple[Any, bytes]]:
        """Remove and return the (socket, answer) pairs whose deadline is past."""
        expired = []
        while self._heap and self._heap[0][0] <= now:
            _deadline, _n, sock, answer = heapq.heappop(self._heap)
            expired.append((sock, answer))
        return expired

    def next_deadline(self) -> float | None:
        """Return the earliest deadline, None when none is kept."""
        return self._heap[0][0] if self._heap else None

    def clear(self) -> list[tuple[Any, bytes]]:
        """Remove and return every (socket, answer) pair."""
        pairs = [(sock, answer) for _d, _n, sock, answer in self._heap]
        self._heap.clear()
        return pairs

    def __len__(self) -> int:
        return len(self._heap)
