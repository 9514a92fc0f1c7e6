"""Initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "autoholds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("job", sa.String(length=255), nullable=False),
        sa.Column("ref_filter", sa.String(length=1024), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=False),
        sa.Column("current_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("node_expiration", sa.Integer(), nullable=True),
        sa.Column("expired", sa.Double(), nullable=True),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_autoholds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autoholds")),
    )
    with op.batch_alter_table("autoholds", schema=None) as batch_op:
        batch_op.create_index("ix_autoholds_tenant", ["tenant_id", "id"], unique=False)

    op.create_table(
        "buildsets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("pipeline", sa.String(length=255), nullable=False),
        sa.Column("result", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("event_timestamp", sa.DateTime(), nullable=True),
        sa.Column("queue_item_uuid", sa.String(length=36), nullable=True),
        sa.Column("first_build_start_time", sa.DateTime(), nullable=True),
        sa.Column("last_build_end_time", sa.DateTime(), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_buildsets_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildsets")),
        sa.UniqueConstraint("uuid", name=op.f("uq_buildsets_uuid")),
    )
    with op.batch_alter_table("buildsets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_buildsets_queue_item_uuid"), ["queue_item_uuid"], unique=False
        )
        batch_op.create_index("ix_buildsets_tenant_id", ["tenant_id", "id"], unique=False)
        batch_op.create_index(
            "ix_buildsets_tenant_pipeline", ["tenant_id", "pipeline", "id"], unique=False
        )
        batch_op.create_index(
            "ix_buildsets_tenant_result", ["tenant_id", "result", "id"], unique=False
        )

    op.create_table(
        "config_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=True),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("short_error", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_config_errors_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_errors")),
    )
    with op.batch_alter_table("config_errors", schema=None) as batch_op:
        batch_op.create_index("ix_config_errors_tenant", ["tenant_id", "position"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_jobs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_jobs_tenant_id")),
    )
    op.create_table(
        "management_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("acknowledged", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_management_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_management_events")),
    )
    with op.batch_alter_table("management_events", schema=None) as batch_op:
        batch_op.create_index("ix_management_events_pending", ["acknowledged", "id"], unique=False)

    op.create_table(
        "pipelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("manager", sa.String(length=64), nullable=True),
        sa.Column("triggers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_pipelines_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_pipelines_tenant_id")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("canonical_name", sa.String(length=255), nullable=False),
        sa.Column("connection_name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("configs", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_projects_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_projects_tenant_id")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_projects_canonical_name"), ["canonical_name"], unique=False
        )

    op.create_table(
        "refs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("ref_url", sa.String(length=1024), nullable=True),
        sa.Column("change", sa.Integer(), nullable=True),
        sa.Column("patchset", sa.String(length=255), nullable=True),
        sa.Column("oldrev", sa.String(length=255), nullable=True),
        sa.Column("newrev", sa.String(length=255), nullable=True),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_refs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refs")),
    )
    with op.batch_alter_table("refs", schema=None) as batch_op:
        batch_op.create_index("ix_refs_newrev", ["newrev"], unique=False)
        batch_op.create_index("ix_refs_tenant_branch", ["tenant_id", "branch"], unique=False)
        batch_op.create_index(
            "ix_refs_tenant_change", ["tenant_id", "change", "patchset"], unique=False
        )
        batch_op.create_index("ix_refs_tenant_project", ["tenant_id", "project"], unique=False)
        batch_op.create_index("ix_refs_tenant_ref", ["tenant_id", "ref"], unique=False)

    op.create_table(
        "status_documents",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("last_modified", sa.DateTime(), nullable=False),
        sa.Column("etag", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_status_documents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_status_documents")),
    )
    op.create_table(
        "builds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column(
            "buildset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ref_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("job_name", sa.String(length=255), nullable=False),
        sa.Column("result", sa.String(length=255), nullable=True),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("voting", sa.Boolean(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=True),
        sa.Column("end_time", sa.DateTime(), nullable=True),
        sa.Column("execute_time", sa.DateTime(), nullable=True),
        sa.Column("log_url", sa.String(length=1024), nullable=True),
        sa.Column("nodeset", sa.String(length=255), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("artifacts", sa.JSON(), nullable=False),
        sa.Column("provides", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buildset_id"],
            ["buildsets.id"],
            name=op.f("fk_builds_buildset_id_buildsets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["ref_id"], ["refs.id"], name=op.f("fk_builds_ref_id_refs")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_builds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_builds")),
        sa.UniqueConstraint("uuid", name=op.f("uq_builds_uuid")),
    )
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.create_index("ix_builds_buildset", ["buildset_id"], unique=False)
        batch_op.create_index("ix_builds_ref", ["ref_id", "id"], unique=False)
        batch_op.create_index("ix_builds_tenant_id", ["tenant_id", "id"], unique=False)
        batch_op.create_index("ix_builds_tenant_job", ["tenant_id", "job_name", "id"], unique=False)
        batch_op.create_index(
            "ix_builds_tenant_result", ["tenant_id", "result", "id"], unique=False
        )

    op.create_table(
        "buildset_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "buildset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_time", sa.DateTime(), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["buildset_id"],
            ["buildsets.id"],
            name=op.f("fk_buildset_events_buildset_id_buildsets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildset_events")),
    )
    with op.batch_alter_table("buildset_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_buildset_events_buildset_id"), ["buildset_id"], unique=False
        )

    op.create_table(
        "buildset_refs",
        sa.Column(
            "buildset_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("ref_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["buildset_id"],
            ["buildsets.id"],
            name=op.f("fk_buildset_refs_buildset_id_buildsets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ref_id"], ["refs.id"], name=op.f("fk_buildset_refs_ref_id_refs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("buildset_id", "ref_id", name=op.f("pk_buildset_refs")),
    )
    with op.batch_alter_table("buildset_refs", schema=None) as batch_op:
        batch_op.create_index("ix_buildset_refs_ref", ["ref_id", "buildset_id"], unique=False)

    op.create_table(
        "job_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("variant", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_variants_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_variants")),
        sa.UniqueConstraint("job_id", "position", name=op.f("uq_job_variants_job_id")),
    )
    with op.batch_alter_table("job_variants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_variants_name"), ["name"], unique=False)

    op.create_table(
        "project_keys",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("secrets_private_pem", sa.Text(), nullable=False),
        sa.Column("secrets_public_pem", sa.Text(), nullable=False),
        sa.Column("ssh_private", sa.Text(), nullable=False),
        sa.Column("ssh_public", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_keys_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_keys")),
    )
    op.create_table(
        "console_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("build_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("end", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["builds.id"],
            name=op.f("fk_console_chunks_build_id_builds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_chunks")),
        sa.UniqueConstraint("build_id", "sequence", name=op.f("uq_console_chunks_build_id")),
    )


def downgrade() -> None:
    """Revert this revision."""

    op.drop_table("console_chunks")
    op.drop_table("project_keys")
    with op.batch_alter_table("job_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_variants_name"))

    op.drop_table("job_variants")
    with op.batch_alter_table("buildset_refs", schema=None) as batch_op:
        batch_op.drop_index("ix_buildset_refs_ref")

    op.drop_table("buildset_refs")
    with op.batch_alter_table("buildset_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buildset_events_buildset_id"))

    op.drop_table("buildset_events")
    with op.batch_alter_table("builds", schema=None) as batch_op:
        batch_op.drop_index("ix_builds_tenant_result")
        batch_op.drop_index("ix_builds_tenant_job")
        batch_op.drop_index("ix_builds_tenant_id")
        batch_op.drop_index("ix_builds_ref")
        batch_op.drop_index("ix_builds_buildset")

    op.drop_table("builds")
    op.drop_table("status_documents")
    with op.batch_alter_table("refs", schema=None) as batch_op:
        batch_op.drop_index("ix_refs_tenant_ref")
        batch_op.drop_index("ix_refs_tenant_project")
        batch_op.drop_index("ix_refs_tenant_change")
        batch_op.drop_index("ix_refs_tenant_branch")
        batch_op.drop_index("ix_refs_newrev")

    op.drop_table("refs")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_canonical_name"))

    op.drop_table("projects")
    op.drop_table("pipelines")
    with op.batch_alter_table("management_events", schema=None) as batch_op:
        batch_op.drop_index("ix_management_events_pending")

    op.drop_table("management_events")
    op.drop_table("jobs")
    with op.batch_alter_table("config_errors", schema=None) as batch_op:
        batch_op.drop_index("ix_config_errors_tenant")

    op.drop_table("config_errors")
    with op.batch_alter_table("buildsets", schema=None) as batch_op:
        batch_op.drop_index("ix_buildsets_tenant_result")
        batch_op.drop_index("ix_buildsets_tenant_pipeline")
        batch_op.drop_index("ix_buildsets_tenant_id")
        batch_op.drop_index(batch_op.f("ix_buildsets_queue_item_uuid"))

    op.drop_table("buildsets")
    with op.batch_alter_table("autoholds", schema=None) as batch_op:
        batch_op.drop_index("ix_autoholds_tenant")

    op.drop_table("autoholds")
    op.drop_table("tenants")
