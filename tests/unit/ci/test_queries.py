"""Configuration and state reads in Zuul's shapes, and the writes that feed them."""

from __future__ import annotations

import json

import pytest

from ciweb.ci import queries, writes
from ciweb.ci.errors import NotFound, ValidationError


def test_tenants_are_sorted_names(store):
    assert queries.tenants(store) == [{"name": "other"}, {"name": "t"}]


def test_a_tenant_name_must_be_one_path_segment(store):
    with pytest.raises(ValidationError) as err:
        writes.upsert_tenant(store, "a/b")
    assert err.value.field == "name"


def test_projects_have_zuuls_keys_sorted_by_name(store):
    assert queries.projects(store, "t") == [
        {"name": "org/other_project", "connection_name": "gerrit",
         "canonical_name": "review.example.org/org/other_project", "type": "untrusted"},
        {"name": "org/project", "connection_name": "gerrit",
         "canonical_name": "review.example.org/org/project", "type": "untrusted"},
    ]


def test_project_is_found_by_short_or_canonical_name(store):
    short = queries.project(store, "t", "org/project")
    assert short == queries.project(store, "t", "review.example.org/org/project")
    assert set(short) == {"name", "connection_name", "canonical_name", "metadata", "configs"}
    assert short["metadata"] == {} and short["configs"] == []
    with pytest.raises(NotFound, match="Unknown project"):
        queries.project(store, "t", "org/nope")


def test_pipelines_list_their_triggers(store):
    assert queries.pipelines(store, "t") == [
        {"name": "check", "triggers": [{"name": "gerrit", "driver": "gerrit"}]},
        {"name": "gate", "triggers": [{"name": "gerrit", "driver": "gerrit"}]},
    ]


def test_a_trigger_needs_a_driver(store):
    with pytest.raises(ValidationError) as err:
        writes.upsert_pipeline(store, "t", {"name": "post", "triggers": [{"name": "g"}]})
    assert err.value.field == "driver"
    assert [p["name"] for p in queries.pipelines(store, "t")] == ["check", "gate"]


def _jobs(store):
    writes.upsert_job(store, "t", {"name": "base", "variants": [{"description": "Base."}]})
    writes.upsert_job(
        store,
        "t",
        {"name": "tox", "variants": [
            {"parent": "base", "description": "Run tox.\nMore text.", "tags": ["py"],
             "voting": True},
            {"parent": "base", "branches": ["stable/1"], "tags": ["py", "old"]},
        ]},
    )


def test_jobs_summarise_variants_and_leave_out_empty_keys(store):
    _jobs(store)
    assert queries.jobs(store, "t") == [
        {"name": "base", "description": "Base."},
        {"name": "tox", "description": "Run tox.", "tags": ["py", "old"],
         "variants": [{"parent": "base"}, {"parent": "base", "branches": ["stable/1"]}]},
    ]


def test_job_returns_every_variant_whole(store):
    _jobs(store)
    variants = queries.job(store, "t", "tox")
    assert [v["name"] for v in variants] == ["tox", "tox"]
    assert variants[0]["voting"] is True and variants[1]["branches"] == ["stable/1"]
    with pytest.raises(NotFound, match="Job not found"):
        queries.job(store, "t", "nope")


def test_replacing_a_job_replaces_its_variants(store):
    _jobs(store)
    writes.upsert_job(store, "t", {"name": "tox", "variants": [{"parent": "base"}]})
    assert len(queries.job(store, "t", "tox")) == 1


def test_a_bad_variant_writes_nothing_and_names_the_field(store):
    _jobs(store)
    with pytest.raises(ValidationError) as err:
        writes.upsert_job(store, "t", {"name": "tox", "variants": [{}, {"branches": "main"}]})
    assert err.value.field == "variants[1].branches"
    assert len(queries.job(store, "t", "tox")) == 2


ERRORS = [
    {"source_context": {"project": "org/project", "branch": "master", "path": "zuul.yaml"},
     "error": "Job x not defined", "short_error": "Job x", "severity": "error",
     "name": "Job Not Found"},
    {"source_context": {"project": "org/other_project", "branch": "stable", "path": "a.yaml"},
     "error": "Deprecated", "short_error": "Deprecated", "severity": "warning",
     "name": "Deprecated Syntax"},
]


def test_config_errors_have_zuuls_shape_and_filters(store):
    assert writes.replace_config_errors(store, "t", ERRORS) == 2
    assert queries.config_errors(store, "t", {}) == ERRORS
    assert queries.config_errors(store, "t", {"project": "org/project"}) == ERRORS[:1]
    assert queries.config_errors(store, "t", {"branch": "stable"}) == ERRORS[1:]
    assert queries.config_errors(store, "t", {"severity": "warning"}) == ERRORS[1:]
    assert queries.config_errors(store, "t", {"name": "Job Not Found"}) == ERRORS[:1]
    assert queries.config_errors(store, "t", {"limit": "1", "skip": "1"}) == ERRORS[1:]
    assert queries.tenant_status(store, "t") == {"config_error_count": 2}
    with pytest.raises(ValidationError):
        queries.config_errors(store, "t", {"sort": "x"})


def test_replacing_config_errors_is_all_or_nothing(store):
    writes.replace_config_errors(store, "t", ERRORS)
    bad = [ERRORS[0], {**ERRORS[1], "severity": "fatal"}]
    with pytest.raises(ValidationError) as err:
        writes.replace_config_errors(store, "t", bad)
    assert err.value.field == "severity"
    assert queries.tenant_status(store, "t") == {"config_error_count": 2}


STATUS = {
    "zuul_version": "14.3.0",
    "pipelines": [{"name": "check", "change_queues": [{"name": "", "heads": [[
        {"id": "i1", "live": True, "refs": [{"id": "1,2", "project": "org/project"}],
         "jobs": []},
        {"id": "i2", "live": True, "refs": [{"id": "3,1"}, {"id": "1,2"}], "jobs": []},
    ]]}]}],
}


def test_status_is_stored_as_bytes_with_an_etag_and_time(store):
    body = json.dumps(STATUS).encode()
    written = writes.put_status(store, "t", body)
    read = queries.status(store, "t")
    assert read.body == body and read.etag == written.etag and read.etag.startswith('"')
    assert read.last_modified == written.last_modified


def test_status_without_a_report_lists_the_pipelines_empty(store):
    document = json.loads(queries.status(store, "t").body)
    assert [p["name"] for p in document["pipelines"]] == ["check", "gate"]
    assert document == queries.empty_status(["check", "gate"])


def test_a_status_without_pipelines_is_refused(store):
    with pytest.raises(ValidationError) as err:
        writes.put_status(store, "t", b'{"nope": 1}')
    assert err.value.field == "status"
    with pytest.raises(ValidationError):
        writes.put_status(store, "t", b"not json")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "99999999999999999999999"}, "limit"),
        ({"skip": "99999999999999999999999"}, "skip"),
        ({"limit": str(2**31)}, "limit"),
        ({"skip": "\u00b2"}, "skip"),
    ],
)
def test_a_config_errors_page_out_of_range_names_the_parameter(store, params, field):
    with pytest.raises(ValidationError) as err:
        queries.config_errors(store, "t", params)
    assert err.value.field == field


def test_the_largest_config_errors_page_runs_on_the_database(store):
    writes.replace_config_errors(store, "t", ERRORS)
    top = str(2**31 - 1)
    assert queries.config_errors(store, "t", {"limit": top}) == ERRORS
    assert queries.config_errors(store, "t", {"skip": top}) == []


@pytest.mark.parametrize(
    "hold_id", ["\u00b2", "\u0661", "99999999999999999999999", str(2**31), "9" * 18, "1.0"]
)
def test_an_autohold_id_that_cannot_exist_is_not_found(store, hold_id):
    with pytest.raises(NotFound) as err:
        queries.autohold(store, "t", hold_id)
    assert str(err.value) == f"Hold request {hold_id} not found."
    with pytest.raises(NotFound) as err:
        queries.autohold(store, "nope", hold_id)
    assert str(err.value) == "Unknown tenant"
