"""The store: one engine, its migrations, and the transactions every query and write runs in."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from ciweb.ci import models
from ciweb.ci.dbapi import set_offloading
from ciweb.ci.errors import Conflict, NotFound, NotMigrated, QueryTimeout, Unavailable

LOG = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"

# SQLite result codes (the low byte) of a database that is busy, full or out of reach
# rather than of a wrong statement: SQLITE_BUSY, _LOCKED, _NOMEM, _READONLY, _IOERR, _FULL,
# _CANTOPEN.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 7, 8, 10, 13, 14})
# PostgreSQL SQLSTATE classes of the same: connection exception, operator intervention
# (admin shutdown, crash, not accepting connections), insufficient resources, and
# transaction rollback (serialization failure, deadlock), which a retry may pass.
_PG_UNAVAILABLE = frozenset({"08", "57", "53", "40"})

# Statements kept compiled (see Store.compiled): a history list's statement per distinct query
# (filters, page) and tenant, about 20 KB each.
COMPILED_CACHE_SIZE = 512
# Rows whose API dicts are kept (see Store.row_dict): twenty pages of 50, about 2.5 KB each.
ROW_CACHE_SIZE = 1024


def utcnow() -> dt.datetime:
    """Return the current time as a naive UTC datetime, the form stored in the database."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def alembic_config(connection: Any = None) -> Config:
    """Return an Alembic configuration built in code (no alembic.ini).

    :param connection: the SQLAlchemy connection ``env.py`` migrates, if any.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


class Store:
    """Access to the CI database: migrations, read sessions and all-or-nothing write transactions.

    :param engine: the SQLAlchemy engine (see :func:`ciweb.ci.engine.make_engine`).
    :param key_bits: RSA size of new project secrets keys (4096 in production).
    :param statement_timeout: seconds before heavy history queries are cancelled; 0 for none.
    :param offload: ``offload(function, *args)`` runs CPU-heavy work (key generation) and
        returns its result; the server's :func:`ciweb.wsgi.offload.run_blocking` keeps it
        off the event loop.  The default calls it directly.
    :param outage: turns an unreachable database into :class:`Unavailable` and logs it
        (see :class:`Outage`); a new, logging one by default.
    :param gate: ``gate()`` returns a context manager around each heavy read, which may
        park it (the server's :class:`ciweb.wsgi.offload.TurnGate`); none by default.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        key_bits: int = 4096,
        statement_timeout: float = 30.0,
        offload: Callable[..., Any] | None = None,
        outage: Outage | None = None,
        gate: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        if key_bits < 1024:
            raise ValueError("key_bits must be at least 1024")
        if statement_timeout < 0:
            raise ValueError("statement_timeout must be >= 0")
        self.engine = engine
        self.key_bits = key_bits
        self.statement_timeout = statement_timeout
        self.offload: Callable[..., Any] = offload or _call
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_engine = engine.execution_options(ciweb_sqlite_begin="IMMEDIATE")
        self.outage = outage or Outage()
        self.gate = gate
        self._compiled = functools.lru_cache(maxsize=COMPILED_CACHE_SIZE)(self._compile)
        self._row_dicts = functools.lru_cache(maxsize=ROW_CACHE_SIZE)(_call)

    def row_dict(self, convert: Callable[[Any], dict[str, Any]], row: tuple[Any, ...]) -> Any:
        """Return ``convert(row)``, kept for the next call with an equal *row*.

        A history list's rows are mostly those the last request read (the newest builds):
        looking a row up costs a seventh of converting it (0.6 µs against 4.5 µs for a
        build).  The value depends on the row's values alone, so it is never stale; it is
        shared between answers and must not be changed.

        :param convert: a module-level function of the row alone.
        :param row: a hashable row (:func:`run`'s tuples of text, numbers and times).
        """
        return self._row_dicts(convert, row)

    def compiled(self, build: Callable[..., ClauseElement], *args: Hashable) -> Prepared:
        """Return ``build(*args)`` compiled for this database, once per distinct *args*.

        SQLAlchemy caches compilations too, but finds them by a cache key computed from a
        statement built on each call: for a history page, building the statement and its
        key cost as much as running it (0.2 ms).  Here the statement is found by the few
        values it is built from (a filter, a tenant id...), which must therefore determine
        it entirely: *build* reads no database and no clock.  Run it with :func:`run`.

        :param build: a module-level function returning a statement.
        :param args: its arguments, hashable; their values may be bound into the statement.
        """
        return self._compiled(build, *args)

    def _compile(self, build: Callable[..., ClauseElement], *args: Hashable) -> Prepared:
        compiled = build(*args).compile(dialect=self.engine.dialect)
        assert isinstance(compiled, SQLCompiler)  # a SELECT's, never DDL's
        return Prepared(compiled)

    # -- migrations -------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to *revision* (default: head).

        :param revision: target revision.
        """
        with self._write_engine.connect() as connection:
            command.upgrade(alembic_config(connection), revision)
            connection.commit()
        LOG.info("database upgraded to %s", revision)

    def head_revision(self) -> str | None:
        """Return the newest revision the migrations define."""
        return ScriptDirectory.from_config(alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        """Return the revision the database is at, or None for an empty database."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def check_migrated(self) -> None:
        """Raise unless the database schema is at the head revision.

        :raises NotMigrated: naming both revisions and the command that fixes it.
        """
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise NotMigrated(
                f"database {self.engine.url.render_as_string(hide_password=True)} is at "
                f"revision {current or 'none'}, not {head}: run `ciweb-manage db upgrade`"
            )

    # -- sessions ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session for reads; whatever it did is rolled back at the end.

        :raises Unavailable: when the database cannot be reached (see :class:`Outage`).
        """
        with self.outage.watch(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """Yield a session in one write transaction: committed if the block returns, rolled
        back entirely if it raises.

        :raises Conflict: when the database refuses the write for a constraint, typically a
            concurrent writer that inserted the same unique key between this block's check
            and its insert (PostgreSQL's READ COMMITTED lets both see nothing).
        :raises Unavailable: when the database cannot be reached (see :class:`Outage`).
        """
        try:
            with (
                self.outage.watch(),
                Session(self._write_engine, expire_on_commit=False) as session,
                session.begin(),
            ):
                yield session
        except IntegrityError as exc:
            # The driver's message quotes SQL and values: log it, answer without it.
            LOG.info("write refused by a database constraint: %s", exc.orig)
            raise Conflict(
                "the write conflicts with data stored meanwhile (a concurrent write?); retry it"
            ) from None

    @contextlib.contextmanager
    def connect(self, *, timeout: bool = False) -> Iterator[Connection]:
        """Yield a Core connection for reads, in one transaction rolled back at the end.

        Lists that read many rows use it rather than a session: plain rows cost a fraction
        of ORM objects, and the connection a fraction of a session.

        :param timeout: cancel statements after ``statement_timeout`` (the history queries),
            and pass the :attr:`gate` first.
        :raises QueryTimeout: when a statement ran out of time.
        :raises Unavailable: when the database cannot be reached (see :class:`Outage`).
        """
        limit = self.statement_timeout if timeout else 0
        with (
            self.gate() if timeout else contextlib.nullcontext(),
            self.outage.watch(),
            self.engine.connect() as connection,
        ):
            heavy_sqlite = timeout and self.is_sqlite
            try:
                if heavy_sqlite:
                    _heavy_sqlite(connection, time.monotonic() + limit if limit else None)
                elif limit and self.engine.dialect.name == "postgresql":
                    # SET LOCAL lasts until the end of this read transaction only.
                    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(limit * 1000)}")
                yield connection
            except DBAPIError as exc:
                if _is_timeout(exc):
                    raise QueryTimeout(f"query took longer than {limit} s") from None
                raise
            finally:
                if heavy_sqlite and not connection.invalidated:
                    _heavy_sqlite(connection, None, heavy=False)


class Outage:
    """Turn a database outage into :class:`Unavailable`, logged once, not per request.

    While the database is unreachable (stopped, restarting, failing over, refusing
    connections), every request fails the same way: its traceback would fill the log.  The
    first failure logs one error line; the others of the same outage are silent; the first
    success after it logs one line with the outage's length and the requests it refused.
    The pool (``pool_pre_ping``) reconnects on the next request: no restart is needed.
    """

    def __init__(self, *, log: bool = True) -> None:
        """Start with the database taken as available.

        :param log: log the start and end of each outage (a second store of the same
            database, such as the health probe's, need not).
        """
        self.log = log
        self.since: float | None = None
        self.refused = 0

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Run the block; raise :class:`Unavailable` for an outage error, note recoveries.

        :raises Unavailable: for a connection, shutdown, pool-exhaustion or busy error.
        """
        try:
            yield
        except SQLAlchemyError as exc:
            if not is_unavailable(exc):
                raise
            self._failed(exc)
            raise Unavailable("the database is unavailable; retry later") from None
        if self.since is not None:
            self._recovered()

    def _failed(self, exc: SQLAlchemyError) -> None:
        self.refused += 1
        if self.since is None:
            self.since = time.monotonic()
            if not self.log:
                return
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            LOG.error(
                "database unavailable, answering 503 until it is back: %s: %s",
                type(getattr(exc, "orig", None) or exc).__name__,
                reason[0] if reason else "",
            )

    def _recovered(self) -> None:
        since, refused = self.since, self.refused
        self.since, self.refused = None, 0
        if since is not None and self.log:
            LOG.warning(
                "database available again after %.1f s (%d requests refused)",
                time.monotonic() - since,
                refused,
            )


def is_unavailable(exc: BaseException) -> bool:
    """Return True if *exc* says the database is out of reach or busy, not that a statement
    is wrong: a lost or refused connection, a shutdown, an exhausted pool, a locked SQLite
    file, a serialization failure.

    :param exc: an error raised by SQLAlchemy.
    """
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_UNAVAILABLE
    state = getattr(exc.orig, "sqlstate", None)
    return state is None or state[:2] in _PG_UNAVAILABLE


def _heavy_sqlite(connection: Connection, deadline: float | None, *, heavy: bool = True) -> None:
    # A heavy read's long statements leave the event loop, and are interrupted past
    # *deadline* (ciweb.ci.dbapi.set_offloading).
    dbapi = connection.connection.driver_connection
    if dbapi is not None:
        set_offloading(dbapi, heavy, deadline=deadline)


def _is_timeout(exc: DBAPIError) -> bool:
    message = str(exc.orig).lower()
    return "interrupted" in message or "statement timeout" in message


class Prepared:
    """A compiled statement (see :meth:`Store.compiled`) and, once computed, its driver SQL
    and parameter values when every value was bound at build time."""

    __slots__ = ("_fixed", "compiled")

    def __init__(self, compiled: SQLCompiler) -> None:
        self.compiled = compiled
        self._fixed: tuple[str, Any] | None = None

    def driver_sql(self, params: Mapping[str, Any] | None = None) -> tuple[str, Any]:
        """Return the SQL and parameter values to hand the driver's cursor.

        :param params: values of parameters not bound at build time (an expanding ``IN``).
        """
        if params is not None:
            return self._expand(params)
        if self._fixed is None:
            self._fixed = self._expand(None)
        return self._fixed

    def _expand(self, params: Mapping[str, Any] | None) -> tuple[str, Any]:
        state = self.compiled.construct_expanded_state(params)
        values: Any = state.parameters
        if state.processors:
            values = {
                key: (state.processors[key](value) if key in state.processors else value)
                for key, value in values.items()
            }
        if state.positiontup is not None:
            values = tuple(values[key] for key in state.positiontup)
        return state.statement, values


def run(
    connection: Connection, prepared: Prepared, params: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """Execute *prepared* (see :meth:`Store.compiled`) on the driver's cursor and return its
    rows as the driver gives them: tuples whose values no result type converted (SQLite
    returns times as text, booleans as integers and JSON as text; psycopg returns datetimes
    and decoded JSON).

    SQLAlchemy's execution would build a result's metadata from the cursor on every call
    (0.05 ms for a builds page); errors are still SQLAlchemy's (:class:`DBAPIError`), and a
    lost connection is invalidated as SQLAlchemy does.

    :param connection: the connection, in its transaction (begun here if it is not).
    :param prepared: the statement.
    :param params: values of its parameters not bound at build time (an expanding ``IN``).
    """
    statement, values = prepared.driver_sql(params)
    if not connection.in_transaction():
        connection.begin()
    dialect = connection.dialect
    dbapi_connection = connection.connection
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement, values)
        return cursor.fetchall()
    except dialect.loaded_dbapi.Error as exc:
        lost = dialect.is_disconnect(exc, dbapi_connection, cursor)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            values,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=dialect,
        ) from exc
    finally:
        cursor.close()


# Built once: a statement object keeps its cache key, so each lookup skips building it.
_TENANT_ID = select(models.Tenant.__table__.c.id).where(
    models.Tenant.__table__.c.name == bindparam("name")
)


def tenant_id(session: Session | Connection, name: str) -> int:
    """Return the id of tenant *name*.

    :param session: an open session or connection.
    :param name: tenant name.
    :raises NotFound: "Unknown tenant".
    """
    found = session.execute(_TENANT_ID, {"name": name}).scalar()
    if found is None:
        raise NotFound("Unknown tenant")
    return found
