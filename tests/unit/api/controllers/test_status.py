"""Tests of ciweb.api.controllers.status: the stored document, its validators, 304s."""

from __future__ import annotations

import datetime as dt
from wsgiref.handlers import format_date_time

import pytest

from ciweb.api.controllers.status import not_modified
from ciweb.ci import queries
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from ciweb.wsgi.request import Request
from tests.unit.api.helpers import OTHER, TENANT, T, error_of, get


@pytest.fixture(scope="module")
def first(app: Faults):
    return get(app, f"{T}/status")


def test_status_is_the_stored_document_with_validators(first, demo_url: str) -> None:
    store = Store(make_engine(demo_url))
    try:
        stored = queries.status(store, TENANT)
    finally:
        store.engine.dispose()
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    # The bytes as the CI system reported them, with their own ETag and time.
    assert first.body == stored.body
    assert first.headers["ETag"] == stored.etag
    assert first.headers["Last-Modified"] == format_date_time(
        stored.last_modified.replace(tzinfo=dt.UTC).timestamp()
    )
    item = first.json["pipelines"][0]["change_queues"][0]["heads"][0][0]
    assert item["live"] is True


@pytest.mark.parametrize("inm", ["{tag}", "W/{tag}", '"x", {tag}', "*"])
def test_a_matching_if_none_match_is_304_without_a_body(app: Faults, first, inm: str) -> None:
    tag = first.headers["ETag"]
    response = get(app, f"{T}/status", headers={"If-None-Match": inm.format(tag=tag)})
    assert response.status_code == 304
    assert response.body == b""
    assert response.headers["ETag"] == tag
    assert "Content-Type" not in response.headers


def test_another_etag_gets_the_document(app: Faults) -> None:
    response = get(app, f"{T}/status", headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200
    assert response.json["pipelines"]


def test_if_modified_since_the_last_change_is_304(app: Faults, first) -> None:
    since = first.headers["Last-Modified"]
    assert get(app, f"{T}/status", headers={"If-Modified-Since": since}).status_code == 304
    older = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert get(app, f"{T}/status", headers={"If-Modified-Since": older}).status_code == 200


def test_if_none_match_wins_over_if_modified_since(app: Faults, first) -> None:
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": first.headers["Last-Modified"]}
    assert get(app, f"{T}/status", headers=headers).status_code == 200


def test_an_invalid_if_modified_since_is_ignored() -> None:
    import datetime as dt

    req = Request.blank("/", headers={"If-Modified-Since": "yesterday"})
    assert not_modified(req, '"a"', dt.datetime(2020, 1, 1)) is False


def test_a_tenant_without_a_reported_status_has_an_empty_document(app: Faults) -> None:
    body = get(app, f"/api/tenant/{OTHER}/status").json
    assert body["pipelines"] == []
    assert body["trigger_event_queue"] == {"length": 0}


def test_status_of_an_unknown_tenant_is_404(app: Faults) -> None:
    response = get(app, "/api/tenant/nope/status")
    assert response.status_code == 404
    assert error_of(response) == "Unknown tenant"


def test_status_change_lists_the_items_of_that_change(app: Faults, first) -> None:
    item = first.json["pipelines"][0]["change_queues"][0]["heads"][0][0]
    change = item["refs"][0]["id"]
    found = get(app, f"{T}/status/change/{change}").json
    # Exactly the items of every queue that have a ref of that change, in document order.
    every = [
        candidate
        for pipeline in first.json["pipelines"]
        for queue in pipeline["change_queues"]
        for head in queue["heads"]
        for candidate in head
    ]
    wanted = [i for i in every if any(r["id"] == change for r in i["refs"])]
    assert item in wanted
    assert found == wanted


def test_status_change_sends_zuuls_cache_headers(app: Faults, first) -> None:
    response = get(app, f"{T}/status/change/1201,1")
    assert response.headers["Cache-Control"] == "public, max-age=1"
    assert response.headers["Last-Modified"] == first.headers["Last-Modified"]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_status_change_without_a_match_is_an_empty_list(app: Faults) -> None:
    response = get(app, f"{T}/status/change/999999,9")
    assert response.status_code == 200
    assert response.json == []
