"""The store: migrations, SQLite settings and all-or-nothing transactions."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from ciweb.ci import engine as ci_engine
from ciweb.ci import queries, writes
from ciweb.ci.errors import NotFound, NotMigrated, QueryTimeout, ValidationError
from ciweb.ci.models import Base, Tenant
from ciweb.ci.store import Store, utcnow


def test_an_empty_database_is_not_migrated_and_says_which_command_fixes_it(bare_store):
    with pytest.raises(NotMigrated, match="ciweb-manage db upgrade"):
        bare_store.check_migrated()


def test_upgrade_brings_the_database_to_head(bare_store):
    bare_store.upgrade()
    assert bare_store.current_revision() == bare_store.head_revision() == "0001"
    bare_store.check_migrated()


def test_upgrade_twice_is_harmless(bare_store):
    bare_store.upgrade()
    bare_store.upgrade()
    bare_store.check_migrated()


def test_the_migrations_create_exactly_the_tables_of_the_models(bare_store):
    bare_store.upgrade()
    with bare_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path):
    engine = ci_engine.make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", busy_timeout=2.5)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_empty_connection_means_sqlite_in_the_state_directory(tmp_path):
    url = ci_engine.database_url("", str(tmp_path / "state"))
    assert url == f"sqlite:///{tmp_path / 'state' / 'ciweb.sqlite'}"
    assert (tmp_path / "state").is_dir()
    assert ci_engine.database_url("postgresql+psycopg://u@h/db", "/nowhere") == (
        "postgresql+psycopg://u@h/db"
    )


def test_a_bad_connection_url_is_reported_naming_the_option():
    with pytest.raises(ValueError, match=r"\[database\] connection"):
        ci_engine.make_engine("not a url")


def test_a_failing_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as session:
        session.add(Tenant(name="half-written", created=utcnow()))
        session.flush()
        raise RuntimeError("boom")
    assert {"name": "half-written"} not in queries.tenants(store)


def test_an_invalid_write_leaves_the_database_unchanged(store):
    before = queries.projects(store, "t")
    with pytest.raises(ValidationError) as err:
        writes.upsert_project(store, "t", {"name": "new/p", "connection_name": "g", "type": "x"})
    assert err.value.field == "type"
    assert queries.projects(store, "t") == before


def test_unknown_tenant_is_not_found(store):
    with pytest.raises(NotFound, match="Unknown tenant"):
        queries.projects(store, "nope")


def test_store_rejects_tiny_keys(bare_store):
    with pytest.raises(ValueError, match="key_bits"):
        Store(bare_store.engine, key_bits=512)


def test_heavy_reads_are_cancelled_after_the_statement_timeout(bare_store):
    if not bare_store.is_sqlite:
        pytest.skip("progress handler is SQLite's")
    slow = Store(bare_store.engine, statement_timeout=0.05)
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM c"
    )
    with pytest.raises(QueryTimeout), slow.heavy_read() as session:
        session.execute(text(endless))


def test_tenants_are_created_once(store):
    writes.upsert_tenant(store, "t")
    with store.read() as session:
        assert len(session.scalars(select(Tenant).where(Tenant.name == "t")).all()) == 1
