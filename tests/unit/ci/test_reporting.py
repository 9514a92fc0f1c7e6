"""Reporting writes: buildsets and builds, validated, one transaction each."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ciweb.ci import history, reporting
from ciweb.ci.errors import Conflict, NotFound, ValidationError
from ciweb.ci.models import Ref
from tests.unit.api import test_reporting as api_reporting
from tests.unit.ci.conftest import add_buildset
from tests.unit.ci.test_store import concurrent_insert


def test_a_build_result_is_recorded_with_artifacts_and_provides(store):
    add_buildset(store, "bs", result=None, builds=({"uuid": "b", "job_name": "tox"},))
    build = reporting.update_build(
        store, "t", "b",
        {"start_time": 1735725600, "end_time": "2025-01-01T12:10:00+02:00", "result": "SUCCESS",
         "log_url": "https://logs.example.org/b/", "artifacts": [
             {"name": "manifest", "url": "https://logs.example.org/b/m.json",
              "metadata": {"type": "zuul_manifest"}},
             {"name": "docs", "url": "https://logs.example.org/b/docs/"}],
         "provides": ["docs", {"name": "wheel"}]},
    )
    assert build["start_time"] == "2025-01-01T10:00:00"
    assert build["end_time"] == "2025-01-01T10:10:00" and build["duration"] == 600.0
    assert build["artifacts"][1] == {"name": "docs", "url": "https://logs.example.org/b/docs/"}
    assert build["provides"] == [{"name": "docs"}, {"name": "wheel"}]
    buildset = history.buildset(store, "t", "bs")
    assert buildset["first_build_start_time"] == "2025-01-01T10:00:00"
    assert buildset["last_build_end_time"] == "2025-01-01T10:10:00"


def test_a_buildset_result_is_recorded(store):
    add_buildset(store, "bs", result=None)
    out = reporting.update_buildset(store, "t", "bs", {"result": "FAILURE", "message": "No."})
    assert out["result"] == "FAILURE" and out["message"] == "No."


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"result": "SUCCESS", "start_time": "yesterday"}, "start_time"),
        ({"result": "SUCCESS", "voting": "yes"}, "voting"),
        ({"result": "SUCCESS", "artifacts": [{"name": "a"}]}, "url"),
        ({"result": "SUCCESS", "artifacts": [{"name": "a", "url": "u", "metadata": []}]},
         "artifacts[0].metadata"),
        ({"result": "SUCCESS", "provides": [1]}, "provides[0]"),
        ({"result": "SUCCESS", "colour": "red"}, "colour"),
    ],
)
def test_an_invalid_build_update_names_the_field_and_writes_nothing(store, data, field):
    add_buildset(store, "bs", builds=({"uuid": "b", "job_name": "tox"},))
    with pytest.raises(ValidationError) as err:
        reporting.update_build(store, "t", "b", data)
    assert err.value.field == field
    assert history.build(store, "t", "b")["result"] is None


def test_a_buildset_needs_refs_and_writes_nothing_without(store):
    with pytest.raises(ValidationError) as err:
        reporting.create_buildset(store, "t", {"uuid": "x", "pipeline": "check", "refs": []})
    assert err.value.field == "refs"
    with pytest.raises(ValidationError) as err:
        reporting.create_buildset(
            store, "t", {"uuid": "x", "pipeline": "check", "refs": [{"project": "p"}]}
        )
    assert err.value.field == "ref"
    assert history.buildsets(store, "t", {}) == []


def test_uuids_are_unique(store):
    add_buildset(store, "bs", builds=({"uuid": "b", "job_name": "tox"},))
    with pytest.raises(Conflict):
        add_buildset(store, "bs")
    with pytest.raises(Conflict):
        reporting.create_build(store, "t", "bs", {"uuid": "b", "job_name": "tox"})
    assert history.builds_count(store, "t", {}) == 1


def test_a_build_on_a_foreign_ref_is_refused_and_not_written(store):
    add_buildset(store, "bs")
    with pytest.raises(Conflict):
        reporting.create_build(
            store, "t", "bs",
            {"uuid": "b", "job_name": "tox", "ref": {"project": "org/x", "ref": "refs/heads/m"}},
        )
    assert history.builds_count(store, "t", {}) == 0


def test_reports_for_unknown_objects_are_not_found(store):
    with pytest.raises(NotFound, match="Buildset not found"):
        reporting.create_build(store, "t", "nope", {"uuid": "b", "job_name": "tox"})
    with pytest.raises(NotFound, match="Build not found"):
        reporting.update_build(store, "t", "nope", {"result": "SUCCESS"})
    with pytest.raises(NotFound, match="Unknown tenant"):
        reporting.create_buildset(store, "nope", {"uuid": "x", "pipeline": "check",
                                                  "refs": [{"project": "p", "ref": "r"}]})


def test_two_buildsets_on_one_change_share_its_ref(store):
    add_buildset(store, "bs1")
    add_buildset(store, "bs2")
    with store.read() as session:
        assert session.scalar(select(func.count(Ref.id))) == 1


@pytest.mark.parametrize("change", [2**31, 10**30])
def test_a_change_number_too_large_is_refused_and_not_written(store, change):
    with pytest.raises(ValidationError) as err:
        add_buildset(store, "bs", change=change)
    assert err.value.field == "change"
    assert history.buildsets(store, "t", {}) == []


def test_the_largest_change_number_is_stored_and_found(store):
    top = 2**31 - 1
    add_buildset(store, "bs", change=top)
    assert [b["uuid"] for b in history.buildsets(store, "t", {"change": str(top)})] == ["bs"]


def test_a_racing_report_is_a_409_json_answer_without_sql(store):
    app = api_reporting.make_app(store)
    body = api_reporting.buildset_body()
    with concurrent_insert(store, "buildsets") as fired:
        response = api_reporting.call(app, "POST", "/api/report/tenant/t/buildsets", body)
    assert fired
    assert response.status_code == 409
    assert response.content_type == "application/json"
    description = response.json["description"]
    assert "retry" in description and "INSERT" not in description.upper()
    assert body["uuid"] not in response.text
