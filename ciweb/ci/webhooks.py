"""Webhook events: what code forges delivered to a connection, for the CI backend to read.

A forge retries a delivery it thinks failed, and an operator can redeliver one by hand; both
carry the delivery id of the first.  :func:`record_event` stores one row per (connection,
delivery id) with ``INSERT ... ON CONFLICT DO NOTHING``, so that two copies arriving at once
on two workers still make one row (PostgreSQL waits on the unique index for the first
writer; SQLite serialises writers).  The CI backend lists a connection's pending events and
acknowledges each once it has handled it, as it does with a tenant's management events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from ciweb.ci.errors import NotFound
from ciweb.ci.models import WebhookEvent
from ciweb.ci.serialize import fmt_time
from ciweb.ci.store import Store, utcnow

__all__ = ["acknowledge_event", "event_summary", "event_to_dict", "list_events", "record_event"]


def event_summary(event: WebhookEvent) -> dict[str, Any]:
    """Return a webhook event without its headers and payload."""
    return {
        "id": event.id,
        "connection": event.connection,
        "driver": event.driver,
        "delivery": event.delivery,
        "event": event.event,
        "received": fmt_time(event.received),
        "acknowledged": fmt_time(event.acknowledged),
    }


def event_to_dict(event: WebhookEvent) -> dict[str, Any]:
    """Return a webhook event as the CI backend reads it, headers and payload included."""
    return {**event_summary(event), "headers": event.headers, "payload": event.payload}


def _insert_once(dialect: str, values: Mapping[str, Any]) -> Insert:
    keys = ["connection", "delivery"]
    if dialect == "postgresql":
        stmt = postgresql.insert(WebhookEvent).values(**values)
        return stmt.on_conflict_do_nothing(index_elements=keys)
    if dialect == "sqlite":
        return (
            sqlite.insert(WebhookEvent).values(**values).on_conflict_do_nothing(index_elements=keys)
        )
    return insert(WebhookEvent).values(**values)  # another backend: a duplicate is a Conflict


def _stored(session: Session, connection: str, delivery: str) -> WebhookEvent:
    # The insert made the row, or the row it conflicted with is committed: one exists.
    return session.scalars(
        select(WebhookEvent).where(
            WebhookEvent.connection == connection, WebhookEvent.delivery == delivery
        )
    ).one()


def record_event(
    store: Store,
    *,
    connection: str,
    driver: str,
    delivery: str,
    event: str,
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
) -> tuple[dict[str, Any], bool]:
    """Store a delivery unless the connection has it already; return it and whether it is new.

    :param connection: the connection's name.
    :param driver: its driver (``github``...).
    :param delivery: the forge's delivery id (the same for a redelivery).
    :param event: the forge's event type (``push``, ``Merge Request Hook``...).
    :param headers: the forge's headers worth keeping (never a secret), lowercase names.
    :param payload: the decoded JSON payload.
    :returns: ``(summary, created)``; the summary is :func:`event_summary` of the stored row.
    """
    values = {
        "connection": connection,
        "driver": driver,
        "delivery": delivery,
        "event": event,
        "headers": dict(headers),
        "payload": dict(payload),
        "received": utcnow(),
        "acknowledged": None,
    }
    with store.transaction() as session:
        statement = _insert_once(store.engine.dialect.name, values)
        created = session.execute(statement.returning(WebhookEvent.id)).first() is not None
        return event_summary(_stored(session, connection, delivery)), created


def list_events(
    store: Store, connection: str, *, pending: bool = True, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the webhook events of *connection*, oldest first.

    :param connection: the connection's name.
    :param pending: only those not acknowledged yet.
    :param after_id: only those with a larger id (for polling).
    :param limit: at most this many.
    """
    with store.read() as session:
        stmt = select(WebhookEvent).where(
            WebhookEvent.connection == connection, WebhookEvent.id > after_id
        )
        if pending:
            stmt = stmt.where(WebhookEvent.acknowledged.is_(None))
        rows = session.scalars(stmt.order_by(WebhookEvent.id).limit(limit))
        return [event_to_dict(e) for e in rows]


def acknowledge_event(store: Store, connection: str, event_id: int) -> dict[str, Any]:
    """Mark a webhook event as handled; acknowledging twice keeps the first time.

    :param connection: the connection's name.
    :param event_id: the event's id.
    :raises NotFound: "Event not found" (also for another connection's event).
    """
    with store.transaction() as session:
        event = session.get(WebhookEvent, event_id)
        if event is None or event.connection != connection:
            raise NotFound("Event not found")
        if event.acknowledged is None:
            event.acknowledged = utcnow()
        return event_summary(event)
