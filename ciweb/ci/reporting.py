"""Writes of the build history, as a CI backend reports it: buildsets, builds, their results.

One call is one transaction: the whole input is validated, and on any error nothing is written.
Times are epoch seconds or ISO 8601 strings (UTC when no zone is given).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ciweb.ci import history, validate
from ciweb.ci.errors import Conflict, NotFound, ValidationError
from ciweb.ci.models import Build, Buildset, BuildsetEvent, BuildsetRef, Ref
from ciweb.ci.store import Store, tenant_id, utcnow

REF_FIELDS = frozenset(
    {"project", "branch", "change", "patchset", "ref", "oldrev", "newrev", "ref_url"}
)
BUILDSET_FIELDS = frozenset(
    {"uuid", "pipeline", "refs", "event_id", "event_timestamp", "queue_item_uuid", "user_id"}
    | {"parameters", "result", "message", "first_build_start_time", "last_build_end_time"}
)
BUILDSET_UPDATE_FIELDS = frozenset(
    {"result", "message", "first_build_start_time", "last_build_end_time"}
)
BUILD_RESULT_FIELDS = frozenset(
    {"result", "held", "voting", "final", "start_time", "end_time", "execute_time"}
    | {"log_url", "nodeset", "error_detail", "artifacts", "provides"}
)
BUILD_FIELDS = BUILD_RESULT_FIELDS | {"uuid", "job_name", "ref"}
EVENT_FIELDS = frozenset({"event_time", "event_type", "description"})


def _ref_values(data: Any, field: str) -> dict[str, Any]:
    validate.check_keys(data, REF_FIELDS, field=field)
    # refs.change is an INTEGER column: 32 bits on PostgreSQL.
    change = validate.integer(data, "change", minimum=0, maximum=validate.INT32_MAX)
    values: dict[str, Any] = {
        key: validate.string(data, key) for key in ("branch", "patchset", "oldrev", "newrev")
    }
    values.update(
        project=validate.required_string(data, "project"),
        ref=validate.required_string(data, "ref"),
        ref_url=validate.string(data, "ref_url", max_len=1024),
        change=change,
    )
    return values


def _get_or_create_ref(session: Session, tid: int, values: dict[str, Any]) -> Ref:
    # NULL-safe equality on every column: two reports of one change share one row.
    conditions = [getattr(Ref, k).is_not_distinct_from(v) for k, v in values.items()]
    ref = session.scalar(
        select(Ref).where(Ref.tenant_id == tid, *conditions).order_by(Ref.id).limit(1)
    )
    if ref is None:
        ref = Ref(tenant_id=tid, **values)
        session.add(ref)
        session.flush()
    return ref


def _buildset_values(data: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    validate.check_keys(data, allowed)
    values: dict[str, Any] = {}
    for key in ("result", "message", "event_id", "queue_item_uuid", "user_id"):
        if key in data and key in allowed:
            values[key] = validate.string(data, key, max_len=65535 if key == "message" else 255)
    for key in ("event_timestamp", "first_build_start_time", "last_build_end_time"):
        if key in data:
            values[key] = validate.timestamp(data, key)
    if "parameters" in data and data["parameters"] is not None:
        if not isinstance(data["parameters"], dict):
            raise ValidationError("parameters", "must be an object")
        values["parameters"] = data["parameters"]
    return values


def create_buildset(store: Store, tenant: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Record a new buildset with its refs; return it in Zuul's ``buildset`` shape.

    :param data: ``{uuid, pipeline, refs: [ref...], event_id?, event_timestamp?,
        queue_item_uuid?, user_id?, parameters?, result?, message?}``; a ref is
        ``{project, ref, branch?, change?, patchset?, oldrev?, newrev?, ref_url?}``.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field.
    :raises Conflict: when the uuid exists already.
    """
    values = _buildset_values(data, BUILDSET_FIELDS)
    uuid = validate.required_string(data, "uuid", max_len=36)
    pipeline = validate.required_string(data, "pipeline")
    refs = [_ref_values(r, f"refs[{i}]") for i, r in enumerate(validate.json_list(data, "refs"))]
    if not refs:
        raise ValidationError("refs", "must hold at least one ref")
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        if session.scalar(select(Buildset.id).where(Buildset.uuid == uuid)) is not None:
            raise Conflict(f"Buildset {uuid} exists already")
        buildset = Buildset(tenant_id=tid, uuid=uuid, pipeline=pipeline, updated=utcnow(), **values)
        session.add(buildset)
        session.flush()
        for ref_values in refs:
            ref = _get_or_create_ref(session, tid, ref_values)
            if session.get(BuildsetRef, (buildset.id, ref.id)) is None:
                session.add(BuildsetRef(buildset_id=buildset.id, ref_id=ref.id))
    return history.buildset(store, tenant, uuid)


def _buildset(session: Session, tid: int, uuid: str) -> Buildset:
    buildset = session.scalar(
        select(Buildset).where(Buildset.tenant_id == tid, Buildset.uuid == uuid)
    )
    if buildset is None:
        raise NotFound("Buildset not found")
    return buildset


def update_buildset(
    store: Store, tenant: str, uuid: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Set a buildset's result, message or build times; return it.

    :raises NotFound: "Unknown tenant" or "Buildset not found".
    :raises ValidationError: naming the bad field.
    """
    values = _buildset_values(data, BUILDSET_UPDATE_FIELDS)
    with store.transaction() as session:
        buildset = _buildset(session, tenant_id(session, tenant), uuid)
        for key, value in values.items():
            setattr(buildset, key, value)
        buildset.updated = utcnow()
    return history.buildset(store, tenant, uuid)


def add_buildset_event(
    store: Store, tenant: str, uuid: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Record an event of a buildset: ``{event_type, description?, event_time?}``.

    :raises NotFound: "Unknown tenant" or "Buildset not found".
    :raises ValidationError: naming the bad field.
    """
    validate.check_keys(data, EVENT_FIELDS)
    event_type = validate.required_string(data, "event_type")
    description = validate.string(data, "description", max_len=65535)
    event_time = validate.timestamp(data, "event_time") or utcnow().replace(microsecond=0)
    with store.transaction() as session:
        buildset = _buildset(session, tenant_id(session, tenant), uuid)
        session.add(
            BuildsetEvent(
                buildset_id=buildset.id,
                event_time=event_time,
                event_type=event_type,
                description=description,
            )
        )
    return {
        "event_time": event_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "event_type": event_type,
        "description": description,
    }


def _artifacts(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for i, artifact in enumerate(validate.json_list(data, "artifacts")):
        field = f"artifacts[{i}]"
        validate.check_keys(artifact, {"name", "url", "metadata"}, field=field)
        metadata = artifact.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValidationError(f"{field}.metadata", "must be an object")
        entry: dict[str, Any] = {
            "name": validate.required_string(artifact, "name"),
            "url": validate.required_string(artifact, "url", max_len=4096),
        }
        if metadata:
            entry["metadata"] = metadata
        out.append(entry)
    return out


def _provides(data: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for i, item in enumerate(validate.json_list(data, "provides")):
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise ValidationError(f"provides[{i}]", 'must be a name or {"name": ...}')
        out.append({"name": name})
    return out


def _build_values(data: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    validate.check_keys(data, allowed)
    values: dict[str, Any] = {}
    for key in ("result", "nodeset"):
        if key in data:
            values[key] = validate.string(data, key)
    for key in ("log_url", "error_detail"):
        if key in data:
            values[key] = validate.string(data, key, max_len=65535)
    for key in ("held", "voting", "final"):
        if key in data:
            values[key] = validate.boolean(data, key, default=key == "voting")
    for key in ("start_time", "end_time", "execute_time"):
        if key in data:
            values[key] = validate.timestamp(data, key)
    if "artifacts" in data:
        values["artifacts"] = _artifacts(data)
    if "provides" in data:
        values["provides"] = _provides(data)
    return values


def _touch_buildset_times(session: Session, buildset_id: int) -> None:
    # The buildset's first start and last end follow its builds (Zuul sets them the same way).
    first, last = session.execute(
        select(func.min(Build.start_time), func.max(Build.end_time)).where(
            Build.buildset_id == buildset_id
        )
    ).one()
    buildset = session.get(Buildset, buildset_id)
    if buildset is not None:
        buildset.first_build_start_time, buildset.last_build_end_time = first, last
        buildset.updated = utcnow()


def create_build(
    store: Store, tenant: str, buildset_uuid: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """Record a build of a buildset; return it in Zuul's ``build`` shape.

    :param data: ``{uuid, job_name, ref?, voting?, nodeset?, start_time?, ...}``, plus any
        result field of :func:`update_build`; ``ref`` defaults to the buildset's first ref and
        must otherwise be one of its refs.
    :raises NotFound: "Unknown tenant" or "Buildset not found".
    :raises ValidationError: naming the bad field.
    :raises Conflict: when the uuid exists already or the ref is not the buildset's.
    """
    values = _build_values(data, BUILD_FIELDS)
    uuid = validate.required_string(data, "uuid", max_len=36)
    job_name = validate.required_string(data, "job_name")
    ref_values = _ref_values(data["ref"], "ref") if data.get("ref") is not None else None
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        buildset = _buildset(session, tid, buildset_uuid)
        if session.scalar(select(Build.id).where(Build.uuid == uuid)) is not None:
            raise Conflict(f"Build {uuid} exists already")
        refs = select(BuildsetRef.ref_id).where(BuildsetRef.buildset_id == buildset.id)
        if ref_values is None:
            ref_id = session.scalar(refs.order_by(BuildsetRef.ref_id).limit(1))
        else:
            ref_id = _get_or_create_ref(session, tid, ref_values).id
            if ref_id not in set(session.scalars(refs)):
                raise Conflict("ref: not one of the buildset's refs")
        defaults = {"held": False, "voting": True, "final": True, "artifacts": [], "provides": []}
        session.add(
            Build(
                tenant_id=tid,
                buildset_id=buildset.id,
                ref_id=ref_id,
                uuid=uuid,
                job_name=job_name,
                **{**defaults, **values},
            )
        )
        session.flush()
        _touch_buildset_times(session, buildset.id)
    return history.build(store, tenant, uuid)


def update_build(store: Store, tenant: str, uuid: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Record a build's progress or result; return the build.

    :param data: any of ``result, held, voting, final, start_time, end_time, execute_time,
        log_url, nodeset, error_detail, artifacts [{name, url, metadata?}], provides
        [{name}]``; fields left out keep their value.
    :raises NotFound: "Unknown tenant" or "Build not found".
    :raises ValidationError: naming the bad field.
    """
    values = _build_values(data, BUILD_RESULT_FIELDS)
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = session.scalar(select(Build).where(Build.tenant_id == tid, Build.uuid == uuid))
        if row is None:
            raise NotFound("Build not found")
        for key, value in values.items():
            setattr(row, key, value)
        session.flush()
        _touch_buildset_times(session, row.buildset_id)
    return history.build(store, tenant, uuid)
