"""Tests of ciweb.api.controllers.tenants: /api/tenants and tenant-status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import webob

from ciweb.api.app import app_factory
from ciweb.api.auth import mint_token
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


SECRET = "tenants-secret-" + "s" * 32
ISSUER = "https://issuer.example"


def protected_app(demo_url: str, tmp_path: Path, protected: str) -> Faults:
    conf = tmp_path / "ciweb.conf"
    conf.write_text(
        f"[auth]\nauthenticators = ci\nread_protected_tenants = {protected}\n"
        f"[auth_ci]\nissuer_id = {ISSUER}\nclient_id = ciweb\nsecret = {SECRET}\n"
    )
    return Faults(app_factory({"config_file": str(conf)}, connection=demo_url))


def bearer(**rights: Any) -> dict[str, str]:
    value = mint_token(issuer=ISSUER, audience="ciweb", subject="u", key=SECRET, rights=rights)
    return {"Authorization": f"Bearer {value}"}


def names(response: webob.Response) -> list[str]:
    assert response.status_code == 200, response.body[:200]
    return [t["name"] for t in response.json]


def test_a_protected_tenant_list_needs_a_token(demo_url: str, tmp_path: Path) -> None:
    response = get(protected_app(demo_url, tmp_path, "*"), "/api/tenants")
    assert response.status_code == 401
    assert response.json["error"] == "MissingAuthError"


def test_a_protected_tenant_list_shows_only_the_tenants_the_token_reads(
    demo_url: str, tmp_path: Path
) -> None:
    app = protected_app(demo_url, tmp_path, "*")
    assert names(get(app, "/api/tenants", headers=bearer(read=[OTHER]))) == [OTHER]
    assert names(get(app, "/api/tenants", headers=bearer(report=[TENANT]))) == [TENANT]
    assert names(get(app, "/api/tenants", headers=bearer(read=["nope"]))) == []
    assert names(get(app, "/api/tenants", headers=bearer(admin="*"))) == [TENANT, OTHER]


def test_a_tenant_protected_alone_is_listed_only_to_a_token_that_reads_it(
    demo_url: str, tmp_path: Path
) -> None:
    app = protected_app(demo_url, tmp_path, OTHER)
    assert names(get(app, "/api/tenants")) == [TENANT]
    assert names(get(app, "/api/tenants", headers=bearer(read=[OTHER]))) == [TENANT, OTHER]
    # The list is open: a bad token is no token, not a 401.
    bad = {"Authorization": "Bearer x.y.z"}
    assert names(get(app, "/api/tenants", headers=bad)) == [TENANT]
