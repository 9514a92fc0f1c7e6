"""The store: migrations, SQLite settings and all-or-nothing transactions."""

from __future__ import annotations

import contextlib
import logging
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, select, text
from sqlalchemy.exc import DBAPIError

from ciweb.ci import engine as ci_engine
from ciweb.ci import queries, writes
from ciweb.ci.errors import (
    Conflict,
    NotFound,
    NotMigrated,
    QueryTimeout,
    Unavailable,
    ValidationError,
)
from ciweb.ci.models import Base, Tenant
from ciweb.ci.store import Outage, Store, utcnow
from tests.unit.ci.conftest import add_buildset, only_on


def test_an_empty_database_is_not_migrated_and_says_which_command_fixes_it(bare_store):
    with pytest.raises(NotMigrated, match="ciweb-manage db upgrade"):
        bare_store.check_migrated()


def test_upgrade_brings_the_database_to_head(bare_store):
    bare_store.upgrade()
    assert bare_store.current_revision() == bare_store.head_revision()
    assert bare_store.head_revision() is not None
    bare_store.check_migrated()


def test_the_newest_migration_goes_down_and_up_again(bare_store):
    from alembic import command
    from alembic.script import ScriptDirectory

    from ciweb.ci.store import alembic_config

    bare_store.upgrade()
    head = ScriptDirectory.from_config(alembic_config()).get_revision(bare_store.head_revision())
    with bare_store.engine.connect() as conn:
        command.downgrade(alembic_config(conn), "-1")
        conn.commit()
    assert bare_store.current_revision() == head.down_revision
    bare_store.upgrade()
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
    # Heavy reads are Core connections opened with timeout=True (the history lists).
    slow = Store(bare_store.engine, statement_timeout=0.05)
    if bare_store.is_sqlite:
        # No sleep in SQLite: a query that never ends, stopped by the progress handler.
        endless = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
            "SELECT count(*) FROM c"
        )
    else:
        endless = "SELECT pg_sleep(30)"
    started = time.monotonic()
    with (
        pytest.raises(QueryTimeout, match=r"longer than 0\.05 s"),
        slow.connect(timeout=True) as connection,
    ):
        connection.execute(text(endless))
    assert time.monotonic() - started < 20
    # The connection is usable again, without the limit outside heavy reads.
    with slow.read() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1


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


def test_an_unreachable_database_is_unavailable_logged_once_then_recovered(tmp_path, caplog):
    path = tmp_path / "ciweb.sqlite"
    path.mkdir()  # a directory where the file should be: SQLite cannot open it
    store = Store(ci_engine.make_engine(f"sqlite:///{path}"))
    caplog.set_level(logging.INFO, logger="ciweb.ci.store")
    for _ in range(3):
        with pytest.raises(Unavailable, match="retry later"), store.read() as session:
            session.execute(text("SELECT 1"))
    with pytest.raises(Unavailable), store.connect() as connection:
        connection.execute(text("SELECT 1"))
    down = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(down) == 1 and "OperationalError: unable to open database file" in down[0].message
    path.rmdir()
    with store.read() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    with store.read() as session:
        session.execute(text("SELECT 1"))
    up = [r.getMessage() for r in caplog.records if "available again" in r.getMessage()]
    assert len(up) == 1 and "(4 requests refused)" in up[0]
    store.engine.dispose()


def test_a_wrong_statement_is_not_an_outage(store):
    with pytest.raises(DBAPIError), store.read() as session:
        session.execute(text("SELECT * FROM no_such_table"))
    assert store.outage.since is None


def test_an_exhausted_pool_is_unavailable(tmp_path):
    engine = ci_engine.make_engine(
        f"sqlite:///{tmp_path / 'x.sqlite'}", pool_size=1, pool_timeout=0.1
    )
    store = Store(engine, outage=Outage(log=False))
    with store.read() as held:
        held.execute(text("SELECT 1"))
        with pytest.raises(Unavailable), store.read() as session:
            session.execute(text("SELECT 1"))
    engine.dispose()


def test_a_locked_sqlite_database_is_unavailable(tmp_path):
    import sqlite3

    engine = ci_engine.make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}", busy_timeout=0.05)
    store = Store(engine, outage=Outage(log=False))
    store.upgrade()
    other = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Unavailable), store.transaction() as session:
            session.add(Tenant(name="t", created=utcnow()))
    finally:
        other.execute("ROLLBACK")
        other.close()
        engine.dispose()
