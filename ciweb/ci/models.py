"""SQLAlchemy 2 models of the CI domain: tenants, their configuration, build history and status.

Times are naive ``datetime`` values in UTC (Zuul stores them the same way and renders them as
``YYYY-MM-DDTHH:MM:SS``).  The migrations under ``ciweb/ci/migrations`` create exactly these
tables; a test compares the two.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so that migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PROJECT_TYPES = ("config", "untrusted")
EVENT_TYPES = (
    "enqueue",
    "dequeue",
    "promote",
    "autohold",
    "autohold-delete",
    "tenant-state",
    "node-set-state",
    "nodeset-request-delete",
)

# Build ids outgrow 32 bits only in huge installations, but SQLite's INTEGER PRIMARY KEY alias
# (the rowid) must stay INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base of every ciweb table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tenant(Base):
    """A tenant: the unit of configuration, history and authorisation."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime)


class Project(Base):
    """A project of a tenant, as Zuul's ``projects`` endpoint lists it."""

    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    canonical_name: Mapped[str] = mapped_column(String(255), index=True)
    connection_name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16))
    # ``metadata`` is reserved by the declarative base, hence the attribute name.
    project_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    configs: Mapped[list[Any]] = mapped_column(JSON)


class ProjectKey(Base):
    """The secrets key pair and SSH key pair of a project; private parts never leave the store."""

    __tablename__ = "project_keys"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    secrets_private_pem: Mapped[str] = mapped_column(Text)
    secrets_public_pem: Mapped[str] = mapped_column(Text)
    ssh_private: Mapped[str] = mapped_column(Text)
    ssh_public: Mapped[str] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(DateTime)


class Pipeline(Base):
    """A pipeline of a tenant with its triggers ``[{name, driver}]``."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    manager: Mapped[str | None] = mapped_column(String(64))
    triggers: Mapped[list[Any]] = mapped_column(JSON)


class Job(Base):
    """A job name of a tenant; its definitions are the variants."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))


class JobVariant(Base):
    """One variant of a job, stored whole as Zuul's ``job/{name}`` returns it."""

    __tablename__ = "job_variants"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    variant: Mapped[dict[str, Any]] = mapped_column(JSON)


class Ref(Base):
    """What was tested: a change, a branch tip or a tag (Zuul's ``zuul_ref``)."""

    __tablename__ = "refs"
    __table_args__ = (
        Index("ix_refs_tenant_project", "tenant_id", "project"),
        Index("ix_refs_tenant_change", "tenant_id", "change", "patchset"),
        Index("ix_refs_tenant_branch", "tenant_id", "branch"),
        Index("ix_refs_tenant_ref", "tenant_id", "ref"),
        Index("ix_refs_newrev", "newrev"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(255))
    ref: Mapped[str] = mapped_column(String(255))
    ref_url: Mapped[str | None] = mapped_column(String(1024))
    change: Mapped[int | None] = mapped_column(Integer)
    patchset: Mapped[str | None] = mapped_column(String(255))
    oldrev: Mapped[str | None] = mapped_column(String(255))
    newrev: Mapped[str | None] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))


class Buildset(Base):
    """One queue item's set of builds and its overall result."""

    __tablename__ = "buildsets"
    __table_args__ = (
        Index("ix_buildsets_tenant_id", "tenant_id", "id"),
        Index("ix_buildsets_tenant_pipeline", "tenant_id", "pipeline", "id"),
        Index("ix_buildsets_tenant_result", "tenant_id", "result", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    pipeline: Mapped[str] = mapped_column(String(255))
    result: Mapped[str | None] = mapped_column(String(255))
    message: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(255))
    event_timestamp: Mapped[dt.datetime | None] = mapped_column(DateTime)
    queue_item_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    first_build_start_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_build_end_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    user_id: Mapped[str | None] = mapped_column(String(255))
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated: Mapped[dt.datetime] = mapped_column(DateTime)


class BuildsetRef(Base):
    """The refs of a buildset (several for a circular-dependency bundle)."""

    __tablename__ = "buildset_refs"
    __table_args__ = (Index("ix_buildset_refs_ref", "ref_id", "buildset_id"),)

    buildset_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("buildsets.id", ondelete="CASCADE"), primary_key=True
    )
    ref_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("refs.id", ondelete="CASCADE"), primary_key=True
    )


class Build(Base):
    """One job run.  ``tenant_id`` is copied from the buildset so the history stays one index
    range scan per tenant (newest first) at millions of rows."""

    __tablename__ = "builds"
    __table_args__ = (
        Index("ix_builds_tenant_id", "tenant_id", "id"),
        Index("ix_builds_tenant_job", "tenant_id", "job_name", "id"),
        Index("ix_builds_tenant_result", "tenant_id", "result", "id"),
        Index("ix_builds_ref", "ref_id", "id"),
        Index("ix_builds_buildset", "buildset_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    buildset_id: Mapped[int] = mapped_column(BigId, ForeignKey("buildsets.id", ondelete="CASCADE"))
    ref_id: Mapped[int] = mapped_column(BigId, ForeignKey("refs.id"))
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    job_name: Mapped[str] = mapped_column(String(255))
    result: Mapped[str | None] = mapped_column(String(255))
    held: Mapped[bool] = mapped_column(Boolean)
    voting: Mapped[bool] = mapped_column(Boolean)
    final: Mapped[bool] = mapped_column(Boolean)
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    end_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    execute_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    log_url: Mapped[str | None] = mapped_column(String(1024))
    nodeset: Mapped[str | None] = mapped_column(String(255))
    error_detail: Mapped[str | None] = mapped_column(Text)
    artifacts: Mapped[list[Any]] = mapped_column(JSON)
    provides: Mapped[list[Any]] = mapped_column(JSON)


class BuildsetEvent(Base):
    """Something that happened to a buildset (e.g. a dequeue, a merge failure)."""

    __tablename__ = "buildset_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    buildset_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("buildsets.id", ondelete="CASCADE"), index=True
    )
    event_time: Mapped[dt.datetime] = mapped_column(DateTime)
    event_type: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)


class ConfigError(Base):
    """A configuration error of a tenant's layout."""

    __tablename__ = "config_errors"
    __table_args__ = (Index("ix_config_errors_tenant", "tenant_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    project: Mapped[str | None] = mapped_column(String(255))
    branch: Mapped[str | None] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(1024))
    error: Mapped[str] = mapped_column(Text)
    short_error: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))


class StatusDocument(Base):
    """A tenant's status JSON, stored pre-serialised so that reads send the bytes as they are."""

    __tablename__ = "status_documents"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[bytes] = mapped_column(LargeBinary)
    last_modified: Mapped[dt.datetime] = mapped_column(DateTime)
    etag: Mapped[str] = mapped_column(String(80))


class Autohold(Base):
    """An autohold request: keep the nodes of matching failed builds."""

    __tablename__ = "autoholds"
    __table_args__ = (Index("ix_autoholds_tenant", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(255))
    job: Mapped[str] = mapped_column(String(255))
    ref_filter: Mapped[str] = mapped_column(String(1024))
    max_count: Mapped[int] = mapped_column(Integer)
    current_count: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    node_expiration: Mapped[int | None] = mapped_column(Integer)
    expired: Mapped[float | None] = mapped_column()
    nodes: Mapped[list[Any]] = mapped_column(JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime)


class ManagementEvent(Base):
    """An admin action recorded for a CI backend to carry out and acknowledge."""

    __tablename__ = "management_events"
    __table_args__ = (Index("ix_management_events_pending", "acknowledged", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[dt.datetime] = mapped_column(DateTime)
    acknowledged: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ConsoleChunk(Base):
    """A piece of a build's console log, in order; ``end`` marks the end of the stream."""

    __tablename__ = "console_chunks"
    __table_args__ = (UniqueConstraint("build_id", "sequence"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    build_id: Mapped[int] = mapped_column(BigId, ForeignKey("builds.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    end: Mapped[bool] = mapped_column(Boolean)


class WebhookEvent(Base):
    """A code forge's webhook delivery to a connection, kept for the CI backend to read.

    A redelivery (the forge's retry, or an operator's "redeliver") carries the same delivery
    id: the unique constraint stores it once, even when two copies arrive at the same time.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("connection", "delivery"),
        Index("ix_webhook_events_pending", "connection", "acknowledged", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connection: Mapped[str] = mapped_column(String(64))
    driver: Mapped[str] = mapped_column(String(64))
    delivery: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(255))
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received: Mapped[dt.datetime] = mapped_column(DateTime)
    acknowledged: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ReportedDocument(Base):
    """A document a CI system reported, stored as zuul-web serves it: a label, a node, a
    semaphore, a job graph, the components...

    One table for every kind: ``kind`` says which (see :mod:`ciweb.ci.documents`), ``key``
    names the document among its tenant's of that kind, ``position`` keeps a reported list's
    order.  ``tenant_id`` is NULL for documents of the API root (components, connections);
    a partial unique index keeps their keys unique, as NULLs never collide in the other.
    Bodies are checked against :mod:`ciweb.ci.shapes` before they are written.
    """

    __tablename__ = "reported_documents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "key"),
        Index(
            "ix_reported_documents_root",
            "kind",
            "key",
            unique=True,
            sqlite_where=text("tenant_id IS NULL"),
            postgresql_where=text("tenant_id IS NULL"),
        ),
        Index("ix_reported_documents_list", "tenant_id", "kind", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024))
    position: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    updated: Mapped[dt.datetime] = mapped_column(DateTime)
