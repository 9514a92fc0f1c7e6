"""Tests of ciweb.ci.job_graphs: reported job graphs served as Zuul's freeze-jobs,
freeze-job and freeze-pipeline."""

from __future__ import annotations

import pytest

from ciweb.ci import job_graphs, queries, writes
from ciweb.ci.errors import NotFound, ValidationError

FROZEN = {
    "job": "tox",
    "branch": "stable/2024.1",
    "nodeset": {"name": "ubuntu", "nodes": [{"name": "n", "label": "ubuntu-noble"}]},
    "vars": {"tox_envlist": "py311"},
    "playbooks": [{"connection": "gerrit", "project": "zuul/zuul-jobs", "branch": "master",
                   "trusted": False, "path": "playbooks/tox/run.yaml"}],
}  # fmt: skip
GRAPH = {
    "pipeline": "check",
    "project": "org/project",
    "branch": "stable/2024.1",
    "jobs": [
        {"name": "build", "frozen": {"job": "build"}},
        {"name": "tox", "dependencies": [{"name": "build", "soft": True}], "frozen": FROZEN},
        {"name": "docs", "dependencies": [{"name": "build"}]},
    ],
}


def test_a_graph_is_served_as_freeze_jobs_by_short_or_canonical_name(store) -> None:
    stored = job_graphs.put_job_graph(store, "t", GRAPH)
    assert stored["project"] == "review.example.org/org/project"
    for project in ("org/project", "review.example.org/org/project"):
        jobs = job_graphs.freeze_jobs(store, "t", "check", project, "stable/2024.1")
        assert jobs == [
            {"name": "build", "dependencies": []},
            {"name": "tox", "dependencies": [{"name": "build", "soft": True}]},
            {"name": "docs", "dependencies": [{"name": "build", "soft": False}]},
        ]


def test_a_frozen_job_is_served_with_zuuls_defaults(store) -> None:
    job_graphs.put_job_graph(store, "t", GRAPH)
    frozen = job_graphs.freeze_job(store, "t", "check", "org/project", "stable/2024.1", "tox")
    assert frozen["vars"] == {"tox_envlist": "py311"} and frozen["nodeset"]["name"] == "ubuntu"
    assert frozen["playbooks"][0]["roles"] == [] and frozen["pre_playbooks"] == []
    assert frozen["workspace_scheme"] == "golang" and frozen["timeout"] is None
    with pytest.raises(NotFound, match="No frozen job reported for docs"):
        job_graphs.freeze_job(store, "t", "check", "org/project", "stable/2024.1", "docs")
    with pytest.raises(NotFound, match="Job not found"):
        job_graphs.freeze_job(store, "t", "check", "org/project", "stable/2024.1", "nope")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("t", "check", "org/nope", "master"), "Unknown project"),
        (("t", "deploy", "org/project", "master"), "Unknown pipeline"),
        (("t", "check", "org/project", "master"), "No job graph reported"),
        (("nope", "check", "org/project", "master"), "Unknown tenant"),
    ],
)
def test_what_is_not_there_is_not_found(store, args, message) -> None:
    job_graphs.put_job_graph(store, "t", GRAPH)
    with pytest.raises(NotFound, match=message):
        job_graphs.freeze_jobs(store, *args)


def test_a_new_report_replaces_the_graph_of_its_branch_only(store) -> None:
    job_graphs.put_job_graph(store, "t", GRAPH)
    job_graphs.put_job_graph(store, "t", {**GRAPH, "branch": "master", "jobs": []})
    job_graphs.put_job_graph(store, "t", {**GRAPH, "jobs": [{"name": "lint"}]})
    assert job_graphs.freeze_jobs(store, "t", "check", "org/project", "master") == []
    assert job_graphs.freeze_jobs(store, "t", "check", "org/project", "stable/2024.1") == [
        {"name": "lint", "dependencies": []}
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pipeline": "deploy"}, "pipeline"),
        ({"project": "org/nope"}, "project"),
        ({"branch": ""}, "branch"),
        ({"jobs": [{"name": "a"}, {"name": "a"}]}, "jobs[1].name"),
        ({"jobs": [{"name": "a", "dependencies": [{"name": "b"}]}]},
         "jobs[0].dependencies[0].name"),
        ({"jobs": [{"name": "a", "dependencies": [{"name": "b"}]},
                   {"name": "b", "dependencies": [{"name": "a"}]}]}, "jobs[0].dependencies"),
        ({"jobs": [{"name": "a", "frozen": {"job": "b"}}]}, "jobs[0].frozen.job"),
        ({"jobs": [{"name": "a", "frozen": {"job": "a", "vars": []}}]}, "jobs[0].frozen.vars"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_bad_graph_names_the_field_and_writes_nothing(store, change, field) -> None:
    job_graphs.put_job_graph(store, "t", GRAPH)
    with pytest.raises(ValidationError) as caught:
        job_graphs.put_job_graph(store, "t", {**GRAPH, **change})
    assert caught.value.field == field
    assert len(job_graphs.freeze_jobs(store, "t", "check", "org/project", "stable/2024.1")) == 3


def test_freeze_pipeline_gives_the_parameters_of_the_projects_pipeline(store) -> None:
    parameter = {"name": "release", "type": "string", "description": "The version"}
    writes.upsert_project(store, "t", {
        "name": "org/project", "connection_name": "gerrit", "type": "untrusted",
        "canonical_name": "review.example.org/org/project",
        "configs": [{"source_context": {"project": "org/project", "branch": "master",
                                        "path": "zuul.yaml"},
                     "pipelines": [{"name": "check", "parameters": [parameter]}]}],
    }, with_keys=False)  # fmt: skip
    found = job_graphs.freeze_pipeline(
        store, "t", "org/project", {"pipeline": "check", "ref": "refs/heads/master"}
    )
    assert found == {"parameters": [{**parameter, "values": None, "default": None,
                                     "required": False}]}  # fmt: skip
    gate = {"pipeline": "gate", "ref": "refs/heads/master"}
    assert job_graphs.freeze_pipeline(store, "t", "org/project", gate) == {"parameters": []}
    with pytest.raises(NotFound, match="Unknown pipeline"):
        job_graphs.freeze_pipeline(store, "t", "org/project", {**gate, "pipeline": "x"})
    with pytest.raises(ValidationError, match="ref is required"):
        job_graphs.freeze_pipeline(store, "t", "org/project", {"pipeline": "check"})
    assert queries.project(store, "t", "org/project")["configs"][0]["merge_mode"] is None
