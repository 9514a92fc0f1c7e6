"""Fixtures shared by the whole suite: configuration files and the databases to run on."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional import postgres_server
from tests.services import in_ci, missing

ROOT = Path(__file__).resolve().parents[1]
_DATABASES = itertools.count()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None] | pytest.TestReport:
    """In CI, report a skipped test as failed: there nothing may vanish from the results."""
    report: pytest.TestReport = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Iterator[None] | pytest.CollectReport:
    """In CI, a module skipped while collected (``importorskip``) fails as well."""
    report: pytest.CollectReport = yield
    if in_ci() and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {report.longrepr}"
    return report


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
        missing(f"no PostgreSQL server ({reason})", "tools/install-system-deps")
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
