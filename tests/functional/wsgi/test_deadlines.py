"""Deadlines: a total one for the request head, an idle keep-alive one, and a full pool."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator

import pytest

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection, get

HEAD_TIMEOUT = 0.5
# Room for a server process that two busy cores (pytest -n auto) schedule late; still far
# below what the tests would take without the deadline (the slowloris client sends for 13 s).
LATE = 4.0


@pytest.fixture(scope="module")
def quick() -> Iterator[ServerProcess]:
    """A server with half-second head and keep-alive deadlines."""
    limits = {"header_timeout": HEAD_TIMEOUT, "keepalive_timeout": HEAD_TIMEOUT}
    with ServerProcess(limits=limits) as proc:
        yield proc


@pytest.fixture(scope="module")
def small_pool() -> Iterator[ServerProcess]:
    """A server of two green threads with a long keep-alive and a 1 s head deadline."""
    limits = {"header_timeout": 1.0, "keepalive_timeout": 30.0}
    with ServerProcess(limits=limits, pool_size=2) as proc:
        yield proc


def closed_after(conn: Connection) -> tuple[bytes, float]:
    started = time.monotonic()
    data = conn.read_all()
    return data, time.monotonic() - started


def assert_timed_out(conn: Connection) -> None:
    """Assert the README's promise: a 408 with its reason, then the connection closes."""
    response = conn.read_response()
    assert response.status_line == "HTTP/1.1 408 Request Timeout"
    assert response.body == b"request head not received in time\n"
    assert response.header("Connection") == "close"
    conn.assert_closed()


def test_a_slowloris_client_is_cut_at_the_head_deadline(quick: ServerProcess) -> None:
    head = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Slow: " + b"s" * 100
    with Connection(quick.port) as conn:
        started = time.monotonic()
        for byte in head:
            # One byte every 0.1 s: each recv is quick; only a total deadline ends this.
            readable, _, _ = select.select([conn.sock], [], [], 0.1)
            if readable:
                break
            try:
                conn.send(bytes([byte]))
            except OSError:
                break
        assert_timed_out(conn)
        elapsed = time.monotonic() - started
    assert HEAD_TIMEOUT * 0.8 <= elapsed < HEAD_TIMEOUT + LATE


def test_a_silent_client_is_closed_at_the_head_deadline(quick: ServerProcess) -> None:
    with Connection(quick.port) as conn:
        started = time.monotonic()
        assert_timed_out(conn)
        elapsed = time.monotonic() - started
    assert HEAD_TIMEOUT * 0.8 <= elapsed < HEAD_TIMEOUT + LATE


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(
    quick: ServerProcess,
) -> None:
    with Connection(quick.port) as conn:
        conn.send(get())
        assert conn.read_response().status == 200
        data, elapsed = closed_after(conn)
    # RFC 9112 §9.3: an idle connection between requests is closed without an answer.
    assert data == b""
    assert HEAD_TIMEOUT * 0.8 <= elapsed < HEAD_TIMEOUT + LATE


def test_idle_keep_alive_connections_make_room_in_a_full_pool(small_pool: ServerProcess) -> None:
    idle = [Connection(small_pool.port) for _ in range(2)]
    try:
        for conn in idle:
            conn.send(get())
            assert conn.read_response().status == 200
        started = time.monotonic()
        with Connection(small_pool.port) as third:
            third.send(get())
            assert third.read_response().body == b"hello"
        # Far below the 30 s keep-alive timeout: the idle ones were closed to make room.
        assert time.monotonic() - started < LATE
    finally:
        for conn in idle:
            conn.close()


def test_a_full_pool_never_closes_a_taken_over_connection_to_make_room(
    small_pool: ServerProcess,
) -> None:
    # A websocket viewer is an active client, not an idle keep-alive connection.
    with Connection(small_pool.port) as upgraded, Connection(small_pool.port) as idle:
        upgraded.send(get("/takeover"))
        assert upgraded.sock.recv(4096).startswith(b"HTTP/1.1 101 ")
        idle.send(get())
        assert idle.read_response().status == 200
        with Connection(small_pool.port) as third:
            third.send(get())
            assert third.read_response().body == b"hello"
        assert idle.read_all() == b""  # closed to make room
        upgraded.sock.sendall(b"still there\n")
        assert upgraded.sock.recv(4096) == b"still there\n"
        upgraded.sock.sendall(b"bye\n")
