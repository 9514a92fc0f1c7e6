"""Reported documents: labels, nodes, semaphores, job graphs, components... in Zuul's shapes

Revision ID: 0003
Revises: 0002
Create Date: 2025-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ROOT_ONLY = sa.text("tenant_id IS NULL")


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "reported_documents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_reported_documents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reported_documents")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "key", name=op.f("uq_reported_documents_tenant_id")
        ),
    )
    with op.batch_alter_table("reported_documents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reported_documents_list", ["tenant_id", "kind", "position"], unique=False
        )
        # The documents of the API root (tenant_id NULL) are unique by kind and key too.
        batch_op.create_index(
            "ix_reported_documents_root",
            ["kind", "key"],
            unique=True,
            sqlite_where=_ROOT_ONLY,
            postgresql_where=_ROOT_ONLY,
        )


def downgrade() -> None:
    """Revert this revision."""

    with op.batch_alter_table("reported_documents", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_reported_documents_root", sqlite_where=_ROOT_ONLY, postgresql_where=_ROOT_ONLY
        )
        batch_op.drop_index("ix_reported_documents_list")

    op.drop_table("reported_documents")
