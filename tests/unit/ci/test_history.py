"""Builds, buildsets, build-times and badge: Zuul's shapes and every filter."""

from __future__ import annotations

import re

import pytest

from ciweb.ci import filters, history, reporting
from ciweb.ci.errors import NotFound, ValidationError
from tests.unit.ci.conftest import add_buildset

BUILD_KEYS = {
    "_id", "uuid", "job_name", "result", "held", "execute_time", "start_time", "end_time",
    "duration", "voting", "log_url", "nodeset", "error_detail", "final", "artifacts",
    "provides", "ref", "pipeline", "event_id", "event_timestamp", "queue_item_uuid", "buildset",
}
REF_KEYS = {"project", "branch", "change", "patchset", "ref", "oldrev", "newrev", "ref_url"}
BUILDSET_KEYS = {
    "_id", "uuid", "result", "message", "pipeline", "event_id", "event_timestamp",
    "queue_item_uuid", "first_build_start_time", "last_build_end_time", "user_id",
    "parameters", "refs",
}
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


def _build(uuid, job="tox", result="SUCCESS", **extra):
    return {"uuid": uuid, "job_name": job, "result": result,
            "start_time": "2025-01-01T10:00:00", "end_time": "2025-01-01T10:01:30.5", **extra}


@pytest.fixture
def filled(store):
    add_buildset(store, "bs1", builds=(_build("b1", "tox-py311"), _build("b2", "tox_docs")))
    add_buildset(store, "bs2", project="org/other_project", pipeline="gate", change=2,
                 result="FAILURE",
                 builds=(_build("b3", "tox-py311", "FAILURE", voting=False),
                         _build("b4", "linters%", "SKIPPED", held=True, final=False)))
    add_buildset(store, "bs3", change=3, branch="stable/1", result=None,
                 builds=({"uuid": "b5", "job_name": "toxXdocs"},))
    return store


def _uuids(rows):
    return [r["uuid"] for r in rows]


def test_builds_have_exactly_zuuls_keys_and_time_formats(filled):
    rows = history.builds(filled, "t", {})
    build = next(r for r in rows if r["uuid"] == "b1")
    assert set(build) == BUILD_KEYS
    assert set(build["ref"]) == REF_KEYS
    assert build["buildset"] == {"uuid": "bs1"}
    assert TIME.match(build["start_time"]) and build["duration"] == 90.0
    assert isinstance(build["duration"], float)
    assert build["pipeline"] == "check" and build["ref"]["change"] == 1


def test_builds_are_newest_first(filled):
    assert _uuids(history.builds(filled, "t", {})) == ["b5", "b4", "b3", "b2", "b1"]


def test_build_adds_the_buildset_refs(filled):
    build = history.build(filled, "t", "b3")
    assert build["buildset"]["uuid"] == "bs2"
    assert [r["project"] for r in build["buildset"]["refs"]] == ["org/other_project"]
    with pytest.raises(NotFound, match="Build not found"):
        history.build(filled, "t", "nope")
    with pytest.raises(NotFound, match="Build not found"):
        history.build(filled, "other", "b1")


BUILD_FILTER_CASES = [
    ({"project": "org/project"}, ["b5", "b2", "b1"]),
    ({"project": ["org/project", "org/other_project"]}, ["b5", "b4", "b3", "b2", "b1"]),
    ({"project": "org/*"}, ["b5", "b4", "b3", "b2", "b1"]),
    ({"project": "org/other*"}, ["b4", "b3"]),
    ({"pipeline": "gate"}, ["b4", "b3"]),
    ({"pipeline": "ga*"}, ["b4", "b3"]),
    ({"branch": "stable/*"}, ["b5"]),
    ({"change": "2"}, ["b4", "b3"]),
    ({"change": ["1", "3"]}, ["b5", "b2", "b1"]),
    ({"patchset": "1"}, ["b5", "b4", "b3", "b2", "b1"]),
    ({"uuid": ["b1", "b4"]}, ["b4", "b1"]),
    ({"job_name": "tox-py311"}, ["b3", "b1"]),
    ({"job_name": ["tox-py311", "tox_docs"]}, ["b3", "b2", "b1"]),
    ({"result": "FAILURE"}, ["b3"]),
    ({"result": ["FAILURE", "SKIPPED"]}, ["b4", "b3"]),
    ({"exclude_result": ["SKIPPED", "FAILURE"]}, ["b2", "b1"]),
    ({"complete": "true"}, ["b4", "b3", "b2", "b1"]),
    ({"complete": "false"}, ["b5"]),
    ({"voting": "False"}, ["b3"]),
    ({"voting": "0"}, ["b3"]),
    ({"voting": "True"}, ["b5", "b4", "b2", "b1"]),
    ({"held": "true"}, ["b4"]),
    ({"held": "1"}, ["b4"]),
    ({"final": "false"}, ["b4"]),
    ({"limit": "2"}, ["b5", "b4"]),
    ({"limit": "2", "skip": "2"}, ["b3", "b2"]),
]


@pytest.mark.parametrize(("params", "expected"), BUILD_FILTER_CASES)
def test_builds_filters_behave_as_zuuls(filled, params, expected):
    assert _uuids(history.builds(filled, "t", params)) == expected
    if "limit" not in params:
        assert history.builds_count(filled, "t", params) == len(expected)


def test_builds_count_ignores_limit_and_skip(filled):
    assert history.builds_count(filled, "t", {"limit": "1", "skip": "3"}) == 5
    assert history.builds_count(filled, "t", {"project": "org/other*"}) == 2


def test_idx_bounds_are_inclusive(filled):
    ids = {r["uuid"]: r["_id"] for r in history.builds(filled, "t", {})}
    rows = history.builds(filled, "t", {"idx_min": str(ids["b2"]), "idx_max": str(ids["b4"])})
    assert _uuids(rows) == ["b4", "b3", "b2"]


def test_wildcards_escape_percent_and_underscore(filled):
    # "_" and "%" are literal: tox_docs matches, toxXdocs does not.
    assert _uuids(history.builds(filled, "t", {"job_name": "tox_do*"})) == ["b2"]
    assert _uuids(history.builds(filled, "t", {"job_name": "linters%*"})) == ["b4"]
    assert history.builds(filled, "t", {"job_name": "%"}) == []
    assert history.builds(filled, "t", {"job_name": "%*"}) == []
    assert _uuids(history.builds(filled, "t", {"job_name": "*docs"})) == ["b5", "b2"]


def test_without_a_star_a_name_matches_exactly(filled):
    assert history.builds(filled, "t", {"job_name": "tox"}) == []
    assert history.builds(filled, "t", {"project": "org/%"}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"idx_min": "x"}, "idx_min"),
        ({"idx_max": "1.5"}, "idx_max"),
        ({"limit": "-1"}, "limit"),
        ({"skip": "many"}, "skip"),
        ({"voting": "yes"}, "voting"),
        ({"final": "maybe"}, "final"),
        ({"change": "abc"}, "change"),
        ({"limit": ["1", "2"]}, "limit"),
        ({"sort": "id"}, "sort"),
    ],
)
def test_invalid_filters_name_the_field(filled, params, field):
    with pytest.raises(ValidationError) as err:
        history.builds(filled, "t", params)
    assert err.value.field == field


def test_unknown_tenant_is_not_found_for_history(filled):
    for call in (history.builds, history.buildsets, history.build_times):
        with pytest.raises(NotFound, match="Unknown tenant"):
            call(filled, "nope", {})


def test_builds_of_another_tenant_are_invisible(filled):
    assert history.builds(filled, "other", {}) == []


def test_buildsets_have_zuuls_keys_and_filters(filled):
    rows = history.buildsets(filled, "t", {})
    assert _uuids(rows) == ["bs3", "bs2", "bs1"]
    assert set(rows[0]) == BUILDSET_KEYS
    assert set(rows[0]["refs"][0]) == REF_KEYS
    assert rows[2]["first_build_start_time"] == "2025-01-01T10:00:00"
    assert _uuids(history.buildsets(filled, "t", {"project": "org/other*"})) == ["bs2"]
    assert _uuids(history.buildsets(filled, "t", {"complete": "true"})) == ["bs2", "bs1"]
    assert _uuids(history.buildsets(filled, "t", {"exclude_result": "FAILURE"})) == ["bs1"]
    assert _uuids(history.buildsets(filled, "t", {"pipeline": ["gate", "check"],
                                                    "branch": "master"})) == ["bs2", "bs1"]
    assert history.buildsets_count(filled, "t", {"limit": "1"}) == 3
    with pytest.raises(ValidationError):
        history.buildsets(filled, "t", {"job_name": "tox"})


def test_buildset_has_its_builds_and_events(filled):
    reporting.add_buildset_event(filled, "t", "bs2", {"event_type": "dequeue",
                                                       "description": "by jdoe",
                                                       "event_time": 1735725600})
    buildset = history.buildset(filled, "t", "bs2")
    assert set(buildset) == BUILDSET_KEYS | {"builds", "events"}
    assert _uuids(buildset["builds"]) == ["b3", "b4"]
    assert "pipeline" not in buildset["builds"][0] and "buildset" not in buildset["builds"][0]
    assert buildset["events"] == [{"event_time": "2025-01-01T10:00:00", "event_type": "dequeue",
                                   "description": "by jdoe"}]
    with pytest.raises(NotFound, match="Buildset not found"):
        history.buildset(filled, "t", "nope")


def test_build_times_are_flat_rows(filled):
    rows = history.build_times(filled, "t", {"job_name": "tox-py311"})
    assert set(rows[0]) == {"_id", "uuid", "job_name", "result", "start_time", "end_time",
                            "duration", "final", "project", "branch", "pipeline", "ref"}
    assert _uuids(rows) == ["b3", "b1"]
    assert rows[0]["project"] == "org/other_project" and rows[0]["pipeline"] == "gate"
    assert history.build_times(filled, "t", {"start_time": "2025-01-02T00:00:00"}) == []


def test_badge_is_the_latest_complete_buildset_result(filled):
    assert history.badge(filled, "t", {}) == "FAILURE"
    assert history.badge(filled, "t", {"project": "org/project"}) == "SUCCESS"
    assert history.badge(filled, "t", {"pipeline": "check"}) == "SUCCESS"
    with pytest.raises(NotFound, match="No buildset found"):
        history.badge(filled, "t", {"branch": "stable/1"})


@pytest.fixture
def every_path(filled, monkeypatch):
    """The filled store with a build of tenant "other" on the same project, pipeline and change,
    and PARENT_FANOUT 0: every ref or buildset filter takes the walk-the-tenant path."""
    add_buildset(filled, "obs1", tenant="other", builds=(_build("ob1", "tox-py311"),))
    monkeypatch.setattr(filters, "PARENT_FANOUT", 0)
    return filled


@pytest.mark.parametrize(("params", "expected"), BUILD_FILTER_CASES)
def test_builds_filters_give_the_same_answer_when_many_refs_match(every_path, params, expected):
    assert _uuids(history.builds(every_path, "t", params)) == expected
    if "limit" not in params:
        assert history.builds_count(every_path, "t", params) == len(expected)


@pytest.mark.parametrize(
    "params",
    [{"project": "org/project"}, {"pipeline": "check"}, {"change": "1"}, {"project": "org/*"}],
)
def test_a_filter_on_refs_or_buildsets_never_reaches_another_tenant(filled, params):
    add_buildset(filled, "obs1", tenant="other", builds=(_build("ob1", "tox-py311"),))
    assert "ob1" not in _uuids(history.builds(filled, "t", params))
    assert "obs1" not in _uuids(history.buildsets(filled, "t", params))
    assert _uuids(history.builds(filled, "other", params)) == ["ob1"]
    assert _uuids(history.buildsets(filled, "other", params)) == ["obs1"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"project": "org/other*"}, ["bs2"]),
        ({"project": "org/*", "complete": "true"}, ["bs2", "bs1"]),
        ({"change": ["1", "3"]}, ["bs3", "bs1"]),
        ({"branch": "stable/*"}, ["bs3"]),
        ({"project": "org/project", "pipeline": "check", "limit": "1", "skip": "1"}, ["bs1"]),
    ],
)
def test_buildsets_ref_filters_give_the_same_answer_when_many_refs_match(
    every_path, params, expected
):
    assert _uuids(history.buildsets(every_path, "t", params)) == expected
    if "limit" not in params:
        assert history.buildsets_count(every_path, "t", params) == len(expected)


def test_filters_that_match_no_ref_or_buildset_give_nothing(filled):
    for params in ({"project": "nope"}, {"pipeline": "nope"}, {"change": "99"}):
        assert history.builds(filled, "t", params) == []
        assert history.builds_count(filled, "t", params) == 0
        assert history.build_times(filled, "t", {"project": "nope"}) == []
    assert history.buildsets(filled, "t", {"project": "nope"}) == []
    assert history.buildsets_count(filled, "t", {"project": "nope"}) == 0


def test_a_capped_count_stops_one_past_the_cap(filled):
    assert history.builds_count(filled, "t", {}, cap=2) == 3
    assert history.builds_count(filled, "t", {}, cap=5) == 5
    assert history.builds_count(filled, "t", {"project": "org/project"}, cap=1) == 2
    assert history.builds_count(filled, "t", {"project": "org/project"}, cap=0) == 1
    assert history.buildsets_count(filled, "t", {}, cap=1) == 2
    assert history.buildsets_count(filled, "t", {"complete": "true"}, cap=9) == 2
    with pytest.raises(ValueError, match="cap"):
        history.builds_count(filled, "t", {}, cap=-1)


@pytest.mark.parametrize("max_names", [0, 1, filters.MAX_JOB_NAMES])
def test_job_name_patterns_match_the_same_builds_resolved_or_not(filled, monkeypatch, max_names):
    monkeypatch.setattr(filters, "MAX_JOB_NAMES", max_names)
    assert _uuids(history.builds(filled, "t", {"job_name": "tox*"})) == ["b5", "b3", "b2", "b1"]
    assert _uuids(history.builds(filled, "t", {"job_name": ["*docs", "linters%"]})) == [
        "b5", "b4", "b2"
    ]
    assert _uuids(history.builds(filled, "t", {"job_name": "tox_do*"})) == ["b2"]
    assert history.builds(filled, "t", {"job_name": "nomatch*"}) == []
    assert history.builds_count(filled, "t", {"job_name": "*py311"}) == 2


def test_job_name_patterns_only_see_the_tenants_job_names(filled):
    add_buildset(filled, "obs1", tenant="other", builds=(_build("ob1", "other-job"),))
    assert history.builds(filled, "t", {"job_name": "other*"}) == []
    assert _uuids(history.builds(filled, "other", {"job_name": "other*"})) == ["ob1"]


def test_queue_item_uuid_filters_builds_and_buildsets(store):
    reporting.create_buildset(
        store, "t", {"uuid": "bsq", "pipeline": "check", "queue_item_uuid": "qi-1",
                     "refs": [{"project": "org/project", "ref": "refs/heads/master"}]}
    )
    reporting.create_build(store, "t", "bsq", _build("bq"))
    add_buildset(store, "bsx", builds=(_build("bx"),))
    assert _uuids(history.builds(store, "t", {"queue_item_uuid": "qi-1"})) == ["bq"]
    assert _uuids(history.buildsets(store, "t", {"queue_item_uuid": "qi-1"})) == ["bsq"]
    assert history.buildsets(store, "other", {"queue_item_uuid": "qi-1"}) == []
    assert history.builds(store, "other", {"queue_item_uuid": "qi-1"}) == []


@pytest.mark.parametrize(
    ("rows", "skip", "limit", "found", "expected"),
    [
        (3, 0, 50, None, (3, False)),  # a short first page is the whole list: no count
        (0, 0, 50, None, (0, False)),
        (2, 10, 5, None, (12, False)),  # a short later page ends the list
        (0, 10, 5, 7, (7, False)),  # an empty later page: counted (skip may overshoot)
        (5, 0, 5, 40, (40, False)),  # a full page: counted
        (5, 0, 5, 10001, (10000, True)),  # more than the cap: capped
        (50, 20000, 50, 30001, (30000, True)),  # the cap counts beyond skip
    ],
)
def test_paged_counts_only_when_the_page_does_not_tell_the_total(
    rows, skip, limit, found, expected
):
    counted = []

    def count(ceiling):
        counted.append(ceiling)
        return found

    f = filters.HistoryFilter(skip=skip, limit=limit)
    page = history.paged([{}] * rows, f, count, 10000)
    assert (page.total, page.capped) == expected
    assert counted == ([] if found is None else [skip + max(10000, limit)])


def test_a_page_and_its_total_are_read_together(filled):
    page = history.builds_page(filled, "t", {"limit": "2"}, cap=3)
    assert _uuids(page.rows) == ["b5", "b4"] and (page.total, page.capped) == (3, True)
    page = history.buildsets_page(filled, "t", {"limit": "2"}, cap=10)
    assert [r["uuid"] for r in page.rows] == ["bs3", "bs2"]
    assert (page.total, page.capped) == (3, False)
