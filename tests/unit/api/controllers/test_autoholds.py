"""Tests of ciweb.api.controllers.autoholds."""

from __future__ import annotations

import pytest

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import OTHER, TENANT, T, error_of, get


def test_autoholds_have_the_keys_zuul_client_reads(app: Faults) -> None:
    response = get(app, f"{T}/autohold")
    body = response.json
    assert response.headers["X-Total-Count"] == "1"
    assert body[0]["id"] == "0000000001"
    assert body[0]["tenant"] == TENANT
    for key in (
        "project",
        "job",
        "ref_filter",
        "max_count",
        "current_count",
        "reason",
        "node_expiration",
        "expired",
        "nodes",
    ):
        assert key in body[0]


@pytest.mark.parametrize(
    ("project", "count"), [("project1", 1), ("example/project1", 1), ("project2", 0)]
)
def test_the_project_parameter_matches_the_end_of_the_name(
    app: Faults, project: str, count: int
) -> None:
    assert len(get(app, f"{T}/autohold?project={project}").json) == count


@pytest.mark.parametrize("hold", ["1", "0000000001", "01"])
def test_one_autohold_by_its_padded_or_plain_id(app: Faults, hold: str) -> None:
    found = get(app, f"{T}/autohold/{hold}").json
    assert found["reason"].startswith("Debug")
    assert found["id"] == "0000000001"


@pytest.mark.parametrize("hold", ["2", "0000000002", "x", "99"])
def test_another_tenants_or_a_missing_autohold_is_404(app: Faults, hold: str) -> None:
    response = get(app, f"{T}/autohold/{hold}")
    assert response.status_code == 404
    assert error_of(response) == f"Hold request {hold} not found."
    assert get(app, f"/api/tenant/{OTHER}/autohold/2").json["reason"] == "other's"


def test_the_autoholds_of_one_project(app: Faults) -> None:
    response = get(app, f"{T}/project/example/project1/autohold")
    assert [h["id"] for h in response.json] == ["0000000001"]
    assert response.headers["X-Total-Count"] == "1"
    assert get(app, f"{T}/project/example/project2/autohold").json == []
    assert error_of(get(app, f"{T}/project/nope/autohold")) == "Unknown project"


@pytest.mark.parametrize(
    ("segment", "hold"), [("%C2%B2", "\u00b2"), ("9" * 23, "9" * 23), ("9" * 18, "9" * 18)]
)
def test_an_autohold_id_that_cannot_exist_is_404(app: Faults, segment: str, hold: str) -> None:
    response = get(app, f"{T}/autohold/{segment}")
    assert response.status_code == 404
    assert error_of(response) == f"Hold request {hold} not found."
