"""Fixtures of the CI data layer tests: a migrated store on SQLite in tmp_path, or on the
database named by CIWEB_TEST_DATABASE_URL (e.g. a throwaway PostgreSQL database)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from ciweb.ci import reporting, writes
from ciweb.ci.engine import make_engine
from ciweb.ci.models import Base
from ciweb.ci.store import Store

URL_VARIABLE = "CIWEB_TEST_DATABASE_URL"


def _empty(store: Store) -> None:
    # A shared database (PostgreSQL) starts every test empty.
    Base.metadata.drop_all(store.engine)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def only_on(store: Store, *, sqlite: bool) -> None:
    """Skip a test of one database kind when CIWEB_TEST_DATABASE_URL names the other one.

    Such a test asks for that kind with ``parametrize("database_url", [...], indirect=True)``;
    only a developer's explicit choice of database can bring it the other kind.
    """
    if store.is_sqlite != sqlite:
        pytest.skip(f"{URL_VARIABLE} names a database of another kind")


@pytest.fixture
def bare_store(database_url: str) -> Iterator[Store]:
    """A store on an empty database, not migrated: SQLite, then PostgreSQL (tests/conftest.py),
    or only the database named by CIWEB_TEST_DATABASE_URL when it is set."""
    url = os.environ.get(URL_VARIABLE) or database_url
    store = Store(make_engine(url), key_bits=2048)
    if os.environ.get(URL_VARIABLE):
        _empty(store)
    yield store
    store.engine.dispose()


@pytest.fixture
def store(bare_store: Store) -> Store:
    """A migrated store with tenant "t", two projects and pipelines check and gate."""
    bare_store.upgrade()
    writes.upsert_tenant(bare_store, "t")
    writes.upsert_tenant(bare_store, "other")
    for name in ("org/project", "org/other_project"):
        writes.upsert_project(
            bare_store,
            "t",
            {"name": name, "connection_name": "gerrit", "type": "untrusted",
             "canonical_name": f"review.example.org/{name}"},
            with_keys=False,
        )
    for name in ("check", "gate"):
        writes.upsert_pipeline(
            bare_store, "t", {"name": name, "triggers": [{"name": "gerrit", "driver": "gerrit"}]}
        )
    return bare_store


def add_buildset(
    store: Store,
    uuid: str,
    *,
    project: str = "org/project",
    pipeline: str = "check",
    change: int = 1,
    branch: str = "master",
    result: str | None = "SUCCESS",
    builds: tuple[dict[str, Any], ...] = (),
    tenant: str = "t",
) -> None:
    """Report a buildset on one change and its builds."""
    reporting.create_buildset(
        store,
        tenant,
        {"uuid": uuid, "pipeline": pipeline, "result": result,
         "refs": [{"project": project, "branch": branch, "change": change, "patchset": "1",
                   "ref": f"refs/changes/{change:02d}/{change}/1"}]},
    )
    for build in builds:
        reporting.create_build(store, tenant, uuid, build)
