"""Fixtures of the API tests: the demo database (built once), one copy and app per module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ciweb.api.app import app_factory
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import TENANT, build_demo_database, copy_database

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the demo data, built once per test process."""
    path = tmp_path_factory.mktemp("demo") / "template.sqlite"
    build_demo_database(path)
    return path


@pytest.fixture(scope="module")
def demo_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of this module's own copy of the demo database."""
    return copy_database(demo_template, tmp_path_factory.mktemp("db") / "ciweb.sqlite")


@pytest.fixture(scope="module")
def app(demo_url: str) -> WSGIApplication:
    """The API over the demo database, errors rendered by the faults filter."""
    return Faults(app_factory({}, connection=demo_url))


@pytest.fixture(scope="module")
def whitelabel_app(demo_url: str) -> WSGIApplication:
    """The API pinned to the demo tenant (``tenant = example-tenant``)."""
    return Faults(app_factory({}, connection=demo_url, tenant=TENANT))
