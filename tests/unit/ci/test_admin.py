"""Autoholds, management events and console chunks."""

from __future__ import annotations

import pytest

from ciweb.ci import admin, queries
from ciweb.ci.errors import Conflict, NotFound, ValidationError
from tests.unit.ci.conftest import add_buildset

HOLD = {"job": "tox", "count": 2, "change": "", "ref": "", "reason": "debug",
        "node_hold_expiration": None}
HOLD_KEYS = {"id", "tenant", "project", "job", "ref_filter", "max_count", "current_count",
             "reason", "node_expiration", "expired", "nodes"}


def test_an_autohold_has_zuuls_keys_and_is_listed(store):
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    assert set(hold) == HOLD_KEYS
    assert hold["project"] == "review.example.org/org/project"
    assert hold["ref_filter"] == ".*" and hold["max_count"] == 2
    assert queries.autoholds(store, "t") == [hold]
    assert queries.autoholds(store, "t", project="org/project") == [hold]
    assert queries.autoholds(store, "t", project="org/other_project") == []
    assert queries.autohold(store, "t", hold["id"]) == hold


def test_a_change_becomes_a_gerrit_ref_filter(store):
    hold = admin.create_autohold(store, "t", "org/project", {**HOLD, "change": "1234"})
    assert hold["ref_filter"] == "refs/changes/34/1234/.*"
    hold = admin.create_autohold(store, "t", "org/project", {**HOLD, "change": "5,1"})
    assert hold["ref_filter"] == "refs/changes/05/5/.*"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**HOLD, "change": "1", "ref": "refs/heads/x"}, "change"),
        ({**HOLD, "ref": "refs/(unclosed"}, "ref"),
        ({**HOLD, "count": -1}, "count"),
        ({**HOLD, "job": None}, "job"),
        ({**HOLD, "extra": 1}, "extra"),
    ],
)
def test_an_invalid_autohold_names_the_field_and_writes_nothing(store, body, field):
    with pytest.raises(ValidationError) as err:
        admin.create_autohold(store, "t", "org/project", body)
    assert err.value.field == field
    assert queries.autoholds(store, "t") == []
    assert admin.list_events(store, "t") == []


def test_deleting_an_autohold_records_an_event(store):
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    admin.delete_autohold(store, "t", hold["id"])
    assert queries.autoholds(store, "t") == []
    assert [e["type"] for e in admin.list_events(store, "t")] == ["autohold", "autohold-delete"]


def test_another_tenants_autohold_is_not_found(store):
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    with pytest.raises(NotFound, match=f"Hold request {hold['id']} not found."):
        queries.autohold(store, "other", hold["id"])
    with pytest.raises(NotFound):
        admin.delete_autohold(store, "other", hold["id"])
    assert queries.autohold(store, "t", hold["id"])["id"] == hold["id"]


def test_management_events_are_listed_until_acknowledged(store):
    event = admin.record_event(
        store, "t", "enqueue", {"project": "org/project", "pipeline": "check", "change": "1,2"}
    )
    assert event["payload"]["project"] == "review.example.org/org/project"
    assert event["acknowledged"] is None
    admin.record_event(store, "t", "promote", {"pipeline": "gate", "changes": ["1,2"]})
    assert [e["type"] for e in admin.list_events(store, "t")] == ["enqueue", "promote"]
    done = admin.acknowledge_event(store, "t", event["id"])
    assert done["acknowledged"] is not None
    assert [e["type"] for e in admin.list_events(store, "t")] == ["promote"]
    assert len(admin.list_events(store, "t", pending=False)) == 2


@pytest.mark.parametrize(
    ("kind", "payload", "field"),
    [
        ("reboot", {}, "type"),
        ("enqueue", {"project": "org/project", "pipeline": "nope", "change": "1,1"}, "pipeline"),
        ("dequeue", {"project": "org/project", "pipeline": "check"}, "change"),
        ("promote", {"pipeline": "gate", "changes": []}, "changes"),
        ("tenant-state", {"trigger_queue_paused": "yes"}, "trigger_queue_paused"),
    ],
)
def test_invalid_management_events_name_the_field(store, kind, payload, field):
    with pytest.raises(ValidationError) as err:
        admin.record_event(store, "t", kind, payload)
    assert err.value.field == field
    assert admin.list_events(store, "t") == []


def test_console_text_is_appended_in_order_until_the_end_marker(store):
    add_buildset(store, "bs", builds=({"uuid": "b", "job_name": "tox"},))
    assert admin.append_console(store, "t", "b", "line 1\n") == 1
    assert admin.append_console(store, "t", "b", "line 2\n", end=True) == 2
    assert admin.read_console(store, "t", "b") == {
        "chunks": [{"sequence": 1, "text": "line 1\n"}, {"sequence": 2, "text": "line 2\n"}],
        "end": True,
    }
    assert admin.read_console(store, "t", "b", after=1)["chunks"][0]["sequence"] == 2
    with pytest.raises(Conflict):
        admin.append_console(store, "t", "b", "late")
    assert admin.console_length(store, "t", "b") == 2
    with pytest.raises(NotFound, match="Build not found"):
        admin.append_console(store, "t", "nope", "x")


@pytest.mark.parametrize(
    ("key", "value"),
    [("count", 10**30), ("count", 2**31), ("node_hold_expiration", 2**31)],
)
def test_an_autohold_number_too_large_is_a_validation_error(store, key, value):
    with pytest.raises(ValidationError) as err:
        admin.create_autohold(store, "t", "org/project", {**HOLD, key: value})
    assert err.value.field == key
    assert queries.autoholds(store, "t") == []


def test_the_largest_autohold_numbers_are_stored(store):
    top = 2**31 - 1
    body = {**HOLD, "count": top, "node_hold_expiration": top}
    hold = admin.create_autohold(store, "t", "org/project", body)
    assert (hold["max_count"], hold["node_expiration"]) == (top, top)


@pytest.mark.parametrize(
    "hold_id", ["\u00b2", "\u0661", "99999999999999999999999", str(2**31), "9" * 18, "-1", ""]
)
def test_deleting_an_autohold_that_cannot_exist_is_not_found(store, hold_id):
    admin.create_autohold(store, "t", "org/project", HOLD)
    with pytest.raises(NotFound) as err:
        admin.delete_autohold(store, "t", hold_id)
    assert str(err.value) == f"Hold request {hold_id} not found."
    assert len(queries.autoholds(store, "t")) == 1


@pytest.mark.parametrize("change", ["\u00b2", "\u0661", "1\u00b2,1"])
def test_a_change_of_non_ascii_digits_is_refused(store, change):
    with pytest.raises(ValidationError) as err:
        admin.create_autohold(store, "t", "org/project", {**HOLD, "change": change})
    assert err.value.field == "change"
