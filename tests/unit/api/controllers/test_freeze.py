"""Tests of ciweb.api.controllers.freeze: freeze-jobs, freeze-job and freeze-pipeline over the
demo's reported job graphs, with slashes in project and branch names."""

from __future__ import annotations

import json

import pytest

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get

GRAPH = f"{T}/pipeline/check/project/{{project}}/branch/{{branch}}/freeze-jobs"


@pytest.mark.parametrize("project", ["example/project1", "review.example.org/example/project1"])
@pytest.mark.parametrize("branch", ["master", "stable/2024.1"])
def test_freeze_jobs_takes_slashes_in_project_and_branch(app: Faults, project, branch) -> None:
    response = get(app, GRAPH.format(project=project, branch=branch))
    assert response.status_code == 200
    jobs = {j["name"]: j["dependencies"] for j in response.json}
    assert jobs["tox-linters"] == []
    assert jobs["tox-docs"] == [{"name": "tox-linters", "soft": True}]


def test_freeze_job_has_what_zuul_client_prints(app: Faults) -> None:
    path = f"{T}/pipeline/gate/project/example/project1/branch/stable/2024.1/freeze-job/tox-py311"
    frozen = get(app, path).json
    assert frozen["job"] == "tox-py311" and frozen["branch"] == "stable/2024.1"
    assert frozen["nodeset"]["name"] == "ubuntu-noble" and frozen["vars"] == {
        "tox_envlist": "py311"}  # fmt: skip
    for playbook in frozen["pre_playbooks"] + frozen["playbooks"] + frozen["post_playbooks"]:
        assert {"connection", "project", "path", "branch", "trusted"} <= set(playbook)
    assert frozen["pre_playbooks"][0]["trusted"] is True  # the base job's, a config project


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("pipeline/check/project/nope/branch/master/freeze-jobs", "Unknown project"),
        ("pipeline/nope/project/example/project1/branch/master/freeze-jobs", "Unknown pipeline"),
        ("pipeline/check/project/example/project1/branch/feature/x/freeze-jobs",
         "No job graph reported for example/project1 on feature/x in check"),
        ("pipeline/check/project/example/project1/branch/master/freeze-job/nope",
         "Job not found"),
    ],
)
def test_what_was_not_reported_is_404(app: Faults, path, message) -> None:
    response = get(app, f"{T}/{path}")
    assert response.status_code == 404
    assert error_of(response) == message


def test_whitelabel_freeze_paths_work(whitelabel_app: Faults) -> None:
    response = get(whitelabel_app, "/api/pipeline/post/project/example/project1/branch/master/"
                                   "freeze-job/tox-docs")  # fmt: skip
    assert response.json["job"] == "tox-docs"


def _post(app: Faults, path: str, body: object, content_type: str = "application/json"):
    return get(app, path, method="POST", body=json.dumps(body).encode(),
               content_type=content_type)  # fmt: skip


def test_freeze_pipeline_answers_the_projects_pipeline_parameters(app: Faults) -> None:
    path = f"{T}/project/example/project1/freeze-pipeline"
    response = _post(app, path, {"pipeline": "check", "ref": "refs/heads/master"})
    assert response.status_code == 200 and response.json == {"parameters": []}
    assert error_of(_post(app, path, {"pipeline": "check"})) == "ref: ref is required"
    assert _post(app, path, {"pipeline": "nope", "ref": "refs/heads/master"}).status_code == 404
    assert _post(app, path, {}, content_type="text/plain").status_code == 415
