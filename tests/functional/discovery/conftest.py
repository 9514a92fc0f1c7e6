"""A real ZooKeeper for the discovery tests, and a kazoo client to look at it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from ciweb.discovery.zookeeper import Registration


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
