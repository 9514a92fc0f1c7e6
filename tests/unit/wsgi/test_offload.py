"""Sharing the event loop: the turn gate of heavy reads (ciweb.wsgi.offload.TurnGate)."""

from __future__ import annotations

from collections import Counter

import eventlet
import pytest

from ciweb.wsgi.offload import TurnGate


def _entries(gate: TurnGate, sections: int) -> list[int]:
    """Run *sections* green threads through *gate*; return the turn of the loop each
    entered in (a ticker that sleeps 0 counts the turns)."""
    turns, running, entered = [0], [True], []

    def ticker() -> None:
        while running[0]:
            turns[0] += 1
            eventlet.sleep(0)

    def section() -> None:
        with gate():
            entered.append(turns[0])  # no yield inside: it holds the loop, as a read does

    tick = eventlet.spawn(ticker)
    for thread in [eventlet.spawn(section) for _ in range(sections)]:
        thread.wait()
    running[0] = False
    tick.wait()
    return entered


def test_a_turn_gate_lets_size_sections_start_per_turn_of_the_loop():
    entered = _entries(TurnGate(2, active=lambda: True), 9)
    per_turn = Counter(entered)
    assert len(entered) == 9
    assert max(per_turn.values()) == 2
    assert len(per_turn) == 5  # 2 + 2 + 2 + 2 + 1


def test_off_the_event_loop_the_gate_is_open():
    entered = _entries(TurnGate(2, active=lambda: False), 9)
    assert len(set(entered)) == 1


def test_a_turn_gate_needs_a_place():
    with pytest.raises(ValueError, match="at least 1"):
        TurnGate(0)
