"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ciweb_conf(tmp_path: Path) -> Path:
    """Write a ciweb.conf for one test: migrated SQLite state in tmp_path, the shipped
    etc/api-paste.ini, any free port; return its path."""
    from ciweb.ci.engine import database_url, make_engine
    from ciweb.ci.store import Store

    state = tmp_path / "state"
    state.mkdir()
    path = tmp_path / "ciweb.conf"
    path.write_text(
        "[api]\n"
        f"paste_config = {ROOT / 'etc/api-paste.ini'}\n"
        "[server]\n"
        "bind_port = 0\n"
        "[database]\n"
        f"state_dir = {state}\n"
    )
    engine = make_engine(database_url("", str(state)))
    try:
        Store(engine).upgrade()
    finally:
        engine.dispose()
    return path
