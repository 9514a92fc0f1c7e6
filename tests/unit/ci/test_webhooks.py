"""Tests of ciweb.ci.webhooks: a delivery is stored once, even when copies race, and the CI
backend lists and acknowledges a connection's events (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select

from ciweb.ci import webhooks
from ciweb.ci.errors import NotFound
from ciweb.ci.models import WebhookEvent
from ciweb.ci.store import Store, alembic_config


def record(store: Store, delivery: str = "d-1", connection: str = "github", **kw: Any):
    values = {
        "connection": connection,
        "driver": "github",
        "delivery": delivery,
        "event": "push",
        "headers": {"x-github-event": "push"},
        "payload": {"ref": "refs/heads/main", "after": "0d1a26e6"},
        **kw,
    }
    return webhooks.record_event(store, **values)


def count(store: Store) -> int:
    with store.read() as session:
        return session.scalar(select(func.count(WebhookEvent.id))) or 0


def test_a_delivery_is_stored_with_its_headers_and_payload(store: Store) -> None:
    summary, created = record(store)
    assert created is True
    [event] = webhooks.list_events(store, "github")
    assert event == {
        **summary,
        "headers": {"x-github-event": "push"},
        "payload": {"ref": "refs/heads/main", "after": "0d1a26e6"},
    }
    assert summary["delivery"] == "d-1" and summary["acknowledged"] is None


def test_a_redelivery_is_stored_once_and_answers_the_first_event(store: Store) -> None:
    first, _ = record(store)
    again, created = record(store, payload={"something": "else"})
    assert created is False
    assert again == first
    assert count(store) == 1
    assert webhooks.list_events(store, "github")[0]["payload"]["ref"] == "refs/heads/main"


def test_one_delivery_id_on_two_connections_is_two_events(store: Store) -> None:
    record(store, connection="github")
    _, created = record(store, connection="ghe")
    assert created is True
    assert count(store) == 2


def test_copies_of_one_delivery_racing_make_one_row(store: Store) -> None:
    copies = 6
    barrier = threading.Barrier(copies)
    results: list[tuple[dict[str, Any], bool]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(record(store, delivery="raced"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == copies
    assert sorted(created for _, created in results) == [False] * (copies - 1) + [True]
    assert len({summary["id"] for summary, _ in results}) == 1
    assert count(store) == 1


def test_the_feed_pages_by_id_and_hides_acknowledged_events(store: Store) -> None:
    ids = [record(store, delivery=f"d-{i}")[0]["id"] for i in range(4)]
    record(store, delivery="elsewhere", connection="gitlab")
    assert [e["id"] for e in webhooks.list_events(store, "github")] == ids
    assert [e["id"] for e in webhooks.list_events(store, "github", after_id=ids[1])] == ids[2:]
    assert [e["id"] for e in webhooks.list_events(store, "github", limit=2)] == ids[:2]
    acked = webhooks.acknowledge_event(store, "github", ids[0])
    assert acked["acknowledged"] is not None
    assert [e["id"] for e in webhooks.list_events(store, "github")] == ids[1:]
    everything = webhooks.list_events(store, "github", pending=False)
    assert [e["id"] for e in everything] == ids


def test_acknowledging_twice_keeps_the_first_time(store: Store) -> None:
    event_id = record(store)[0]["id"]
    first = webhooks.acknowledge_event(store, "github", event_id)
    assert webhooks.acknowledge_event(store, "github", event_id) == first


def test_another_connections_event_or_an_unknown_one_is_not_found(store: Store) -> None:
    event_id = record(store)[0]["id"]
    with pytest.raises(NotFound, match="Event not found"):
        webhooks.acknowledge_event(store, "gitlab", event_id)
    with pytest.raises(NotFound, match="Event not found"):
        webhooks.acknowledge_event(store, "github", event_id + 100)
    assert webhooks.list_events(store, "github")[0]["acknowledged"] is None


def test_the_migration_downgrades_and_upgrades_again(store: Store) -> None:
    record(store)
    with store.engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0001")
        connection.commit()
    assert store.current_revision() == "0001"
    store.upgrade()
    assert count(store) == 0
    assert record(store)[1] is True
