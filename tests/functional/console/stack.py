"""A live ciweb stack for tests: the shipped pipeline plus the console stream and dashboard.

The paste ini written here is the one proposed for etc/api-paste.ini, with factories named
by module path so that it works before the entry points are installed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_INI = ROOT / "etc" / "api-paste.ini"
DASHBOARD_VERSION = "14.3.0"
CACHE_DIR = Path(os.environ.get("CIWEB_TEST_CACHE", Path.home() / ".cache" / "ciweb-tests"))

EXTRA_SECTIONS = """
[composite:web]
paste.composite_factory = ciweb.api.static:composite_factory
api = main
dashboard = dashboard
api_paths = /api /healthcheck

[pipeline:dashboard]
pipeline = proxy_headers request_id access_log faults dashboard_cache compress dashboard_files

[app:dashboard_files]
paste.app_factory = ciweb.api.static:app_factory
{static_path}

[filter:dashboard_cache]
paste.filter_factory = ciweb.middleware.cache:filter_factory
policy.assets = /assets/** public, max-age=31536000, immutable; ttl=86400
max_entry_bytes = 16777216

[filter:console_stream]
paste.filter_factory = ciweb.api.console:filter_factory
{console_options}
"""


def paste_ini(
    tmp_path: Path, static_path: Path | None, console_options: str = "poll_interval = 0.05"
) -> Path:
    """Write the shipped pipeline plus the console and dashboard sections; return its path.

    The shipped ``[pipeline:main]`` gets ``console_stream`` right after ``request_id``; the
    served application is ``[composite:web]``.
    """
    text = SHIPPED_INI.read_text()
    text = re.sub(
        r"^(pipeline = proxy_headers request_id) ",
        r"\1 console_stream ",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    static = f"static_path = {static_path}" if static_path is not None else ""
    text += EXTRA_SECTIONS.format(static_path=static, console_options=console_options)
    path = tmp_path / "api-paste.ini"
    path.write_text(text)
    return path


def ciweb_conf(tmp_path: Path, paste: Path, *, workers: int | None = None) -> Path:
    """Write a ciweb.conf serving ``web`` from *paste* with a migrated SQLite state dir."""
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
        f"[api]\npaste_config = {paste}\npaste_app = web\n"
        "[server]\nbind_port = 0\n"
        f"[database]\nstate_dir = {state}\n"
    )
    return path


def store_for(conf: Path):  # type: ignore[no-untyped-def]
    """Return a Store on the database *conf* names (the caller disposes of its engine)."""
    from ciweb.ci.engine import engine_from_conf
    from ciweb.ci.store import Store
    from ciweb.conf import load

    return Store(engine_from_conf(load([], config_files=[str(conf)])))


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
