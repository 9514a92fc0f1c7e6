"""Tests of ciweb.api.controllers.empty: endpoints without data answer empty."""

from __future__ import annotations

import pytest

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get

EMPTY = [
    "labels",
    "nodes",
    "semaphores",
    "system-events",
    "nodeset-requests",
    "providers",
    "images",
    "flavors",
]


@pytest.mark.parametrize("suffix", EMPTY)
def test_a_known_tenant_gets_an_empty_list(app: Faults, suffix: str) -> None:
    response = get(app, f"{T}/{suffix}")
    assert response.status_code == 200
    assert response.json == []


@pytest.mark.parametrize("suffix", EMPTY)
def test_an_unknown_tenant_is_404(app: Faults, suffix: str) -> None:
    assert error_of(get(app, f"/api/tenant/nope/{suffix}")) == "Unknown tenant"


def test_components_and_connections_without_connection_groups_are_empty(app: Faults) -> None:
    assert get(app, "/api/components").json == {}
    assert get(app, "/api/connections").json == []
