"""Tests of ciweb.api.controllers.buildsets: the list and one buildset."""

from __future__ import annotations

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import T, error_of, get


def test_buildsets_are_newest_first_with_refs_and_a_total(app: Faults) -> None:
    response = get(app, f"{T}/buildsets?limit=5")
    body = response.json
    assert [b["_id"] for b in body] == [124, 123, 122, 121, 120]
    assert response.headers["X-Total-Count"] == "124"
    # Zuul 14.3.0's BuildsetConverter.toDict without builds and events: exactly these keys.
    assert set(body[0]) == {
        "_id", "uuid", "result", "message", "pipeline", "event_id", "event_timestamp",
        "queue_item_uuid", "first_build_start_time", "last_build_end_time", "user_id",
        "parameters", "refs",
    }  # fmt: skip
    assert body[0]["refs"][0]["project"]


def test_the_dashboard_buildsets_query_works(app: Faults) -> None:
    url = (
        f"{T}/buildsets?skip=0&limit=50"
        "&exclude_result=NO_JOBS&exclude_result=DEQUEUED&complete=true"
    )
    response = get(app, url)
    assert response.status_code == 200
    every = get(app, f"{T}/buildsets?limit=1000").json
    assert len(every) == 124  # the demo history's 120 and its live status's 4
    wanted = [b["_id"] for b in every if b["result"] not in (None, "NO_JOBS", "DEQUEUED")]
    assert [b["_id"] for b in response.json] == wanted[:50]
    assert response.headers["X-Total-Count"] == str(len(wanted))


def test_buildsets_filter_by_ref_fields(app: Faults) -> None:
    first = get(app, f"{T}/buildsets?limit=1").json[0]
    change = first["refs"][0]["change"]
    body = get(app, f"{T}/buildsets?change={change}").json
    every = get(app, f"{T}/buildsets?limit=1000").json
    wanted = [b["_id"] for b in every if any(r["change"] == change for r in b["refs"])]
    assert wanted
    assert [b["_id"] for b in body] == wanted


def test_one_buildset_has_its_builds_and_events(app: Faults) -> None:
    uuid = get(app, f"{T}/buildsets?limit=1").json[0]["uuid"]
    body = get(app, f"{T}/buildset/{uuid}").json
    assert body["uuid"] == uuid
    assert body["builds"]
    assert "pipeline" not in body["builds"][0]
    assert "buildset" not in body["builds"][0]
    assert isinstance(body["events"], list)


def test_an_unknown_buildset_is_404_buildset_not_found(app: Faults) -> None:
    response = get(app, f"{T}/buildset/nope")
    assert response.status_code == 404
    assert error_of(response) == "Buildset not found"


def test_a_bad_buildset_filter_is_400(app: Faults) -> None:
    response = get(app, f"{T}/buildsets?idx_min=x")
    assert response.status_code == 400
    assert error_of(response) == "idx_min, idx_max must be integers"
    assert get(app, f"{T}/buildsets?job_name=x").status_code == 400


def test_a_buildsets_skip_too_large_is_400_naming_it(app: Faults) -> None:
    response = get(app, f"{T}/buildsets?skip=99999999999999999999999")
    assert response.status_code == 400
    assert error_of(response).startswith("skip:")
