"""Build the SQLAlchemy engine: SQLite in the state directory by default, or any URL."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from ciweb.ci.dbapi import EventLoop, OffloadingConnection, psycopg_connect, set_offloading

LOG = logging.getLogger(__name__)

SQLITE_FILE = "ciweb.sqlite"


def database_url(connection: str, state_dir: str) -> str:
    """Return the URL to connect to: *connection*, or SQLite under *state_dir* when empty.

    :param connection: ``[database] connection``; may be empty.
    :param state_dir: ``[database] state_dir``; created when SQLite is used.
    """
    if connection:
        return connection
    os.makedirs(state_dir, exist_ok=True)
    return f"sqlite:///{os.path.abspath(os.path.join(state_dir, SQLITE_FILE))}"


def make_engine(
    url: str,
    *,
    busy_timeout: float = 5.0,
    pool_size: int = 8,
    max_overflow: int = 0,
    pool_timeout: float = 30.0,
    echo: bool = False,
    loop: EventLoop | None = None,
) -> Engine:
    """Return an engine for *url*; SQLite connections get WAL, a busy timeout and foreign keys.

    :param url: SQLAlchemy URL (``sqlite:///...``, ``postgresql+psycopg://...``).
    :param busy_timeout: SQLite: seconds to wait for another writer's lock.
    :param pool_size: connections kept in the pool.
    :param max_overflow: extra connections allowed under load.
    :param pool_timeout: seconds to wait for a free connection.
    :param echo: log every statement.
    :param loop: the server's event loop, kept free of database waits when it is active
        (see :mod:`ciweb.ci.dbapi`); None for a command or another WSGI host.
    :raises ValueError: when the URL cannot be parsed (the message names ``connection``).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"[database] connection: {exc}") from None
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if not is_sqlite or parsed.database not in (None, "", ":memory:"):
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_pre_ping=not is_sqlite,
        )
    if is_sqlite:
        kwargs["connect_args"] = {"check_same_thread": False, "factory": OffloadingConnection}
    engine = create_engine(parsed, **kwargs)
    if is_sqlite:
        _configure_sqlite(engine, busy_timeout, loop or EventLoop())
    elif loop is not None and parsed.get_driver_name() == "psycopg":
        connect = psycopg_connect(loop)

        @event.listens_for(engine, "do_connect")
        def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            return connect(*cargs, **cparams)

    return engine


def _configure_sqlite(engine: Engine, busy_timeout: float, loop: EventLoop) -> None:
    timeout_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, OffloadingConnection):
            dbapi_connection.offload = loop.run_blocking
            dbapi_connection.active = loop.active
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so that a
        # write transaction can take the write lock up front (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers never block the writer nor the writer readers; NORMAL is durable
            # across application crashes in WAL mode (https://sqlite.org/wal.html).
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes cannot wait for the lock: SQLite fails it
        # with SQLITE_BUSY at once.  Writers therefore BEGIN IMMEDIATE and wait busy_timeout.
        mode = conn.get_execution_options().get("ciweb_sqlite_begin", "DEFERRED")
        dbapi_connection = conn.connection.driver_connection
        if mode == "DEFERRED" and dbapi_connection is not None:
            # A deferred BEGIN takes no lock, so never waits: a plain cursor runs it inline,
            # where an offloaded one would spend a thread round trip (~50 µs) on nothing.
            cursor = dbapi_connection.cursor(sqlite3.Cursor)
            try:
                cursor.execute("BEGIN DEFERRED")
            finally:
                cursor.close()
            return
        # An immediate BEGIN waits up to busy_timeout for another writer: off the event loop.
        set_offloading(dbapi_connection, True, inline_first=False)
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        finally:
            set_offloading(dbapi_connection, False)
