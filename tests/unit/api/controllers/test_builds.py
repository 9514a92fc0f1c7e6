"""Tests of ciweb.api.controllers.builds: builds, build, build-times and the badge."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ciweb.api.controllers.builds import BADGE_FAILING, BADGE_PASSING
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get

TOTAL_BUILDS = 510


def _ids(response) -> list[int]:
    return [b["_id"] for b in response.json]


def test_builds_have_the_keys_the_dashboard_and_zuul_client_read(app: Faults) -> None:
    response = get(app, f"{T}/builds?limit=5")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    build = response.json[0]
    for key in (
        "uuid",
        "job_name",
        "result",
        "pipeline",
        "log_url",
        "duration",
        "start_time",
        "voting",
        "event_id",
        "final",
        "held",
        "artifacts",
        "provides",
        "nodeset",
    ):
        assert key in build
    assert {"ref_url", "change", "project", "branch", "patchset", "ref"} <= set(build["ref"])
    assert set(build["buildset"]) == {"uuid"}


def test_builds_are_newest_first(app: Faults) -> None:
    ids = _ids(get(app, f"{T}/builds?limit=20"))
    assert ids == sorted(ids, reverse=True)
    assert ids[0] == TOTAL_BUILDS


def test_a_full_page_counts_every_match(app: Faults) -> None:
    response = get(app, f"{T}/builds?limit=10")
    assert len(response.json) == 10
    assert response.headers["X-Total-Count"] == str(TOTAL_BUILDS)


def test_an_empty_page_after_the_end_still_tells_the_total(app: Faults) -> None:
    response = get(app, f"{T}/builds?skip=100000")
    assert response.json == []
    assert response.headers["X-Total-Count"] == str(TOTAL_BUILDS)


def test_the_total_follows_the_filters(app: Faults) -> None:
    page = get(app, f"{T}/builds?job_name=tox-docs&limit=2")
    every = get(app, f"{T}/builds?job_name=tox-docs&limit=1000")
    assert page.headers["X-Total-Count"] == str(len(every.json))
    assert every.headers["X-Total-Count"] == str(len(every.json))


def test_a_project_wildcard_matches_by_pattern(app: Faults) -> None:
    body = get(app, f"{T}/builds?project=example/proj*&limit=1000").json
    assert body
    assert {b["ref"]["project"] for b in body} == {"example/project1", "example/project2"}


def test_a_repeated_parameter_matches_any_value(app: Faults) -> None:
    url = f"{T}/builds?job_name=tox-docs&job_name=tox-py312&limit=1000"
    assert {b["job_name"] for b in get(app, url).json} == {"tox-docs", "tox-py312"}


@pytest.mark.parametrize(("value", "expected"), [("True", True), ("1", True), ("False", False)])
def test_voting_takes_zuul_clients_python_booleans(app: Faults, value: str, expected: bool) -> None:
    body = get(app, f"{T}/builds?voting={value}&limit=1000").json
    assert {b["voting"] for b in body} <= {expected}


def test_exclude_result_leaves_out_each_result_given(app: Faults) -> None:
    url = f"{T}/builds?exclude_result=SKIPPED&exclude_result=SUCCESS&complete=true&limit=1000"
    results = {b["result"] for b in get(app, url).json}
    assert results
    assert not results & {"SKIPPED", "SUCCESS", None}


def test_idx_bounds_are_inclusive(app: Faults) -> None:
    assert _ids(get(app, f"{T}/builds?idx_min=100&idx_max=103")) == [103, 102, 101, 100]


@pytest.mark.parametrize("param", ["idx_min=a", "idx_max=1.5"])
def test_a_non_integer_idx_is_400_with_zuuls_message(app: Faults, param: str) -> None:
    response = get(app, f"{T}/builds?{param}")
    assert response.status_code == 400
    assert error_of(response) == "idx_min, idx_max must be integers"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=-1", "limit"),
        ("bogus=1", "bogus"),
        ("voting=maybe", "voting"),
        ("change=x", "change"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(app: Faults, query: str, field: str) -> None:
    response = get(app, f"{T}/builds?{query}")
    assert response.status_code == 400
    assert error_of(response).startswith(f"{field}:")


def test_the_dashboard_builds_query_works(app: Faults) -> None:
    body = get(app, f"{T}/builds?skip=0&limit=50&exclude_result=SKIPPED&complete=true").json
    assert len(body) == 50
    assert all(b["result"] not in (None, "SKIPPED") for b in body)


def test_one_build_has_its_buildset_refs(app: Faults) -> None:
    listed = get(app, f"{T}/builds?limit=1").json[0]
    build = get(app, f"{T}/build/{listed['uuid']}").json
    assert build["uuid"] == listed["uuid"]
    assert build["buildset"]["uuid"] == listed["buildset"]["uuid"]
    assert build["buildset"]["refs"][0]["project"] == listed["ref"]["project"]


def test_an_unknown_build_is_404_build_not_found(app: Faults) -> None:
    response = get(app, f"{T}/build/nope")
    assert response.status_code == 404
    assert error_of(response) == "Build not found"


def test_build_times_are_flat_rows_newest_first(app: Faults) -> None:
    rows = get(app, f"{T}/build-times?job_name=tox-docs&limit=5").json
    assert rows
    assert set(rows[0]) == {
        "_id",
        "uuid",
        "job_name",
        "result",
        "start_time",
        "end_time",
        "duration",
        "final",
        "project",
        "branch",
        "pipeline",
        "ref",
    }
    assert [r["_id"] for r in rows] == sorted((r["_id"] for r in rows), reverse=True)


def _latest_result(app: Faults, project: str) -> str:
    url = f"{T}/buildsets?project={project}&complete=true&limit=1"
    return str(get(app, url).json[0]["result"])


@pytest.mark.parametrize("project", ["example/project1", "example/project2", "example/webapp"])
def test_the_badge_follows_the_newest_complete_buildset(app: Faults, project: str) -> None:
    response = get(app, f"{T}/badge?project={project}")
    assert response.status_code == 200
    assert response.content_type == "image/svg+xml"
    assert response.headers["Cache-Control"] == "no-cache"
    passing = _latest_result(app, project) == "SUCCESS"
    assert response.body == (BADGE_PASSING if passing else BADGE_FAILING)


def test_the_badges_are_valid_svg() -> None:
    for svg, word in ((BADGE_PASSING, "passing"), (BADGE_FAILING, "failing")):
        root = ET.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert word in "".join(root.itertext())


def test_a_badge_without_a_buildset_is_404(app: Faults) -> None:
    response = get(app, f"{T}/badge?project=nope")
    assert response.status_code == 404
    assert error_of(response) == "No buildset found"
