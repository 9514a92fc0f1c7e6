"""A real ZooKeeper for the discovery tests, and a kazoo client to look at it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from kazoo.client import KazooClient

from ciweb.discovery.zookeeper import Registration
from tests.functional import zookeeper_server
from tests.functional.zookeeper_server import ZooKeeperServer


@pytest.fixture(scope="session")
def zookeeper() -> Iterator[ZooKeeperServer]:
    """Run one ZooKeeper (tickTime 500 ms, sessions from 1 s) for the whole session."""
    reason = zookeeper_server.available()
    if reason is not None:
        pytest.skip(f"no ZooKeeper server: {reason}")
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


@pytest.fixture
def zk_path(request: pytest.FixtureRequest) -> str:
    """Return a registration path of this test's own."""
    return "/ciweb-test/" + re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name)


@pytest.fixture
def registrations() -> Iterator[Callable[..., Registration]]:
    """Return a Registration factory; every registration made is stopped afterwards."""
    made: list[Registration] = []

    def make(*args: object, **kwargs: object) -> Registration:
        kwargs.setdefault("session_timeout", 2.0)
        kwargs.setdefault("connect_timeout", 1.0)
        kwargs.setdefault("retry_max_delay", 0.5)
        registration = Registration(*args, **kwargs)  # type: ignore[arg-type]
        made.append(registration)
        return registration

    yield make
    for registration in made:
        registration.stop()
