"""A PostgreSQL outage under load: 503 JSON with Retry-After, one log line, recovery unaided.

The test runs its own PostgreSQL cluster (stopping the session's would break other tests),
loads the demo tenant, and keeps a client reading builds from a real ``ciweb-api`` while it
stops the server (fast shutdown: in-flight queries get ``AdminShutdown``, then connections are
refused) and starts it again.  The health check, with ``probes = database``, drains the node
meanwhile.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional import postgres_server
from tests.functional.api.test_zuul_client import manage
from tests.functional.ciweb_process import LISTENING, ROOT, ciweb_api
from tests.services import missing

TENANT = "example-tenant"
BUILDS = f"/api/tenant/{TENANT}/builds?limit=5"
DOWN = re.compile(r"database unavailable, answering 503 until it is back: (\w+)")
UP = re.compile(r"database available again after [\d.]+ s \((\d+) requests refused\)")


@pytest.fixture
def private_postgres() -> Iterator[postgres_server.PostgresServer]:
    reason = postgres_server.available()
    if reason is not None:
        missing(f"no PostgreSQL server ({reason})", "tools/install-system-deps")
    with postgres_server.PostgresServer() as server:
        yield server


def _conf(directory: Path, connection: str) -> Path:
    path = directory / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {ROOT / 'etc' / 'api-paste.ini'}\n"
        "[server]\nbind_port = 0\naccess_log = false\n"
        "[process]\nworkers = 1\n"
        f"[database]\nconnection = {connection}\n"
        "[healthcheck]\nprobes = database\n"
    )
    return path


class _Load:
    """A client reading builds in a loop on one keep-alive connection, keeping every answer."""

    def __init__(self, url: urllib.parse.SplitResult) -> None:
        self.url = url
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
        while not self.stop.is_set():
            conn.request("GET", BUILDS)
            response = conn.getresponse()
            body = response.read()
            self.answers.append((response.status, dict(response.getheaders()), body))
            if response.will_close:
                conn.close()
                conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=30)
            time.sleep(0.005)

    def wait_for(self, status: int, after: int, timeout: float = 60.0) -> None:
        """Wait until an answer with *status* came after the first *after* answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(a[0] == status for a in self.answers[after:]):
                return
            assert self.thread.is_alive(), "the load client died"
            time.sleep(0.02)
        statuses = sorted({a[0] for a in self.answers[after:]})
        raise AssertionError(f"no {status} after answer {after}: saw {statuses}")


def _health(url: urllib.parse.SplitResult) -> tuple[int, str]:
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", "/healthcheck")
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_an_outage_is_answered_503_logged_once_and_recovered_without_restart(
    tmp_path: Path, private_postgres: postgres_server.PostgresServer
) -> None:
    conf = _conf(tmp_path, private_postgres.create_database("outage"))
    manage(conf, "db", "upgrade")
    manage(conf, "demo")
    with ciweb_api(conf) as server:
        url = urllib.parse.urlsplit(server.wait_for(LISTENING, timeout=60).group(1))
        load = _Load(url)
        load.thread.start()
        load.wait_for(200, 0)
        assert _health(url) == (200, "OK\n")

        before = len(load.answers)
        private_postgres.halt()
        load.wait_for(503, before)
        assert _health(url) == (503, "DATABASE UNAVAILABLE\n")
        down = len(load.answers)

        private_postgres.resume()
        load.wait_for(200, down)
        load.stop.set()
        load.thread.join(timeout=30)
        assert _health(url) == (200, "OK\n")
        server.wait_for(UP)
        output = server.output

    during = load.answers[before:]
    assert {status for status, _, _ in during} <= {200, 503}, "an outage answer was not 503"
    refused = [(headers, body) for status, headers, body in during if status == 503]
    for headers, body in refused:
        assert headers["Retry-After"] == "5"
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        document = json.loads(body)
        assert document["error"] == "Service Unavailable"
        assert document["description"] == "the database is unavailable; retry later"
    # One line when it started, one when it ended; no traceback per request.
    assert len(DOWN.findall(output)) == 1, output
    assert int(UP.search(output).group(1)) >= len(refused)  # type: ignore[union-attr]
    assert "Traceback" not in output, output
