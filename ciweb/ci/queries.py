"""Read queries of a tenant's configuration and state, in Zuul's JSON shapes (zuul-api.md §1).

The build history lives in :mod:`ciweb.ci.history`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ciweb.ci import serialize, validate
from ciweb.ci.errors import NotFound
from ciweb.ci.models import (
    Autohold,
    ConfigError,
    Job,
    JobVariant,
    Pipeline,
    Project,
    StatusDocument,
    Tenant,
)
from ciweb.ci.store import Store, tenant_id

CONFIG_ERROR_PARAMS = frozenset({"project", "branch", "severity", "name", "limit", "skip"})


def tenants(store: Store) -> list[dict[str, Any]]:
    """Return Zuul's ``tenants``: ``[{"name": ...}]`` sorted by name."""
    with store.read() as session:
        return [{"name": n} for n in session.scalars(select(Tenant.name).order_by(Tenant.name))]


def tenant_exists(store: Store, tenant: str) -> bool:
    """Return whether *tenant* is defined."""
    with store.read() as session:
        return session.scalar(select(Tenant.id).where(Tenant.name == tenant)) is not None


def _project_dict(p: Project) -> dict[str, Any]:
    return {
        "name": p.name,
        "connection_name": p.connection_name,
        "canonical_name": p.canonical_name,
        "type": p.type,
    }


def find_project(session: Session, tid: int, name: str) -> Project:
    """Return the project called *name* (short or canonical ``host/org/project``) of a tenant.

    :raises NotFound: "Unknown project".
    """
    project = session.scalar(
        select(Project)
        .where(Project.tenant_id == tid, or_(Project.name == name, Project.canonical_name == name))
        .order_by(Project.id)
        .limit(1)
    )
    if project is None:
        raise NotFound("Unknown project")
    return project


def projects(store: Store, tenant: str) -> list[dict[str, Any]]:
    """Return Zuul's ``projects``: name, connection_name, canonical_name, type; sorted by name.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        rows = session.scalars(
            select(Project).where(Project.tenant_id == tid).order_by(Project.name)
        )
        return [_project_dict(p) for p in rows]


def project(store: Store, tenant: str, name: str) -> dict[str, Any]:
    """Return Zuul's ``project/{name}`` with ``metadata`` and ``configs``.

    :raises NotFound: "Unknown tenant" or "Unknown project".
    """
    with store.read() as session:
        p = find_project(session, tenant_id(session, tenant), name)
        out = _project_dict(p)
        del out["type"]
        out["metadata"] = p.project_metadata or {}
        out["configs"] = p.configs or []
        return out


def pipelines(store: Store, tenant: str) -> list[dict[str, Any]]:
    """Return Zuul's ``pipelines``: ``[{name, triggers[{name, driver}]}]``.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        rows = session.scalars(
            select(Pipeline).where(Pipeline.tenant_id == tid).order_by(Pipeline.id)
        )
        return [{"name": p.name, "triggers": list(p.triggers or ())} for p in rows]


def _variants(session: Session, tid: int, name: str | None = None) -> Iterator[tuple[str, Any]]:
    stmt = (
        select(Job.name, JobVariant)
        .join(JobVariant, JobVariant.job_id == Job.id)
        .where(Job.tenant_id == tid)
        .order_by(Job.name, JobVariant.position)
    )
    if name is not None:
        stmt = stmt.where(Job.name == name)
    for job_name, variant in session.execute(stmt):
        yield str(job_name), variant


def jobs(store: Store, tenant: str) -> list[dict[str, Any]]:
    """Return Zuul's ``jobs``: name, first description line, tags and variants (parent,
    branches); empty keys are left out as Zuul does.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        out: dict[str, dict[str, Any]] = {}
        for job_name, v in _variants(session, tid):
            entry = out.setdefault(job_name, {"name": job_name})
            if "description" not in entry and v.description:
                entry["description"] = v.description.split("\n")[0]
            if v.tags:
                tags = entry.setdefault("tags", [])
                tags.extend(t for t in v.tags if t not in tags)
            summary = {k: v.variant[k] for k in ("parent", "branches") if v.variant.get(k)}
            if summary:
                entry.setdefault("variants", []).append(summary)
        return list(out.values())


def job(store: Store, tenant: str, name: str) -> list[dict[str, Any]]:
    """Return Zuul's ``job/{name}``: the list of the job's variants.

    :raises NotFound: "Unknown tenant" or "Job not found".
    """
    with store.read() as session:
        variants = [v.variant for _name, v in _variants(session, tenant_id(session, tenant), name)]
        if not variants:
            raise NotFound("Job not found")
        return variants


def config_errors(store: Store, tenant: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return Zuul's ``config-errors``, filtered by project, branch, severity and name.

    :param params: query parameters; ``limit`` (default 50) and ``skip`` page the list.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming an unknown or bad parameter.
    """
    limit, skip = validate.paged(params, CONFIG_ERROR_PARAMS)
    with store.read() as session:
        stmt = select(ConfigError).where(ConfigError.tenant_id == tenant_id(session, tenant))
        for key in ("project", "branch", "severity", "name"):
            values = validate.param_values(params, key)
            if values:
                stmt = stmt.where(getattr(ConfigError, key).in_(values))
        stmt = stmt.order_by(ConfigError.position).limit(limit).offset(skip)
        return [serialize.config_error_to_dict(e) for e in session.scalars(stmt)]


def tenant_status(store: Store, tenant: str) -> dict[str, Any]:
    """Return Zuul's ``tenant-status``: ``{"config_error_count": n}``.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        count = session.scalar(
            select(func.count(ConfigError.id)).where(ConfigError.tenant_id == tid)
        )
        return {"config_error_count": count or 0}


@dataclasses.dataclass(frozen=True)
class Status:
    """A tenant's status document: the JSON bytes as stored, when they changed, their ETag."""

    body: bytes
    last_modified: dt.datetime
    etag: str


def etag_of(body: bytes) -> str:
    """Return the strong ETag (quoted, RFC 9110 §8.8.3) of a status body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def status(store: Store, tenant: str) -> Status:
    """Return the tenant's status document; an empty one (its pipelines, no items) if none was
    reported yet.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        doc = session.get(StatusDocument, tid)
        if doc is not None:
            return Status(doc.body, doc.last_modified, doc.etag)
        created = session.scalar(select(Tenant.created).where(Tenant.id == tid))
        names = session.scalars(select(Pipeline.name).where(Pipeline.tenant_id == tid))
        body = json.dumps(empty_status([str(n) for n in names])).encode()
        return Status(body, created or dt.datetime(1970, 1, 1), etag_of(body))


def empty_status(pipeline_names: list[str]) -> dict[str, Any]:
    """Return a status document with the given pipelines and nothing queued."""
    return {
        "zuul_version": None,
        "last_reconfigured": 0,
        "trigger_event_queue": {"length": 0},
        "management_event_queue": {"length": 0},
        "connection_event_queues": {},
        "pipelines": [
            {
                "name": n,
                "change_queues": [],
                "trigger_events": 0,
                "result_events": 0,
                "management_events": 0,
            }
            for n in pipeline_names
        ],
    }


def status_validators(store: Store, tenant: str) -> tuple[str, dt.datetime] | None:
    """Return the ETag and Last-Modified of the tenant's reported status document, without
    its body; None when none was reported yet.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        row = session.execute(
            select(StatusDocument.etag, StatusDocument.last_modified).where(
                StatusDocument.tenant_id == tid
            )
        ).first()
        return (row.etag, row.last_modified) if row is not None else None


def tenant_created(store: Store, tenant: str) -> dt.datetime:
    """Return when *tenant* was created.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        created = session.scalar(select(Tenant.created).where(Tenant.name == tenant))
        if created is None:
            raise NotFound("Unknown tenant")
        return created


def autoholds(store: Store, tenant: str, project: str | None = None) -> list[dict[str, Any]]:
    """Return Zuul's ``autohold`` list; *project* keeps requests whose canonical project name
    ends with it.

    :raises NotFound: "Unknown tenant".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        rows = session.scalars(
            select(Autohold).where(Autohold.tenant_id == tid).order_by(Autohold.id)
        )
        return [
            serialize.autohold_to_dict(h, tenant)
            for h in rows
            if not project or h.project.endswith(project)
        ]


def autohold(store: Store, tenant: str, hold_id: int | str) -> dict[str, Any]:
    """Return one autohold request of *tenant*.

    :raises NotFound: "Unknown tenant", or "Hold request N not found." (also when it belongs
        to another tenant).
    """
    with store.read() as session:
        hold = find_autohold(session, tenant_id(session, tenant), hold_id)
        return serialize.autohold_to_dict(hold, tenant)


def find_autohold(session: Session, tid: int, hold_id: int | str) -> Autohold:
    """Return the autohold request *hold_id* of the tenant *tid*.

    :raises NotFound: "Hold request N not found." (also when it belongs to another tenant).
    """
    missing = NotFound(f"Hold request {hold_id} not found.")
    # autoholds.id is an INTEGER column: a larger id names no request.
    hold_pk = validate.id_param(hold_id, missing, maximum=validate.INT32_MAX)
    hold = session.get(Autohold, hold_pk)
    if hold is None or hold.tenant_id != tid:
        raise missing
    return hold
