"""Fixtures of the functional tests: a real ZooKeeper, shared by every test that needs one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from tests.functional import zookeeper_server
from tests.functional.zookeeper_server import ZooKeeperServer
from tests.services import missing


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeperServer]:
    """Run one ZooKeeper (tickTime 500 ms, sessions from 1 s) for the whole session."""
    reason = zookeeper_server.available()
    if reason is not None:
        missing(f"no ZooKeeper server ({reason})", "tools/install-system-deps")
    with ZooKeeperServer(tick_time=500, min_session_timeout=1000) as server:
        yield server


@pytest.fixture
def zk_client(zookeeper: ZooKeeperServer) -> Iterator[KazooClient]:
    """Return a connected client whose long session outlives short ZooKeeper freezes."""
    client = KazooClient(hosts=zookeeper.hosts, timeout=15.0)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()
