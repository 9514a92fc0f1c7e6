"""Unit tests of :mod:`ciweb.wsgi.connections`: states in order, the victim, parked heads."""

from __future__ import annotations

from ciweb.wsgi.connections import (
    STATE_CLOSE,
    STATE_HEAD,
    STATE_IDLE,
    STATE_NEW,
    STATE_REQUEST,
    STATE_UPGRADED,
    ConnectionTable,
    ParkedHeads,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def table_of(clock: Clock) -> ConnectionTable:
    return ConnectionTable(clock=clock)


def test_connections_move_between_states_in_order_of_entry() -> None:
    clock = Clock()
    table = table_of(clock)
    a, b, c = (table.add(("127.0.0.1", port), object()) for port in (1, 2, 3))
    assert (len(table), table.count(STATE_NEW), table.oldest(STATE_NEW)) == (3, 3, a)
    for conn in (a, b, c):
        table.set_state(conn, STATE_IDLE)
    assert table.oldest(STATE_IDLE) is a
    table.set_state(a, STATE_HEAD)
    table.set_state(a, STATE_IDLE)  # idle again: now the youngest idle one
    assert table.oldest(STATE_IDLE) is b
    table.set_state(b, STATE_CLOSE)
    assert table.oldest(STATE_IDLE) is c
    assert (len(table), table.count(STATE_IDLE), list(table)) == (2, 2, [c, a])
    table.remove(c)
    assert table.in_states(frozenset({STATE_IDLE})) == [a]


def test_the_victim_is_a_slow_head_then_an_idle_connection_then_any_head() -> None:
    clock = Clock()
    table = table_of(clock)
    busy, upgraded, idle, head = (table.add(("h", n), object()) for n in range(4))
    table.set_state(busy, STATE_REQUEST)
    table.set_state(upgraded, STATE_UPGRADED)
    assert table.victim(slow_head=1.0) is None  # clients being served are never chosen
    table.set_state(head, STATE_HEAD)
    assert table.victim(slow_head=1.0) is head  # the only candidate
    table.set_state(idle, STATE_IDLE)
    assert table.victim(slow_head=1.0) is idle  # a young head waits behind idle ones
    clock.now += 1.0
    assert table.victim(slow_head=1.0) is head  # a slow one goes first


def test_parked_heads_leave_at_their_deadline_or_beyond_the_limit() -> None:
    parked = ParkedHeads(limit=2)
    assert parked.add("a", b"408a", 10.0) == []
    assert parked.add("b", b"408b", 5.0) == []
    assert parked.next_deadline() == 5.0
    # Over the limit: the one nearest its deadline is closed now.
    assert parked.add("c", b"408c", 20.0) == [("b", b"408b")]
    assert parked.due(9.0) == []
    assert parked.due(10.0) == [("a", b"408a")]
    assert len(parked) == 1
    assert parked.clear() == [("c", b"408c")]
    assert (len(parked), parked.next_deadline()) == (0, None)
