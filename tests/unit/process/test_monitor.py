"""Tests of the monitor port's line protocol over a real socket on 127.0.0.1:0."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from ciweb.process.monitor import MonitorConnection, MonitorServer, builtin_commands, parse_address


class Context:
    def stats(self) -> dict[str, Any]:
        return {"requests": 3, "in_flight": 1, "workers": []}

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}


def echo(connection: MonitorConnection, *words: str) -> None:
    """Echo the arguments."""
    connection.write(" ".join(words) + "\n")


def boom(connection: MonitorConnection) -> None:
    """Fail."""
    raise RuntimeError("kaput")


@pytest.fixture
def monitor() -> Iterator[MonitorServer]:
    commands = {**builtin_commands(), "echo": echo, "boom": boom}
    server = MonitorServer(Context(), host="127.0.0.1", port=0, commands=commands)
    server.start()
    yield server
    server.stop()


def ask(monitor: MonitorServer, line: bytes) -> str:
    with socket.create_connection(monitor.address, timeout=5) as sock:
        sock.sendall(line)
        data = b""
        while chunk := sock.recv(4096):  # the server closes after one command
            data += chunk
    return data.decode()


def test_stats_and_health_print_the_context_as_json(monitor: MonitorServer) -> None:
    assert json.loads(ask(monitor, b"stats\n")) == Context().stats()
    assert json.loads(ask(monitor, b"health\r\n")) == {"status": "ok"}


def test_help_lists_every_command_with_its_summary(monitor: MonitorServer) -> None:
    answer = ask(monitor, b"help\n")
    for name in ("echo", "health", "help", "stats", "version"):
        assert name in answer
    assert "Echo the arguments." in answer
    assert ask(monitor, b"help echo\n") == "echo: Echo the arguments.\n"


def test_words_after_the_command_are_its_arguments(monitor: MonitorServer) -> None:
    assert ask(monitor, b"echo a b\n") == "a b\n"


def test_unknown_commands_bad_arguments_and_failures_are_answered(monitor: MonitorServer) -> None:
    assert ask(monitor, b"nope\n") == "Invalid command 'nope'\nTry 'help'.\n"
    assert ask(monitor, b"version extra\n").startswith("Bad arguments for 'version'")
    assert ask(monitor, b"boom\n") == "Error: RuntimeError('kaput')\n"


def test_parse_address_defaults_the_host_to_loopback() -> None:
    assert parse_address(":0") == ("127.0.0.1", 0)
    assert parse_address("[::1]:8081") == ("::1", 8081)
    with pytest.raises(ValueError, match="not host:port"):
        parse_address("localhost")
    with pytest.raises(ValueError, match="brackets"):
        parse_address("::1:8081")
    with pytest.raises(ValueError, match="0-65535"):
        parse_address("127.0.0.1:65536")
