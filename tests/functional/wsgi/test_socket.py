"""The listening socket: port 0, IPv6, TCP keepalive options and the backlog."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import request
from tests.services import missing


def test_port_0_reports_the_real_port(server: ServerProcess) -> None:
    assert server.port > 0
    response, conn = request(server.port, b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.close()
    assert json.loads(response.body)["environ"]["SERVER_PORT"] == str(server.port)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_a_server_binds_the_ipv6_loopback() -> None:
    if not ipv6_loopback():
        missing("this machine has no IPv6 loopback", "enable IPv6 on lo (::1)")
    with ServerProcess(host="::1") as proc:
        assert proc.host == "::1"
        response, conn = request(proc.port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", host="::1")
        conn.close()
    assert response.body == b"hello"


def test_accepted_connections_have_the_tcp_keepalive_options(server: ServerProcess) -> None:
    response, conn = request(server.port, b"GET /sockopt HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.close()
    options = json.loads(response.body)
    assert options["SO_KEEPALIVE"] != 0
    assert (options["TCP_KEEPIDLE"], options["TCP_KEEPINTVL"], options["TCP_KEEPCNT"]) == (
        77,
        11,
        5,
    )


def test_accepted_connections_have_nagle_off(server: ServerProcess) -> None:
    # With Nagle on, a write after the first one (the rest of a long body, the last
    # chunk) waits for the client's delayed ACK: 40 ms per response on Linux.
    response, conn = request(server.port, b"GET /sockopt HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.close()
    assert json.loads(response.body)["TCP_NODELAY"] != 0


def test_the_backlog_is_passed_to_listen() -> None:
    if shutil.which("ss") is None:
        missing("the ss command is missing", "apt-get install -y iproute2")
    with ServerProcess(backlog=37) as proc:
        out = subprocess.run(
            ["ss", "-ltnH", f"sport = :{proc.port}"], capture_output=True, text=True, check=True
        ).stdout
    # For a listening socket, ss shows the backlog as Send-Q (the third column).
    assert out.split()[2] == "37", out
