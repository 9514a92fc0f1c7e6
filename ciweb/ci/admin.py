"""Admin actions and live data: autohold requests, management events for the CI backend, and
console log chunks of running builds.

Zuul carries out enqueue, dequeue, promote, autohold and tenant-state itself; ciweb records them
as management events that a CI backend lists and acknowledges (ARCHITECTURE.md, "Data in").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ciweb.ci import serialize, validate
from ciweb.ci.errors import Conflict, NotFound, ValidationError
from ciweb.ci.models import (
    EVENT_TYPES,
    Autohold,
    Build,
    ConsoleChunk,
    ManagementEvent,
    Pipeline,
)
from ciweb.ci.queries import find_autohold, find_project
from ciweb.ci.store import Store, tenant_id, utcnow

AUTOHOLD_FIELDS = frozenset({"job", "count", "change", "ref", "reason", "node_hold_expiration"})
TENANT_STATE_FIELDS = frozenset(
    {"trigger_queue_discarding", "trigger_queue_paused", "result_queue_paused", "reason", "info"}
)
MAX_CONSOLE_CHUNK = 1 << 20


def change_ref_filter(change: str) -> str:
    """Return the ref regex of a Gerrit change number: ``refs/changes/NN/N/.*``.

    :raises ValidationError: "change" when it is not a number (optionally ``N,P``).
    """
    number = change.split(",", 1)[0]
    # ASCII only: str.isdigit() also accepts superscripts and other scripts' digits.
    if not (number.isascii() and number.isdigit()):
        raise ValidationError("change", "must be a change number")
    # Gerrit shards change refs by the last two digits of the number, zero-padded.
    return f"refs/changes/{number[-2:].zfill(2)}/{number}/.*"


def create_autohold(
    store: Store, tenant: str, project: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Create an autohold request from Zuul's request body and record an ``autohold`` event.

    :param project: short or canonical project name.
    :param body: ``{job, count, change, ref, reason, node_hold_expiration}`` (null or "" for
        change and ref; they are mutually exclusive).
    :raises NotFound: "Unknown tenant" or "Unknown project".
    :raises ValidationError: naming the bad field.
    """
    validate.check_keys(body, AUTOHOLD_FIELDS)
    job = validate.required_string(body, "job")
    change = validate.string(body, "change") or ""
    ref = validate.string(body, "ref", max_len=1024) or ""
    if change and ref:
        raise ValidationError("change", "change and ref are mutually exclusive")
    ref_filter = change_ref_filter(change) if change else validate.regex("ref", ref or ".*")
    # Both are INTEGER columns: 32 bits on PostgreSQL.
    count = validate.integer(body, "count", default=1, minimum=0, maximum=validate.INT32_MAX)
    expiration = validate.integer(
        body, "node_hold_expiration", minimum=0, maximum=validate.INT32_MAX
    )
    reason = validate.string(body, "reason", max_len=4096) or ""
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        canonical = find_project(session, tid, project).canonical_name
        hold = Autohold(
            tenant_id=tid,
            project=canonical,
            job=job,
            ref_filter=ref_filter,
            max_count=count or 0,
            current_count=0,
            reason=reason,
            node_expiration=expiration,
            expired=None,
            nodes=[],
            created=utcnow(),
        )
        session.add(hold)
        session.flush()
        out = serialize.autohold_to_dict(hold, tenant)
        add_event(session, tid, "autohold", out)
    return out


def delete_autohold(store: Store, tenant: str, hold_id: int | str) -> None:
    """Delete an autohold request of *tenant* and record an ``autohold-delete`` event.

    :raises NotFound: "Hold request N not found." (also for another tenant's request).
    """
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        hold = find_autohold(session, tid, hold_id)
        session.delete(hold)
        add_event(session, tid, "autohold-delete", {"id": serialize.autohold_id(hold.id)})


def add_event(session: Session, tid: int, kind: str, payload: dict[str, Any]) -> ManagementEvent:
    """Record a management event of tenant *tid* in *session*'s transaction; return it.

    :param kind: one of :data:`~ciweb.ci.models.EVENT_TYPES`.
    :param payload: what the CI backend needs to carry the action out.
    """
    event = ManagementEvent(
        tenant_id=tid, type=kind, payload=payload, created=utcnow(), acknowledged=None
    )
    session.add(event)
    session.flush()
    return event


def _check_pipeline(session: Session, tid: int, payload: Mapping[str, Any]) -> str:
    name = validate.required_string(payload, "pipeline")
    found = session.scalar(
        select(Pipeline.id).where(Pipeline.tenant_id == tid, Pipeline.name == name)
    )
    if found is None:
        raise ValidationError("pipeline", "Unknown pipeline")
    return name


def _event_payload(session: Session, tid: int, kind: str, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise ValidationError("payload", "must be a JSON object")
    out = dict(payload)
    if kind in ("enqueue", "dequeue"):
        out["project"] = find_project(
            session, tid, validate.required_string(payload, "project")
        ).canonical_name
        _check_pipeline(session, tid, payload)
        change, ref = validate.string(payload, "change"), validate.string(payload, "ref")
        if bool(change) == bool(ref):
            raise ValidationError("change", "give exactly one of change and ref")
    elif kind == "promote":
        _check_pipeline(session, tid, payload)
        if not validate.string_list(payload, "changes"):
            raise ValidationError("changes", "must list at least one change")
    elif kind == "tenant-state":
        validate.check_keys(payload, TENANT_STATE_FIELDS, field="payload")
        for key in ("trigger_queue_discarding", "trigger_queue_paused", "result_queue_paused"):
            validate.boolean(payload, key, default=False)
        validate.string(payload, "reason", max_len=4096)
    return out


def record_event(store: Store, tenant: str, kind: str, payload: Any) -> dict[str, Any]:
    """Record a management event for the CI backend; return it.

    :param kind: enqueue, dequeue, promote, autohold, autohold-delete or tenant-state (the
        node and nodeset-request events are recorded by :mod:`ciweb.ci.documents`).
    :param payload: the action's JSON body (enqueue/dequeue also carry ``project``).
    :raises NotFound: "Unknown tenant" or "Unknown project".
    :raises ValidationError: "type", or naming the bad payload field ("pipeline":
        "Unknown pipeline").
    """
    if kind not in EVENT_TYPES:
        raise ValidationError("type", f"must be one of {', '.join(EVENT_TYPES)}")
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        event = add_event(session, tid, kind, _event_payload(session, tid, kind, payload))
        return serialize.management_event_to_dict(event, tenant)


def list_events(
    store: Store, tenant: str, *, pending: bool = True, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the management events of *tenant*, oldest first.

    :param pending: only those not acknowledged yet.
    :param after_id: only those with a larger id (for polling).
    :param limit: at most this many.
    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        stmt = select(ManagementEvent).where(
            ManagementEvent.tenant_id == tid, ManagementEvent.id > after_id
        )
        if pending:
            stmt = stmt.where(ManagementEvent.acknowledged.is_(None))
        rows = session.scalars(stmt.order_by(ManagementEvent.id).limit(limit))
        return [serialize.management_event_to_dict(e, tenant) for e in rows]


def acknowledge_event(store: Store, tenant: str, event_id: int) -> dict[str, Any]:
    """Mark a management event as carried out; acknowledging twice keeps the first time.

    :raises NotFound: "Unknown tenant" or "Event not found".
    """
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        event = session.get(ManagementEvent, event_id)
        if event is None or event.tenant_id != tid:
            raise NotFound("Event not found")
        if event.acknowledged is None:
            event.acknowledged = utcnow()
        return serialize.management_event_to_dict(event, tenant)


def _build_id(session: Session, tenant: str, uuid: str) -> int:
    found = session.scalar(
        select(Build.id).where(Build.tenant_id == tenant_id(session, tenant), Build.uuid == uuid)
    )
    if found is None:
        raise NotFound("Build not found")
    return found


def append_console(
    store: Store, tenant: str, build_uuid: str, text: str, *, end: bool = False
) -> int:
    """Append console text to a build; *end* marks the end of the stream.  Return the chunk's
    sequence number (1, 2, ...).

    :raises NotFound: "Unknown tenant" or "Build not found".
    :raises ValidationError: "text" when not a string or larger than 1 MiB.
    :raises Conflict: when the stream has ended already.
    """
    if not isinstance(text, str) or len(text) > MAX_CONSOLE_CHUNK:
        raise ValidationError("text", "must be a string of at most 1 MiB")
    with store.transaction() as session:
        build_id = _build_id(session, tenant, build_uuid)
        last = session.execute(
            select(ConsoleChunk.sequence, ConsoleChunk.end)
            .where(ConsoleChunk.build_id == build_id)
            .order_by(ConsoleChunk.sequence.desc())
            .limit(1)
        ).first()
        if last is not None and last.end:
            raise Conflict("console stream has ended")
        sequence = (last.sequence if last is not None else 0) + 1
        session.add(ConsoleChunk(build_id=build_id, sequence=sequence, text=text, end=end))
    return sequence


def read_console(
    store: Store, tenant: str, build_uuid: str, *, after: int = 0, limit: int = 1000
) -> dict[str, Any]:
    """Return console chunks after sequence *after*: ``{"chunks": [{sequence, text}], "end":
    bool}``; ``end`` is true once the end marker has been read.

    :raises NotFound: "Unknown tenant" or "Build not found".
    """
    with store.read() as session:
        build_id = _build_id(session, tenant, build_uuid)
        rows = session.scalars(
            select(ConsoleChunk)
            .where(ConsoleChunk.build_id == build_id, ConsoleChunk.sequence > after)
            .order_by(ConsoleChunk.sequence)
            .limit(limit)
        ).all()
        return {
            "chunks": [{"sequence": c.sequence, "text": c.text} for c in rows],
            "end": any(c.end for c in rows),
        }


def console_length(store: Store, tenant: str, build_uuid: str) -> int:
    """Return how many console chunks a build has.

    :raises NotFound: "Unknown tenant" or "Build not found".
    """
    with store.read() as session:
        build_id = _build_id(session, tenant, build_uuid)
        return (
            session.scalar(
                select(func.count(ConsoleChunk.id)).where(ConsoleChunk.build_id == build_id)
            )
            or 0
        )
