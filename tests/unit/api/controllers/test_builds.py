"""Tests of ciweb.api.controllers.builds: builds, build, build-times and the badge."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ciweb.api.app import app_factory
from ciweb.api.controllers.builds import (
    BADGE_FAILING,
    BADGE_PASSING,
    TOTAL_COUNT_CAP,
    TOTAL_COUNT_CAPPED_HEADER,
)
from ciweb.ci import demo
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, copy_database, error_of, get

# The demo history (510 builds, 120 buildsets) and the builds of its live status (13, 4).
TOTAL_BUILDS = 523
REF_KEYS = {"project", "branch", "change", "patchset", "ref", "oldrev", "newrev", "ref_url"}
BUILD_KEYS = {
    "_id", "uuid", "job_name", "result", "held", "execute_time", "start_time", "end_time",
    "duration", "voting", "log_url", "nodeset", "error_detail", "final", "artifacts",
    "provides", "ref", "pipeline", "event_id", "event_timestamp", "queue_item_uuid", "buildset",
}  # fmt: skip
BULK_BUILDS = 30_060


def _ids(response) -> list[int]:
    return [b["_id"] for b in response.json]


def test_builds_have_the_keys_the_dashboard_and_zuul_client_read(app: Faults) -> None:
    response = get(app, f"{T}/builds?limit=5")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    build = response.json[0]
    # Zuul 14.3.0's BuildConverter.toDict of a top-level build (refs skipped): these keys,
    # no fewer (the dashboard and zuul-client read them) and no more.
    assert set(build) == BUILD_KEYS
    assert set(build["ref"]) == REF_KEYS
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
    every = get(app, f"{T}/builds?limit=1000").json
    assert len(every) == TOTAL_BUILDS
    # Exactly the newest 50 finished builds that were not skipped, in order.
    wanted = [b["_id"] for b in every if b["result"] not in (None, "SKIPPED")][:50]
    assert len(wanted) == 50
    assert [b["_id"] for b in body] == wanted


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


@pytest.fixture(scope="module")
def bulk_app(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Faults:
    """The API over the demo database plus BULK_BUILDS bulk builds (a third as many buildsets),
    enough for both lists to pass the cap."""
    url = copy_database(demo_template, tmp_path_factory.mktemp("bulk") / "ciweb.sqlite")
    store = Store(make_engine(url), key_bits=2048)
    demo.generate_builds(store, BULK_BUILDS)
    store.engine.dispose()
    return Faults(app_factory({}, connection=url))


def test_past_the_cap_the_total_is_the_cap_and_says_so(bulk_app: Faults) -> None:
    response = get(bulk_app, f"{T}/builds?limit=50")
    assert len(response.json) == 50
    assert response.headers["X-Total-Count"] == str(TOTAL_COUNT_CAP)
    assert response.headers[TOTAL_COUNT_CAPPED_HEADER] == "true"


def test_the_cap_counts_beyond_the_skip(bulk_app: Faults) -> None:
    response = get(bulk_app, f"{T}/builds?skip=500&limit=50")
    assert response.headers["X-Total-Count"] == str(500 + TOTAL_COUNT_CAP)
    assert response.headers[TOTAL_COUNT_CAPPED_HEADER] == "true"


def test_a_full_page_larger_than_the_cap_is_not_undercounted(bulk_app: Faults) -> None:
    response = get(bulk_app, f"{T}/builds?limit=10200")
    assert len(response.json) == 10200
    assert response.headers["X-Total-Count"] == "10200"
    assert response.headers[TOTAL_COUNT_CAPPED_HEADER] == "true"


def test_below_the_cap_the_total_is_exact_and_not_marked(bulk_app: Faults) -> None:
    every = get(bulk_app, f"{T}/builds?skip=25000&limit=50")
    assert every.headers["X-Total-Count"] == str(BULK_BUILDS + TOTAL_BUILDS)
    assert TOTAL_COUNT_CAPPED_HEADER not in every.headers
    rare = get(bulk_app, f"{T}/builds?project=example/project1&limit=10")
    assert int(rare.headers["X-Total-Count"]) == len(
        get(bulk_app, f"{T}/builds?project=example/project1&limit=1000").json
    )
    assert TOTAL_COUNT_CAPPED_HEADER not in rare.headers


def test_a_short_page_tells_its_total_without_a_cap(bulk_app: Faults) -> None:
    skip = BULK_BUILDS + TOTAL_BUILDS - 20
    response = get(bulk_app, f"{T}/builds?skip={skip}&limit=50")
    assert len(response.json) == 20
    assert response.headers["X-Total-Count"] == str(BULK_BUILDS + TOTAL_BUILDS)
    assert TOTAL_COUNT_CAPPED_HEADER not in response.headers


def test_buildsets_totals_are_capped_the_same_way(bulk_app: Faults) -> None:
    capped = get(bulk_app, f"{T}/buildsets?skip=0&limit=50")
    assert capped.headers["X-Total-Count"] == str(TOTAL_COUNT_CAP)
    assert capped.headers[TOTAL_COUNT_CAPPED_HEADER] == "true"
    exact = get(bulk_app, f"{T}/buildsets?skip=9000&limit=50")
    assert exact.headers["X-Total-Count"] == str(BULK_BUILDS // 3 + 124)
    assert TOTAL_COUNT_CAPPED_HEADER not in exact.headers


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=99999999999999999999999", "limit"),
        ("skip=99999999999999999999999", "skip"),
        ("change=99999999999999999999999", "change"),
        ("limit=%C2%B2", "limit"),
    ],
)
def test_an_integer_too_large_or_not_ascii_is_400_json_naming_it(
    app: Faults, query: str, field: str
) -> None:
    response = get(app, f"{T}/builds?{query}")
    assert response.status_code == 400
    assert error_of(response).startswith(f"{field}:")


def test_an_idx_too_large_is_400_naming_it(app: Faults) -> None:
    response = get(app, f"{T}/builds?idx_min=99999999999999999999999")
    assert response.status_code == 400
    assert error_of(response) == "idx_min: must be <= 9007199254740991"


def test_an_empty_change_is_ignored(app: Faults) -> None:
    assert _ids(get(app, f"{T}/builds?change=&limit=5")) == _ids(get(app, f"{T}/builds?limit=5"))
