"""Graceful stop on SIGTERM: finish in-flight requests, refuse new ones, close idle ones."""

from __future__ import annotations

import socket
import time

import pytest

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection, get


def refused_within(port: int, timeout: float) -> float:
    """Return the seconds until connecting to *port* is refused; fail after *timeout*."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except ConnectionRefusedError:
            return time.monotonic() - started
        time.sleep(0.01)
    pytest.fail(f"port {port} still accepted connections after {timeout} s")


def start_slow(port: int, seconds: float) -> Connection:
    conn = Connection(port, timeout=10)
    conn.send(get(f"/slow?seconds={seconds}"))
    # The first part of the body proves the request is in flight.
    while b"slow-first|" not in conn.buffer:
        assert conn._fill(time.monotonic() + 5)
    return conn


def test_an_in_flight_request_completes_and_new_connections_are_refused() -> None:
    with ServerProcess(limits={"keepalive_timeout": 30.0}, graceful_timeout=10.0) as proc:
        with start_slow(proc.port, 1.0) as conn:
            proc.terminate()
            assert refused_within(proc.port, 1.0) < 1.0
            response = conn.read_response()
            assert (response.status, response.body) == (200, b"slow-first|slow-last")
            conn.assert_closed()
        assert proc.wait(5) == 0


def test_idle_keep_alive_connections_are_closed_at_once() -> None:
    with ServerProcess(limits={"keepalive_timeout": 30.0}) as proc:
        with Connection(proc.port) as idle:
            idle.send(get())
            assert idle.read_response().status == 200
            started = time.monotonic()
            proc.terminate()
            assert idle.read_all() == b""
            # Far below the 30 s keep-alive timeout, with room for two busy cores.
            assert time.monotonic() - started < 5.0
        assert proc.wait(5) == 0


def test_requests_still_running_after_the_graceful_timeout_are_cut() -> None:
    with ServerProcess(graceful_timeout=0.5) as proc:
        with start_slow(proc.port, 30.0) as conn:
            started = time.monotonic()
            proc.terminate()
            rest = conn.read_all()
            elapsed = time.monotonic() - started
        assert b"slow-last" not in rest
        assert 0.4 <= elapsed < 5.0  # far below the 30 s the request would take
        assert proc.wait(5) == 0
