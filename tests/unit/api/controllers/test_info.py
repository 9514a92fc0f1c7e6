"""Tests of ciweb.api.controllers.info: /api, /api/info and /api/tenant/{t}/info."""

from __future__ import annotations

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import OTHER, TENANT, T, get


def test_info_has_every_key_the_dashboard_needs(app: Faults) -> None:
    response = get(app, "/api/info")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    info = response.json["info"]
    auth = info["capabilities"]["auth"]
    assert info["capabilities"]["job_history"] is True
    assert auth == {
        "realms": {},
        "default_realm": None,
        "read_protected": False,
        "auth_log_file_requests": False,
    }
    assert info["websocket_url"] is None
    assert info["stats"]["type"] == "graphite"
    assert "tenant" not in info


def test_info_is_the_same_bytes_every_time(app: Faults) -> None:
    assert get(app, "/api/info").body == get(app, "/api/info").body


def test_tenant_info_of_a_known_tenant_names_it_and_adds_niz(app: Faults) -> None:
    info = get(app, f"{T}/info").json["info"]
    assert info["tenant"] == TENANT
    # The demo tenant has nodepool-in-zuul providers; the other tenant has none.
    assert info["capabilities"]["auth"]["niz"] is True
    other = get(app, f"/api/tenant/{OTHER}/info").json["info"]
    assert other["capabilities"]["auth"]["niz"] is False


def test_tenant_info_of_an_unknown_tenant_is_200_as_in_zuul(app: Faults) -> None:
    response = get(app, "/api/tenant/nope/info")
    assert response.status_code == 200
    info = response.json["info"]
    assert info["tenant"] == "nope"
    assert "niz" not in info["capabilities"]["auth"]


def test_the_api_root_is_a_map_of_route_templates(app: Faults) -> None:
    body = get(app, "/api").json
    assert body["tenant_info"] == "/api/tenant/{tenant}/info"
    assert len(body) > 20
    assert [k for k, v in body.items() if not v.startswith("/api/")] == []
