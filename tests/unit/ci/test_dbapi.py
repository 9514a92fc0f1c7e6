"""DB-API connections that keep database waits off the event loop (ciweb.ci.dbapi)."""

from __future__ import annotations

import select
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, text

from ciweb.ci.dbapi import (
    EventLoop,
    OffloadingConnection,
    OffloadingCursor,
    psycopg_connect,
    set_offloading,
)
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store


@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def _offload(executor):
    calls = []

    def offload(function, *args):
        calls.append(function)
        return executor.submit(function, *args).result()

    return offload, calls


# A statement whose first step takes far longer than the inline budget (tens of ms).
SLOW = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000) "
    "SELECT thread(), max(n) FROM c"
)


def _heavy_connection(tmp_path, offload):
    import sqlite3

    conn = sqlite3.connect(
        tmp_path / "x.sqlite", factory=OffloadingConnection, check_same_thread=False
    )
    conn.offload = offload
    conn.active = lambda: True
    conn.create_function("thread", 0, threading.get_ident)
    return conn


def test_heavy_read_statements_run_inline_within_the_budget_then_in_the_offload(tmp_path, pool):
    import sqlite3

    offload, calls = _offload(pool)
    conn = _heavy_connection(tmp_path, offload)
    set_offloading(conn, True)
    cursor = conn.cursor()
    assert isinstance(cursor, OffloadingCursor)
    cursor.execute("CREATE TABLE t (x)")
    cursor.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    conn.commit()
    assert calls == [sqlite3.Cursor.executemany, sqlite3.Connection.commit]
    # A quick statement finishes inline: no thread round trip.
    cursor.execute("SELECT thread(), x FROM t ORDER BY x DESC")
    first = cursor.fetchone()
    assert first == (threading.get_ident(), 9)
    assert [r[1] for r in cursor.fetchmany(3)] == [8, 7, 6]
    assert [r[1] for r in cursor] == [5, 4, 3, 2, 1, 0]
    assert len(calls) == 2
    # A slow one is interrupted past the budget and runs again, whole, in the thread.
    conn.execute("BEGIN")
    row = cursor.execute(SLOW).fetchone()
    assert row[0] != threading.get_ident() and row[1] == 300000
    assert calls[2:] == [sqlite3.Cursor.execute]
    assert conn.in_transaction  # the interrupted read left the transaction alone
    assert cursor.execute("SELECT count(*) FROM t").fetchone() == (10,)
    conn.execute("ROLLBACK")
    set_offloading(conn, False)
    assert cursor.execute(SLOW).fetchone()[0] == threading.get_ident()
    assert len(calls) == 3
    conn.commit()  # a commit may sync: offloaded whatever the statements do
    assert len(calls) == 4
    conn.close()


def test_a_heavy_read_past_its_deadline_is_interrupted_in_the_offload(tmp_path, pool):
    import sqlite3
    import time

    offload, calls = _offload(pool)
    conn = _heavy_connection(tmp_path, offload)
    set_offloading(conn, True, deadline=time.monotonic() + 0.01)
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        conn.cursor().execute(SLOW.replace("300000", "100000000"))
    assert calls == [sqlite3.Cursor.execute]
    set_offloading(conn, False)
    assert conn.cursor().execute("SELECT 1").fetchone() == (1,)  # no deadline left behind
    conn.close()


def test_statements_that_wait_for_a_lock_are_offloaded_at_once(tmp_path, pool):
    import sqlite3

    offload, calls = _offload(pool)
    conn = _heavy_connection(tmp_path, offload)
    set_offloading(conn, True, inline_first=False)
    assert conn.cursor().execute("SELECT thread()").fetchone()[0] != threading.get_ident()
    assert calls == [sqlite3.Cursor.execute]
    conn.close()


def test_without_an_offload_a_cursor_runs_inline(tmp_path):
    import sqlite3

    conn = sqlite3.connect(":memory:", factory=OffloadingConnection)
    conn.create_function("thread", 0, threading.get_ident)
    assert conn.execute("SELECT thread()").fetchone()[0] == threading.get_ident()
    assert conn.cursor().execute("SELECT thread()").fetchone()[0] == threading.get_ident()


def test_an_engine_on_an_event_loop_offloads_heavy_reads_and_lock_waits(tmp_path, pool):
    offload, calls = _offload(pool)
    engine = make_engine(
        f"sqlite:///{tmp_path / 'x.sqlite'}", loop=EventLoop(lambda: True, offload, None)
    )

    @event.listens_for(engine, "connect")
    def _thread(dbapi_connection, _record):
        dbapi_connection.create_function("thread", 0, threading.get_ident)

    store = Store(engine)
    here = threading.get_ident()
    with store.connect() as conn:
        # A light read: inline (WAL readers wait for no lock), BEGIN DEFERRED included.
        assert conn.execute(text("SELECT thread()")).scalar() == here
        assert conn.execute(text(SLOW)).first()[0] == here
    assert calls == []
    with store.connect(timeout=True) as conn:
        # A heavy read (a history list): quick statements inline, slow ones in the thread.
        assert conn.execute(text("SELECT thread()")).scalar() == here
        assert conn.execute(text(SLOW)).first()[0] != here
    assert len(calls) == 1
    with store.connect() as conn:
        assert conn.execute(text(SLOW)).first()[0] == here  # reset on return
    with store.transaction() as session:
        # BEGIN IMMEDIATE (it waits for other writers) and COMMIT are offloaded.
        assert session.execute(text("SELECT thread()")).scalar() == here
    assert len(calls) == 3
    engine.dispose()


def test_psycopg_connections_wait_on_the_loop_when_it_is_active(postgres):
    url = postgres.create_database("dbapi_wait")
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    waits = []
    active = [True]

    def wait_socket(fileno, *, read, write):
        waits.append((read, write))
        select.select([fileno] if read else [], [fileno] if write else [], [], 30)

    connect = psycopg_connect(EventLoop(lambda: active[0], lambda f, *a: f(*a), wait_socket))
    with connect(dsn) as conn:
        assert conn.execute("SELECT pg_sleep(0.05), 42").fetchone()[1] == 42
        assert (True, False) in waits  # parked until the answer was readable
        active[0] = False
        count = len(waits)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert len(waits) == count  # off the loop, psycopg waits its own way


def test_an_engine_on_an_event_loop_makes_cooperative_psycopg_connections(postgres):
    url = postgres.create_database("dbapi_engine")
    waits = []

    def wait_socket(fileno, *, read, write):
        waits.append(fileno)
        select.select([fileno] if read else [], [fileno] if write else [], [], 30)

    engine = make_engine(url, loop=EventLoop(lambda: True, lambda f, *a: f(*a), wait_socket))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 7")).scalar() == 7
    engine.dispose()
    assert waits
