"""When the pool is full: a new client takes the slot of one waiting connection, the right one.

The order (README, "When the pool is full"): the oldest request head arriving for over a
second (set aside, unread, until its deadline), else the oldest idle keep-alive connection,
else the oldest request head (answered 408).  One connection per new client, never a
connection whose request is in progress.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ciweb.wsgi.server import Server
from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection, get
from tests.functional.wsgi.slowloris import SlowHeads, fresh_request

# Long deadlines: whatever the tests see happen well before any of them.
LIMITS = {"header_timeout": 10.0, "keepalive_timeout": 30.0}


@pytest.fixture
def three() -> Iterator[ServerProcess]:
    """A server of three green threads (one per test: no connection of another test left)."""
    with ServerProcess(limits=LIMITS, pool_size=3) as proc:
        yield proc


def served(conn: Connection) -> bool:
    conn.send(get())
    return conn.read_response().status == 200


def test_a_new_client_closes_only_the_oldest_idle_connection(three: ServerProcess) -> None:
    idle = [Connection(three.port) for _ in range(3)]
    try:
        for conn in idle:
            assert served(conn)
        started = time.monotonic()
        with Connection(three.port) as new:
            assert served(new)
            elapsed = time.monotonic() - started
            assert idle[0].read_all() == b""
            # The two younger idle connections were left alone and still serve requests.
            assert served(idle[1]) and served(idle[2])
        # Far below the 30 s keep-alive timeout.
        assert elapsed < 2.0
    finally:
        for conn in idle:
            conn.close()


def test_a_slow_head_is_set_aside_before_an_idle_connection_and_answered_408_at_its_deadline(
    tmp_path: Path,
) -> None:
    limits = {**LIMITS, "header_timeout": 3.0}
    with ServerProcess(limits=limits, pool_size=3).start(tmp_path / "stderr") as proc:
        with Connection(proc.port) as slow, Connection(proc.port) as idle:
            accepted = time.monotonic()
            assert served(idle)
            with Connection(proc.port) as other:
                assert served(other)
                slow.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
                # The head has been arriving for longer than Server.slow_head.
                time.sleep(Server.slow_head + 0.2)
                with Connection(proc.port) as new:
                    assert served(new)
                    # The slow head left the pool (3 green threads: idle, other, new) but
                    # is neither answered nor closed before its deadline: its client does
                    # not come back at once for another slot.
                    assert served(idle) and served(other)
                    assert not select.select([slow.sock], [], [], 0)[0]
                    refusal = slow.read_response()
                    waited = time.monotonic() - accepted
        assert (refusal.status, refusal.header("Connection")) == (408, "close")
        assert 3.0 * 0.8 <= waited < 3.0 + 1.5
    log = (tmp_path / "stderr").read_text()
    assert "pool of 3 full: 1 request head(s) set aside until their deadline" in log


def test_without_idle_connections_the_oldest_head_gives_its_slot() -> None:
    with ServerProcess(limits={**LIMITS, "header_timeout": 3.0}, pool_size=3) as proc:
        heads = [Connection(proc.port) for _ in range(3)]
        try:
            for conn in heads:
                conn.send(b"GET / HTTP/1.1\r\n")
            accepted = time.monotonic()
            with Connection(proc.port) as new:
                assert served(new)
            assert time.monotonic() - accepted < 2.0  # not the 3 s head deadline
            # The younger heads keep their slots and are served once they are complete.
            for conn in heads[1:]:
                conn.send(b"Host: t\r\n\r\n")
                assert conn.read_response().status == 200
            # The oldest was set aside, unread: its answer is the 408 at its deadline.
            assert heads[0].read_response().status == 408
            assert time.monotonic() - accepted >= 3.0 * 0.8
        finally:
            for conn in heads:
                conn.close()


def test_a_request_in_progress_is_never_closed_to_make_room(three: ServerProcess) -> None:
    busy = [Connection(three.port, timeout=10) for _ in range(3)]
    try:
        for conn in busy:
            conn.send(get("/slow?seconds=1.5"))
        for conn in busy:
            while b"slow-first|" not in conn.buffer:
                assert conn._fill(time.monotonic() + 5)
        # The new client waits for a free slot instead (fresh_request checks its 200).
        fresh_request(three.port, timeout=10)
        for conn in busy:
            response = conn.read_response()
            assert (response.status, response.body) == (200, b"slow-first|slow-last")
    finally:
        for conn in busy:
            conn.close()


@pytest.mark.slow
def test_fresh_clients_are_served_promptly_during_a_slow_head_attack(tmp_path: Path) -> None:
    # The attack scaled down: twice as many slow heads as green threads, each
    # sending one byte every 0.2 s and reconnecting when closed.  Without the policy a
    # fresh client waits for a head deadline (10 s); with it, for one accept.
    server = ServerProcess(limits=LIMITS, pool_size=20).start(tmp_path / "stderr")
    with server, SlowHeads(server.port, count=40, interval=0.2) as attack:
        deadline = time.monotonic() + 10
        while attack.open < 40 or attack.connects < 40:
            assert time.monotonic() < deadline, "the attack never opened its connections"
            time.sleep(0.05)
        # The excess heads are set aside, not closed: their clients do not come straight
        # back (with a 408 at once, each would reconnect and push out another, endlessly).
        connects = attack.connects
        time.sleep(1.0)
        assert attack.connects - connects < 10, (connects, attack.connects, attack.answers)
        waits = [fresh_request(server.port, timeout=9) for _ in range(20)]
    # Generous for two busy cores; bench/slowloris.py measures the p99 at full scale.
    assert max(waits) < 3.0, sorted(waits)
    assert "request head(s) set aside until their deadline" in (tmp_path / "stderr").read_text()


def test_a_graceful_stop_answers_the_heads_set_aside_at_once() -> None:
    with ServerProcess(limits=LIMITS, pool_size=1) as proc:
        with Connection(proc.port) as slow:
            slow.send(b"GET / HTTP/1.1\r\n")
            with Connection(proc.port) as new:
                assert served(new)  # the head was set aside to admit it
                stopping = time.monotonic()
                proc.terminate()
                assert slow.read_response().status == 408
                assert time.monotonic() - stopping < 2.0  # not its 10 s deadline
        assert proc.wait(10) == 0
