"""Tests of ciweb.api.controllers.projects: the project list and one project."""

from __future__ import annotations

import pytest

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get


def test_projects_are_sorted_with_their_type(app: Faults) -> None:
    body = get(app, f"{T}/projects").json
    assert [p["name"] for p in body] == sorted(p["name"] for p in body)
    assert body[0] == {
        "name": "example/config",
        "connection_name": "gerrit",
        "canonical_name": "review.example.org/example/config",
        "type": "config",
    }


@pytest.mark.parametrize("name", ["example/project1", "review.example.org/example/project1"])
def test_a_project_is_found_by_short_or_canonical_name(app: Faults, name: str) -> None:
    body = get(app, f"{T}/project/{name}").json
    assert body["canonical_name"] == "review.example.org/example/project1"
    assert body["metadata"]["default_branch"] == "master"
    assert body["configs"][0]["pipelines"][0]["jobs"]


def test_an_unknown_project_is_404_unknown_project(app: Faults) -> None:
    response = get(app, f"{T}/project/nope/nope")
    assert response.status_code == 404
    assert error_of(response) == "Unknown project"
