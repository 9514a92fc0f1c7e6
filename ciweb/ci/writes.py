"""Writes of a tenant's configuration and state: tenants, projects, pipelines, jobs, the status
document and the configuration errors.

Each function validates its whole input first, then writes in one transaction: on any error
nothing is written.  Inputs are decoded JSON (dicts and lists); errors name the field.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select

from ciweb.ci import keys, shapes, validate
from ciweb.ci.errors import ValidationError
from ciweb.ci.models import (
    PROJECT_TYPES,
    ConfigError,
    Job,
    JobVariant,
    Pipeline,
    Project,
    ProjectKey,
    StatusDocument,
    Tenant,
)
from ciweb.ci.queries import Status, etag_of
from ciweb.ci.store import Store, tenant_id, utcnow

LOG = logging.getLogger(__name__)

# Tenant names appear in URL paths (/api/tenant/{t}/...): keep them to one safe path segment.
TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
PROJECT_FIELDS = frozenset(
    {"name", "canonical_name", "connection_name", "type", "metadata", "configs"}
)
PIPELINE_FIELDS = frozenset({"name", "description", "manager", "triggers"})
JOB_FIELDS = frozenset({"name", "variants"})
CONFIG_ERROR_FIELDS = frozenset({"source_context", "error", "short_error", "severity", "name"})
SEVERITIES = frozenset({"error", "warning"})


def upsert_tenant(store: Store, name: str) -> dict[str, Any]:
    """Create tenant *name* if it does not exist; return ``{"name": name}``.

    :raises ValidationError: "name" when it is not a safe path segment.
    """
    if not isinstance(name, str) or not TENANT_NAME.match(name):
        raise ValidationError("name", "must be 1-255 letters, digits, '_', '.' or '-'")
    with store.transaction() as session:
        if session.scalar(select(Tenant.id).where(Tenant.name == name)) is None:
            session.add(Tenant(name=name, created=utcnow()))
    return {"name": name}


def upsert_project(
    store: Store, tenant: str, data: Mapping[str, Any], *, with_keys: bool = True
) -> dict[str, Any]:
    """Create or update a project; a new project gets its secrets and SSH keys in the same
    transaction (the keys are generated before it).

    :param data: ``{name, connection_name, type: config|untrusted, canonical_name?,
        metadata?, configs?}``; canonical_name defaults to the name; metadata and configs
        get Zuul's defaults (the ``ProjectMetadata`` and ``ProjectConfig`` shapes).
    :param with_keys: generate the project's keys if it has none.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field.
    """
    validate.check_keys(data, PROJECT_FIELDS)
    name = validate.required_string(data, "name")
    fields = {
        "canonical_name": validate.string(data, "canonical_name", default=name),
        "connection_name": validate.required_string(data, "connection_name"),
        "type": validate.required_string(data, "type", choices=PROJECT_TYPES),
        "project_metadata": _metadata(data),
        "configs": shapes.normalize(
            "[ProjectConfig]", validate.json_list(data, "configs"), "configs"
        ),
    }
    # The keys are CPU work (a 4096-bit key takes about a second): made before the write
    # transaction, so the lock is held only for the inserts, which make project and keys one
    # write: a failure leaves neither.
    material = _new_key_material(store, tenant, name) if with_keys else None
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = session.scalar(select(Project).where(Project.tenant_id == tid, Project.name == name))
        if row is None:
            row = Project(tenant_id=tid, name=name)
            session.add(row)
        for key, value in fields.items():
            setattr(row, key, value)
        if with_keys:
            session.flush()  # assigns row.id
            if session.get(ProjectKey, row.id) is None:
                # None only if the project lost its keys since the read above (a race).
                material = material or store.offload(keys.generate, store.key_bits)
                session.add(keys.key_row(row.id, material))
                LOG.info("generated keys of project %s in tenant %s", name, tenant)
    return {"name": name, **{k: fields[k] for k in ("canonical_name", "connection_name", "type")}}


def _new_key_material(store: Store, tenant: str, project: str) -> keys.KeyMaterial | None:
    """Return new keys for *project* unless it exists and has keys already."""
    with store.read() as session:
        found = session.scalar(
            select(ProjectKey.project_id)
            .join(Project, Project.id == ProjectKey.project_id)
            .where(Project.tenant_id == tenant_id(session, tenant), Project.name == project)
        )
    return None if found is not None else store.offload(keys.generate, store.key_bits)


def _metadata(data: Mapping[str, Any]) -> dict[str, Any]:
    # Zuul's project/{name} has metadata {} for a project without configuration.
    value = data.get("metadata")
    if value is None or value == {}:
        return {}
    return dict(shapes.normalize("ProjectMetadata", value, "metadata"))


def upsert_pipeline(store: Store, tenant: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Create or update a pipeline with its triggers ``[{name, driver}]``.

    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field.
    """
    validate.check_keys(data, PIPELINE_FIELDS)
    name = validate.required_string(data, "name")
    triggers = []
    for i, trigger in enumerate(validate.json_list(data, "triggers")):
        field = f"triggers[{i}]"
        validate.check_keys(trigger, {"name", "driver"}, field=field)
        triggers.append(
            {
                "name": validate.required_string(trigger, "name"),
                "driver": validate.required_string(trigger, "driver"),
            }
        )
    description = validate.string(data, "description", max_len=65535)
    manager = validate.string(data, "manager", max_len=64)
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = session.scalar(
            select(Pipeline).where(Pipeline.tenant_id == tid, Pipeline.name == name)
        )
        if row is None:
            row = Pipeline(tenant_id=tid, name=name)
            session.add(row)
        row.description, row.manager, row.triggers = description, manager, triggers
    return {"name": name, "triggers": triggers}


def _variant(job_name: str, index: int, variant: Any) -> dict[str, Any]:
    field = f"variants[{index}]"
    if isinstance(variant, dict):
        if variant.get("name", job_name) != job_name:
            raise ValidationError(f"{field}.name", f"must be {job_name!r}")
        variant = {**variant, "name": job_name}
    return dict(shapes.normalize("JobVariant", variant, field))


def upsert_job(store: Store, tenant: str, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Create a job or replace all its variants; return the variants as stored.

    :param data: ``{name, variants: [variant...]}``; each variant has the fields of Zuul's
        ``job/{name}`` (name, branches, parent, description, tags, voting, ...); those left
        out get Zuul's defaults (the ``JobVariant`` shape of :mod:`ciweb.ci.shapes`).
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field, e.g. ``variants[1].branches``.
    """
    validate.check_keys(data, JOB_FIELDS)
    name = validate.required_string(data, "name")
    variants = [_variant(name, i, v) for i, v in enumerate(validate.json_list(data, "variants"))]
    if not variants:
        raise ValidationError("variants", "must hold at least one variant")
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = session.scalar(select(Job).where(Job.tenant_id == tid, Job.name == name))
        if row is None:
            row = Job(tenant_id=tid, name=name)
            session.add(row)
            session.flush()
        session.execute(delete(JobVariant).where(JobVariant.job_id == row.id))
        for position, variant in enumerate(variants):
            session.add(
                JobVariant(
                    job_id=row.id,
                    position=position,
                    name=name,
                    description=variant.get("description"),
                    tags=list(variant.get("tags") or ()),
                    variant=variant,
                )
            )
    return variants


def put_status(store: Store, tenant: str, body: bytes | Mapping[str, Any]) -> Status:
    """Replace the tenant's status document (Zuul's ``status`` shape).

    :param body: the JSON document, as bytes (stored as they are) or as a decoded object.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: "status" when it is not a JSON object with a ``pipelines`` list.
    """
    if isinstance(body, bytes | bytearray):
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise ValidationError("status", f"invalid JSON: {exc}") from None
        raw = bytes(body)
    else:
        document = body
        raw = json.dumps(body, separators=(",", ":")).encode()
    if not isinstance(document, dict) or not isinstance(document.get("pipelines"), list):
        raise ValidationError("status", "must be an object with a 'pipelines' list")
    now = utcnow()
    etag = etag_of(raw)
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        row = session.get(StatusDocument, tid)
        if row is None:
            row = StatusDocument(tenant_id=tid)
            session.add(row)
        row.body, row.last_modified, row.etag = raw, now, etag
    return Status(raw, now, etag)


def _config_error(index: int, data: Any) -> dict[str, Any]:
    field = f"errors[{index}]"
    validate.check_keys(data, CONFIG_ERROR_FIELDS, field=field)
    context = data.get("source_context") or {}
    validate.check_keys(context, {"project", "branch", "path"}, field=f"{field}.source_context")
    error = validate.required_string(data, "error", max_len=1 << 20)
    return {
        "project": validate.string(context, "project"),
        "branch": validate.string(context, "branch"),
        "path": validate.string(context, "path", max_len=1024),
        "error": error,
        "short_error": validate.string(data, "short_error", max_len=65535, default=error[:80]),
        "severity": validate.string(data, "severity", default="error", choices=SEVERITIES),
        "name": validate.string(data, "name", default="Unknown"),
    }


def replace_config_errors(store: Store, tenant: str, errors: Any) -> int:
    """Replace all the configuration errors of a tenant; return how many are stored.

    :param errors: ``[{source_context{project,branch,path}, error, short_error, severity,
        name}]``.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field, e.g. ``errors[2].severity``.
    """
    if not isinstance(errors, list):
        raise ValidationError("errors", "must be a list")
    rows = [_config_error(i, e) for i, e in enumerate(errors)]
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        session.execute(delete(ConfigError).where(ConfigError.tenant_id == tid))
        session.add_all(ConfigError(tenant_id=tid, position=i, **row) for i, row in enumerate(rows))
    return len(rows)
