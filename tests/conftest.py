"""Fixtures shared by the whole suite: configuration files and the databases to run on."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional import postgres_server

ROOT = Path(__file__).resolve().parents[1]
_DATABASES = itertools.count()


@pytest.fixture(autouse=True)
def _outside_any_request() -> Iterator[None]:
    """Start every test outside any request: a test that leaves a response iterable
    unclosed (webob's get_response does) would leave its request id in this context."""
    from ciweb.middleware import request_id

    token = request_id._CURRENT.set(None)
    yield
    request_id._CURRENT.reset(token)


@pytest.fixture(scope="session")
def postgres() -> Iterator[postgres_server.PostgresServer]:
    """Run one private PostgreSQL cluster per test process (pytest-xdist worker)."""
    reason = postgres_server.available()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must test PostgreSQL: {reason}")
        pytest.skip(f"no PostgreSQL server: {reason}")
    with postgres_server.PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of an empty database: SQLite in tmp_path, then a fresh PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ciweb.sqlite'}"
    server: postgres_server.PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"ciweb_test_{os.getpid()}_{next(_DATABASES)}")


def write_conf(tmp_path: Path, connection: str = "") -> Path:
    """Write a ciweb.conf (shipped pipeline, any free port, state in tmp_path) and migrate
    its database; return its path."""
    from ciweb.ci.engine import database_url, make_engine
    from ciweb.ci.store import Store

    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    path = tmp_path / "ciweb.conf"
    path.write_text(
        "[api]\n"
        f"paste_config = {ROOT / 'etc/api-paste.ini'}\n"
        "[server]\n"
        "bind_port = 0\n"
        "[database]\n"
        f"state_dir = {state}\n"
        f"connection = {connection}\n"
    )
    engine = make_engine(database_url(connection, str(state)))
    try:
        Store(engine).upgrade()
    finally:
        engine.dispose()
    return path


@pytest.fixture
def ciweb_conf(tmp_path: Path) -> Path:
    """Return a ciweb.conf on a migrated SQLite database in tmp_path."""
    return write_conf(tmp_path)


@pytest.fixture
def ciweb_conf_any_db(tmp_path: Path, database_url: str) -> Path:
    """Return a ciweb.conf on a migrated database, once on SQLite and once on PostgreSQL."""
    connection = "" if database_url.startswith("sqlite") else database_url
    return write_conf(tmp_path, connection)
