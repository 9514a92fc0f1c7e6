"""Test servers, each in a child process, shared per session and per configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.apps import ServerProcess

# Small limits keep the boundary tests cheap; every limit is "the smallest size refused".
LIMITS = {
    "max_request_line": 256,
    "max_header_line": 128,
    "max_header_fields": 8,
    "max_header_size": 512,
    "max_body_size": 1000,
    "header_timeout": 1.0,
    "keepalive_timeout": 1.0,
    "client_socket_timeout": 2.0,
}


@pytest.fixture(scope="session")
def access_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the file the strict server's access log goes to."""
    return tmp_path_factory.mktemp("access") / "access.log"


@pytest.fixture(scope="session")
def server(access_log: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Return a server with the small :data:`LIMITS` and a custom access log format."""
    stderr = tmp_path_factory.mktemp("server") / "stderr.log"
    options = {
        "limits": LIMITS,
        "access_log_file": str(access_log),
        "access_log_format": "ACCESS %(client_ip)s %(request_line)s %(status_code)s "
        "%(body_length)s",
        "tcp_keepalive": [77, 11, 5],
    }
    with ServerProcess(**options).start(stderr) as proc:
        yield proc


@pytest.fixture(scope="session")
def validating() -> Iterator[ServerProcess]:
    """Return a server with default limits whose app is wrapped in ``wsgiref.validate``."""
    limits = {"header_timeout": 2.0, "keepalive_timeout": 2.0}
    with ServerProcess(limits=limits, validate=True) as proc:
        yield proc


@pytest.fixture(scope="session")
def no_keepalive() -> Iterator[ServerProcess]:
    """Return a server with keep-alive off."""
    with ServerProcess(limits={"header_timeout": 2.0}, keepalive=False) as proc:
        yield proc
