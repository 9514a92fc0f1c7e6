"""Tests of ciweb.api.controllers.pipelines."""

from __future__ import annotations

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get


def test_pipelines_have_names_and_triggers(app: Faults) -> None:
    body = get(app, f"{T}/pipelines").json
    assert [p["name"] for p in body] == ["check", "gate", "post", "periodic"]
    assert body[0]["triggers"] == [{"name": "gerrit", "driver": "gerrit"}]


def test_pipelines_of_an_unknown_tenant_are_404(app: Faults) -> None:
    assert error_of(get(app, "/api/tenant/nope/pipelines")) == "Unknown tenant"
