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


def test_a_projects_pipelines_carry_full_job_dicts(app: Faults) -> None:
    from tests.unit.ci.test_shapes import JOB_KEYS

    config = get(app, f"{T}/project/example/project1").json["configs"][0]
    assert {"source_context", "default_branch", "merge_mode", "is_template", "templates",
            "queue_name", "pipelines"} <= set(config)  # fmt: skip
    check = next(p for p in config["pipelines"] if p["name"] == "check")
    jobs = {variants[0]["name"]: variants[0] for variants in check["jobs"]}
    assert all(set(job) >= JOB_KEYS for job in jobs.values())
    assert jobs["tox-py311"]["dependencies"] == [{"name": "tox-linters", "soft": False}]
