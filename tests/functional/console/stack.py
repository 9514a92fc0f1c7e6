"""A live ciweb stack for tests: the shipped pipeline, console stream and dashboard included.

etc/api-paste.ini ships the console filter in ``[pipeline:api]`` and the dashboard behind
``[composite:main]``; the tests only add options to their sections.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_INI = ROOT / "etc" / "api-paste.ini"
DASHBOARD_VERSION = "14.3.0"
CACHE_DIR = Path(os.environ.get("CIWEB_TEST_CACHE", Path.home() / ".cache" / "ciweb-tests"))


def _add_options(text: str, section: str, options: str) -> str:
    """Return *text* with *options* (ini lines) added at the top of ``[section]``."""
    header = re.compile(rf"^\[{re.escape(section)}\]\n", re.MULTILINE)
    if header.search(text) is None:
        raise AssertionError(f"{SHIPPED_INI} has no [{section}]")
    return header.sub(lambda m: m.group(0) + options.strip() + "\n", text, count=1)


def paste_ini(
    tmp_path: Path, static_path: Path | None, console_options: str = "poll_interval = 0.05"
) -> Path:
    """Write the shipped pipeline with test options for the console and the dashboard.

    :param static_path: the installed dashboard, or None for the configured default.
    :param console_options: ini lines for ``[filter:console_stream]``.
    """
    text = _add_options(SHIPPED_INI.read_text(), "filter:console_stream", console_options)
    if static_path is not None:
        text = _add_options(text, "app:dashboard_files", f"static_path = {static_path}")
    path = tmp_path / "api-paste.ini"
    path.write_text(text)
    return path


def ciweb_conf(tmp_path: Path, paste: Path, *, extra: str = "") -> Path:
    """Write a ciweb.conf serving ``main`` from *paste* with a migrated SQLite state dir.

    :param extra: more ciweb.conf text, e.g. ``[auth]`` sections.
    """
    from ciweb.ci.engine import database_url, make_engine
    from ciweb.ci.store import Store

    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    engine = make_engine(database_url("", str(state)))
    try:
        Store(engine).upgrade()
    finally:
        engine.dispose()
    path = tmp_path / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {paste}\npaste_app = main\n"
        "[server]\nbind_port = 0\n"
        f"[database]\nstate_dir = {state}\n" + extra
    )
    return path


def store_for(conf: Path):  # type: ignore[no-untyped-def]
    """Return a Store on the database *conf* names (the caller disposes of its engine)."""
    from ciweb.api.app import make_store
    from ciweb.conf import database, paste_options

    return make_store(paste_options({"config_file": str(conf)}, {}, database.GROUP, database.OPTS))


def installed_dashboard() -> Path:
    """Return a directory holding the Zuul dashboard, installing it once per machine.

    The wheel and the unpacked files are kept under ``~/.cache/ciweb-tests`` (or
    ``$CIWEB_TEST_CACHE``) so that reruns do not download again.

    :raises RuntimeError: with a clear message when the package index is unreachable.
    """
    from ciweb.api import dashboard

    target = CACHE_DIR / f"dashboard-{DASHBOARD_VERSION}"
    try:
        dashboard.install(str(target), DASHBOARD_VERSION, download_dir=str(CACHE_DIR / "wheels"))
    except dashboard.DashboardError as exc:
        raise RuntimeError(
            f"cannot install the Zuul {DASHBOARD_VERSION} dashboard for the browser tests "
            f"(is the package index reachable?): {exc}"
        ) from None
    return target
