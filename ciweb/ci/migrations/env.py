"""Alembic environment of ciweb: online only, on the connection the store passes.

There is no alembic.ini: :func:`ciweb.ci.store.alembic_config` builds the configuration in code
and puts the connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from ciweb.ci.models import Base


def run_migrations() -> None:
    """Run the migrations on the connection handed over by the store."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("ciweb migrations run through ciweb.ci.store.Store.upgrade() only")
    # render_as_batch: SQLite can only ALTER tables by copying them (batch mode).
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
