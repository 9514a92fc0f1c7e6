"""The store: migrations, SQLite settings and all-or-nothing transactions."""

from __future__ import annotations

import contextlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, select, text

from ciweb.ci import engine as ci_engine
from ciweb.ci import queries, writes
from ciweb.ci.errors import Conflict, NotFound, NotMigrated, QueryTimeout, ValidationError
from ciweb.ci.models import Base, Tenant
from ciweb.ci.store import Store, utcnow
from tests.unit.ci.conftest import add_buildset, only_on


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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_heavy_reads_are_cancelled_after_the_statement_timeout(bare_store):
    # SQLite's progress handler; PostgreSQL's statement_timeout is its server's own.
    only_on(bare_store, sqlite=True)
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


def test_a_unique_key_inserted_twice_is_a_conflict_that_writes_nothing(store):
    with pytest.raises(Conflict) as err, store.transaction() as session:
        session.add(Tenant(name="twice", created=utcnow()))
        session.add(Tenant(name="twice", created=utcnow()))
    # The message is for API clients: no SQL, no table, no value.
    assert "INSERT" not in str(err.value).upper() and "twice" not in str(err.value)
    assert {"name": "twice"} not in queries.tenants(store)


def test_inserting_a_stored_unique_key_is_a_conflict(store):
    with pytest.raises(Conflict), store.transaction() as session:
        session.add(Tenant(name="t", created=utcnow()))
    assert [t["name"] for t in queries.tenants(store)].count("t") == 1


@contextlib.contextmanager
def concurrent_insert(store, table):
    """Run the first INSERT INTO *table* twice: as if another writer had inserted the same
    row after this transaction checked that it was not there (the check-then-insert race)."""
    fired = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if not fired and not executemany and statement.lstrip().startswith(f"INSERT INTO {table}"):
            fired.append(statement)
            cursor.execute(statement, parameters)

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        event.remove(store.engine, "before_cursor_execute", before)


def test_a_check_then_insert_race_is_a_conflict_not_a_database_error(store):
    with concurrent_insert(store, "tenants") as fired, pytest.raises(Conflict):
        writes.upsert_tenant(store, "raced")
    assert fired
    assert {"name": "raced"} not in queries.tenants(store)
    with concurrent_insert(store, "buildsets"), pytest.raises(Conflict):
        add_buildset(store, "d" * 32)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_concurrent_writer_that_commits_first_makes_the_insert_a_conflict(store):
    # SQLite writers take the database lock at BEGIN IMMEDIATE: there is no such race.
    only_on(store, sqlite=False)
    with pytest.raises(Conflict), store.transaction() as session:
        assert session.scalar(select(Tenant.id).where(Tenant.name == "late")) is None
        writes.upsert_tenant(store, "late")  # another transaction, committed meanwhile
        session.add(Tenant(name="late", created=utcnow()))
    assert [t["name"] for t in queries.tenants(store)].count("late") == 1
