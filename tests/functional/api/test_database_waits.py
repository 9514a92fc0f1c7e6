"""A database call that waits in one request does not delay the other requests of the worker.

A real ``ciweb-api`` with one worker serves a request whose statement waits on a lock the test
holds (SQLite: another connection's write transaction, waited out by the busy timeout;
PostgreSQL: ``LOCK TABLE``), while the test reads from the same worker.  When the wait ran on
the event loop, as it did before (sqlite3's busy handler, psycopg's C poll), every read waited
for the lock too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from tests.functional.api.test_zuul_client import SECRET, manage
from tests.functional.ciweb_process import LISTENING, ROOT, ciweb_api

TENANT = "example-tenant"
READS = 30
# Each read is a few ms; generous for a loaded machine, far below the lock's hold.
READ_TIMEOUT = 10.0


def _conf(directory: Path, connection: str) -> Path:
    path = directory / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {ROOT / 'etc' / 'api-paste.ini'}\n"
        "[server]\nbind_port = 0\naccess_log = false\n"
        "[process]\nworkers = 1\n"
        f"[database]\nstate_dir = {directory / 'state'}\nconnection = {connection}\n"
        # The SQLite writer waits for the test's lock up to this long.
        "busy_timeout = 120\n"
        "[auth]\nauthenticators = ci\n"
        f"[auth_ci]\nissuer_id = https://ci.example.org\nclient_id = ciweb\nsecret = {SECRET}\n"
    )
    return path


@contextlib.contextmanager
def _locked(database_url: str, state: Path) -> Iterator[object]:
    """Hold a lock that the pipeline write must wait for; yield a way to see it waiting."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(state / "ciweb.sqlite", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield None
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, psycopg.connect(dsn, autocommit=True) as watcher:
        conn.execute("LOCK TABLE pipelines IN ACCESS EXCLUSIVE MODE")
        yield watcher
        conn.rollback()


def _wait_until_blocked(watcher: object, writer: threading.Thread) -> None:
    if watcher is None:  # SQLite: nothing to watch; the reads below start after the write
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and writer.is_alive():
        row = watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()  # type: ignore[attr-defined]
        if row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("the write never waited for the lock")


def test_a_request_waiting_on_the_database_does_not_delay_the_others(
    tmp_path: Path, database_url: str
) -> None:
    connection = "" if database_url.startswith("sqlite") else database_url
    conf = _conf(tmp_path, connection)
    manage(conf, "db", "upgrade")
    manage(conf, "demo")
    token = manage(conf, "token", "--authenticator", "ci", "--sub", "ci",
                   "--report", TENANT, "--expires-in", "600")  # fmt: skip
    with ciweb_api(conf) as server:
        url = urllib.parse.urlsplit(server.wait_for(LISTENING, timeout=60).group(1))
        outcome: dict[str, object] = {}

        def put_pipeline() -> None:
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            body = json.dumps({"triggers": [{"name": "gerrit", "driver": "gerrit"}]})
            conn.request(
                "PUT",
                f"/api/report/tenant/{TENANT}/pipelines/waiting",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            outcome["status"], outcome["body"] = response.status, response.read()
            conn.close()

        reader = http.client.HTTPConnection(url.hostname, url.port, timeout=READ_TIMEOUT)
        with _locked(database_url, tmp_path / "state") as watcher:
            writer = threading.Thread(target=put_pipeline)
            writer.start()
            _wait_until_blocked(watcher, writer)
            for _ in range(READS):
                # The tenant list reads the database: in WAL mode (SQLite) and on another
                # table (PostgreSQL) the held lock does not stop it; only a stalled worker would.
                reader.request("GET", "/api/tenants")
                response = reader.getresponse()
                assert response.status == 200, response.read()
                response.read()
            assert writer.is_alive(), f"the write did not wait for the lock: {outcome}"
        writer.join(timeout=120)
        reader.request("GET", f"/api/tenant/{TENANT}/pipelines")
        pipelines = json.loads(reader.getresponse().read())
    assert outcome["status"] == 200, outcome
    assert "waiting" in {p["name"] for p in pipelines}
