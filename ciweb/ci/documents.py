"""Reported documents: labels, nodes, semaphores, nodepool-in-zuul objects, system events,
the tenant's SSH key, and the API root's components and connections.

zuul-web reads these from ZooKeeper and its own components; ciweb holds what a CI system
reports, in one table (:class:`~ciweb.ci.models.ReportedDocument`).  Each report is checked
against Zuul's shape and completed with Zuul's defaults (:mod:`ciweb.ci.shapes`) before it is
written, in one transaction, so a read serves the stored bodies as they are.  A list report
replaces the tenant's whole list of that kind, in the reported order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ciweb.ci import admin, serialize, shapes, validate
from ciweb.ci.errors import Conflict, NotFound, ValidationError
from ciweb.ci.models import ReportedDocument
from ciweb.ci.store import Store, tenant_id, utcnow

__all__ = [
    "LIST_KINDS",
    "ListKind",
    "add_system_events",
    "components",
    "connections",
    "delete_nodeset_request",
    "find_document",
    "has_documents",
    "list_documents",
    "put_components",
    "put_tenant_ssh_key",
    "replace_connections",
    "replace_list",
    "set_node_state",
    "system_events",
    "tenant_ssh_key",
]

SYSTEM_EVENT_PARAMS = frozenset({"event_type", "idx_min", "idx_max", "limit", "skip"})


@dataclasses.dataclass(frozen=True)
class ListKind:
    """A kind of tenant document reported as a whole list.

    :param kind: the ``kind`` column.
    :param shape: its schema in ``shapes.yaml``.
    :param key: the field that names a document among its tenant's.
    :param field: the report's name in error messages, e.g. ``nodes``.
    """

    kind: str
    shape: str
    key: str
    field: str


LIST_KINDS: Mapping[str, ListKind] = {
    k.field: k
    for k in (
        ListKind("label", "Label", "name", "labels"),
        ListKind("node", "Node", "uuid", "nodes"),
        ListKind("semaphore", "Semaphore", "name", "semaphores"),
        ListKind("provider", "Provider", "name", "providers"),
        ListKind("image", "Image", "name", "images"),
        ListKind("flavor", "Flavor", "name", "flavors"),
        ListKind("nodeset-request", "NodesetRequest", "uuid", "nodeset-requests"),
    )
}
_COMPONENTS = "components"
_CONNECTION = "connection"
_SSH_KEY = "tenant-ssh-key"
_SYSTEM_EVENT = "system-event"


def _finish(kind: str, index: int, body: dict[str, Any]) -> dict[str, Any]:
    """Complete what Zuul derives: a node's id and type, a semaphore's holder count."""
    if kind == "node":
        body.setdefault("id", body["uuid"])
        body.setdefault("type", [body["label"]])
    elif kind == "semaphore":
        holders = body["holders"]
        count = len(holders["this_tenant"]) + holders["other_tenants"]
        if holders.setdefault("count", count) != count:
            raise ValidationError(
                f"semaphores[{index}].holders.count", "must be len(this_tenant) + other_tenants"
            )
    return body


def _keyed(
    spec: ListKind, items: Any, field: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    field = field or spec.field
    bodies = shapes.normalize(f"[{spec.shape}]", items, field)
    seen: set[str] = set()
    out = []
    for index, body in enumerate(bodies):
        key = str(body[spec.key])
        if key in seen:
            raise ValidationError(f"{field}[{index}].{spec.key}", "appears twice in the list")
        seen.add(key)
        out.append((key, _finish(spec.kind, index, body)))
    return out


def _replace(
    session: Session, tid: int | None, kind: str, keyed: Sequence[tuple[str, Any]]
) -> None:
    scope = (
        ReportedDocument.tenant_id.is_(None) if tid is None else ReportedDocument.tenant_id == tid
    )
    session.execute(delete(ReportedDocument).where(scope, ReportedDocument.kind == kind))
    now = utcnow()
    session.add_all(
        ReportedDocument(
            tenant_id=tid, kind=kind, key=key, position=position, body=body, updated=now
        )
        for position, (key, body) in enumerate(keyed)
    )


def _bodies(session: Session, tid: int | None, kind: str) -> list[Any]:
    scope = (
        ReportedDocument.tenant_id.is_(None) if tid is None else ReportedDocument.tenant_id == tid
    )
    return list(
        session.scalars(
            select(ReportedDocument.body)
            .where(scope, ReportedDocument.kind == kind)
            .order_by(ReportedDocument.position, ReportedDocument.id)
        )
    )


def replace_list(store: Store, tenant: str, field: str, items: Any) -> int:
    """Replace the tenant's list of one kind with *items*; return how many are stored.

    :param field: a key of :data:`LIST_KINDS`: ``labels``, ``nodes``, ``semaphores``,
        ``providers``, ``images``, ``flavors`` or ``nodeset-requests``.
    :param items: the reported list, each item in Zuul's shape.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field, e.g. ``nodes[2].state``, or a key that
        appears twice.
    """
    spec = LIST_KINDS[field]
    keyed = _keyed(spec, items)
    with store.transaction() as session:
        _replace(session, tenant_id(session, tenant), spec.kind, keyed)
    return len(keyed)


def list_documents(store: Store, tenant: str, field: str) -> list[Any]:
    """Return the tenant's documents of one kind in the reported order (``[]`` if none).

    :param field: a key of :data:`LIST_KINDS`.
    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        return _bodies(session, tenant_id(session, tenant), LIST_KINDS[field].kind)


def has_documents(store: Store, tenant: str, field: str) -> bool:
    """Return whether the tenant has any document of one kind (``auth.niz`` in info).

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        found = session.scalar(
            select(ReportedDocument.id)
            .where(
                ReportedDocument.tenant_id == tenant_id(session, tenant),
                ReportedDocument.kind == LIST_KINDS[field].kind,
            )
            .limit(1)
        )
        return found is not None


def find_document(session: Session, tid: int, field: str, key: str) -> ReportedDocument | None:
    """Return the tenant's document of one kind named *key*, or None.

    :param field: a key of :data:`LIST_KINDS`.
    """
    return session.scalar(
        select(ReportedDocument).where(
            ReportedDocument.tenant_id == tid,
            ReportedDocument.kind == LIST_KINDS[field].kind,
            ReportedDocument.key == key,
        )
    )


# -- the API root -------------------------------------------------------------------------------


def put_components(store: Store, document: Any) -> dict[str, Any]:
    """Replace the components of the CI system: ``{kind: [{hostname, state, version}]}``.

    :raises ValidationError: naming the bad field, e.g. ``executor[0].state``.
    """
    body = shapes.normalize("Components", document, "")
    with store.transaction() as session:
        _replace(session, None, _COMPONENTS, [("", body)])
    return dict(body)


def components(store: Store) -> dict[str, Any]:
    """Return zuul-web's ``/api/components``: ``{kind: [...]}`` (``{}`` before any report)."""
    with store.read() as session:
        found = _bodies(session, None, _COMPONENTS)
    return dict(found[0]) if found else {}


_CONNECTIONS = ListKind(_CONNECTION, "Connection", "name", "connections")


def replace_connections(store: Store, items: Any) -> int:
    """Replace the reported connections of the CI system; return how many are stored.

    :raises ValidationError: naming the bad field, e.g. ``connections[0].driver``.
    """
    keyed = _keyed(_CONNECTIONS, items)
    with store.transaction() as session:
        _replace(session, None, _CONNECTION, keyed)
    return len(keyed)


def connections(store: Store) -> list[dict[str, Any]]:
    """Return the connections the CI system reported, as zuul-web's ``/api/connections``.

    The one query of reported connections: a deployment's configured connections are
    listed next to these by the caller.
    """
    with store.read() as session:
        return [dict(body) for body in _bodies(session, None, _CONNECTION)]


# -- the tenant's SSH key ----------------------------------------------------------------------


def put_tenant_ssh_key(store: Store, tenant: str, document: Any) -> dict[str, str]:
    """Store the tenant's public SSH key ``{"public_key": "ssh-ed25519 AAAA... comment"}``.

    :raises NotFound: "Unknown tenant".
    :raises ValidationError: "public_key" when it is not an OpenSSH public key.
    """
    body = shapes.normalize("TenantSshKey", document, "")
    text = body["public_key"].strip()
    try:
        serialization.load_ssh_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise ValidationError("public_key", "must be an OpenSSH public key") from None
    with store.transaction() as session:
        _replace(session, tenant_id(session, tenant), _SSH_KEY, [("", {"public_key": text})])
    return {"public_key": text}


def tenant_ssh_key(store: Store, tenant: str) -> str:
    """Return the tenant's public SSH key followed by a newline (``tenant-ssh-key/ssh.pub``).

    :raises NotFound: "Unknown tenant", or "Tenant has no key" before one is reported.
    """
    with store.read() as session:
        found = _bodies(session, tenant_id(session, tenant), _SSH_KEY)
    if not found:
        raise NotFound("Tenant has no key")
    return str(found[0]["public_key"]) + "\n"


# -- system events --------------------------------------------------------------------------


def add_system_events(store: Store, tenant: str, events: Any) -> int:
    """Record system events ``[{event_id, event_type, event_time?, description?}]``.

    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field.
    :raises Conflict: when an event id was recorded already.
    """
    keyed = _keyed(ListKind(_SYSTEM_EVENT, "SystemEvent", "event_id", "events"), events)
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        known = set(
            session.scalars(
                select(ReportedDocument.key).where(
                    ReportedDocument.tenant_id == tid,
                    ReportedDocument.kind == _SYSTEM_EVENT,
                    ReportedDocument.key.in_([key for key, _body in keyed]),
                )
            )
        )
        if known:
            raise Conflict(f"system event {sorted(known)[0]} exists already")
        now = utcnow()
        session.add_all(
            ReportedDocument(
                tenant_id=tid, kind=_SYSTEM_EVENT, key=key, position=0, body=body, updated=now
            )
            for key, body in keyed
        )
    return len(keyed)


def system_events(store: Store, tenant: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return zuul-web's ``system-events``, newest first.

    :param params: ``event_type`` (repeatable), ``idx_min``/``idx_max`` (inclusive bounds on
        the record id), ``limit`` (50) and ``skip`` (0).
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming an unknown or bad parameter.
    """
    limit, skip = validate.paged(params, SYSTEM_EVENT_PARAMS)
    bounds = [validate.param_int(params, k, None) for k in ("idx_min", "idx_max")]
    with store.read() as session:
        stmt = select(ReportedDocument.body).where(
            ReportedDocument.tenant_id == tenant_id(session, tenant),
            ReportedDocument.kind == _SYSTEM_EVENT,
        )
        types = validate.param_values(params, "event_type")
        if types:
            stmt = stmt.where(ReportedDocument.body["event_type"].as_string().in_(types))
        if bounds[0] is not None:
            stmt = stmt.where(ReportedDocument.id >= bounds[0])
        if bounds[1] is not None:
            stmt = stmt.where(ReportedDocument.id <= bounds[1])
        stmt = stmt.order_by(ReportedDocument.id.desc()).limit(limit).offset(skip)
        return [dict(body) for body in session.scalars(stmt)]


# -- admin actions on reported nodes and nodeset requests ----------------------------------


def set_node_state(store: Store, tenant: str, node_id: str, data: Any) -> dict[str, Any]:
    """Ask for a node's next state, as zuul-web's ``PUT nodes/{id}`` does.

    The node's ``next_state`` (and, for ``hold``, its comment) change at once, as zuul-web
    sets them for the launcher; a ``node-set-state`` management event asks the CI system to
    carry the change out.  Zuul's rules: a hold keeps the node's comment unless one is
    given (an empty one clears it), any other state clears it.

    :param data: ``{state: hold|used|outdated, comment?}``.
    :raises NotFound: "Unknown tenant" or "Node not found".
    :raises ValidationError: "state" or "comment".
    :return: the event recorded.
    """
    request = shapes.normalize("NodeStateRequest", data, "")
    state = request["state"]
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = find_document(session, tid, "nodes", node_id)
        if row is None:
            raise NotFound("Node not found")
        node = dict(row.body)
        comment = request.get("comment", node.get("comment")) if state == "hold" else None
        node["next_state"], node["comment"] = state, (comment or None)
        row.body, row.updated = node, utcnow()
        payload = {"node": node_id, "state": state, "comment": node["comment"]}
        event = admin.add_event(session, tid, "node-set-state", payload)
        return serialize.management_event_to_dict(event, tenant)


def delete_nodeset_request(store: Store, tenant: str, request_id: str) -> dict[str, Any]:
    """Delete a nodeset request, as zuul-web's ``DELETE nodeset-requests/{id}`` does, and
    record a ``nodeset-request-delete`` management event for the CI system.

    :raises NotFound: "Unknown tenant" or "Request not found".
    :return: the event recorded.
    """
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = find_document(session, tid, "nodeset-requests", request_id)
        if row is None:
            raise NotFound("Request not found")
        session.delete(row)
        event = admin.add_event(session, tid, "nodeset-request-delete", {"uuid": request_id})
        return serialize.management_event_to_dict(event, tenant)
