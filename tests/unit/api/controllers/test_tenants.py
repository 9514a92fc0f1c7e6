"""Tests of ciweb.api.controllers.tenants: /api/tenants and tenant-status."""

from __future__ import annotations

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import OTHER, TENANT, T, error_of, get


def test_tenants_are_names_sorted(app: Faults) -> None:
    assert get(app, "/api/tenants").json == [{"name": TENANT}, {"name": OTHER}]


def test_tenant_status_counts_the_configuration_errors(app: Faults) -> None:
    assert get(app, f"{T}/tenant-status").json == {"config_error_count": 3}
    assert get(app, f"/api/tenant/{OTHER}/tenant-status").json == {"config_error_count": 0}


def test_tenant_status_of_an_unknown_tenant_is_404(app: Faults) -> None:
    response = get(app, "/api/tenant/nope/tenant-status")
    assert response.status_code == 404
    assert error_of(response) == "Unknown tenant"
