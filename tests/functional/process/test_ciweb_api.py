"""ciweb-api as a process tree: workers, respawn, recycling, reload, resizing, monitor, pid file."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import trustme

from tests.functional.process.conftest import Api, paste_ini, wait_for
from tests.functional.wsgi.client import handshake


class ClientLoop:
    """GET / on a new connection, one request after another, until stopped."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.bodies: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = self.api.get("/")
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if status != 200:
                self.failures.append(f"status {status}: {body}")
            self.bodies.append(body)

    def __enter__(self) -> ClientLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def pids(self) -> set[str]:
        return {body.split()[1] for body in list(self.bodies)}


def test_two_workers_both_serve_requests(api: Callable[..., Api]) -> None:
    server = api(workers=2).start()
    seen: set[str] = set()

    def both() -> bool:
        status, body = server.get("/")
        assert status == 200
        seen.add(body.split()[1])
        return len(seen) == 2

    wait_for(both, "answers from two worker pids")
    assert {int(pid) for pid in seen} == server.ready_pids()
    assert server.stop() == 0


def test_a_killed_worker_is_respawned(api: Callable[..., Api]) -> None:
    server = api(workers=2).start()
    before = server.ready_pids()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    def respawned() -> set[int] | None:
        pids = server.ready_pids()
        return pids if len(pids) == 2 and victim not in pids else None

    after = wait_for(respawned, "a respawned worker")
    assert len(after & before) == 1
    assert f"worker pid {victim} (slot" in server.text()
    assert "died with status -9" in server.text()
    assert server.get("/")[0] == 200
    assert server.stop() == 0


def test_max_requests_recycles_workers_without_dropping_a_request(
    api: Callable[..., Api],
) -> None:
    server = api(workers=1, max_requests=15, max_requests_jitter=5).start()
    with ClientLoop(server) as loop:
        wait_for(lambda: len(loop.pids()) >= 3, "two recyclings", deadline=30)
    assert loop.failures == []
    assert "recycling worker pid" in server.text()
    assert server.stop() == 0


def test_sighup_reloads_the_pipeline_without_dropping_a_request(
    api: Callable[..., Api],
) -> None:
    server = api(workers=2).start()
    old = server.ready_pids()
    with ClientLoop(server) as loop:
        wait_for(lambda: len(loop.bodies) >= 5, "requests before the reload")
        server.paste.write_text(paste_ini("bonjour"))
        server.signal(signal.SIGHUP)
        wait_for(lambda: "reload complete" in server.text(), "the reload")

        def old_workers_gone() -> bool:
            return {w["pid"] for w in server.stats()["workers"]}.isdisjoint(old)

        wait_for(old_workers_gone, "the old workers' exit")
        count = len(loop.bodies)
        wait_for(lambda: len(loop.bodies) >= count + 5, "requests after the reload")
    assert loop.failures == []
    assert loop.bodies[0].startswith("hello ")
    assert loop.bodies[-1].startswith("bonjour ")
    assert server.stop() == 0


def test_a_broken_configuration_is_refused_and_the_old_workers_keep_serving(
    api: Callable[..., Api],
) -> None:
    server = api(workers=1).start()
    old = server.ready_pids()
    server.paste.write_text("[app:main]\nuse = call:tests.functional.process.nowhere:app\n")
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in server.text(), "the refusal")
    status, body = server.get("/")
    assert (status, body.split()[0]) == (200, "hello")
    assert server.ready_pids() == old
    assert server.stop() == 0


def test_sigttin_and_sigttou_change_the_number_of_workers(api: Callable[..., Api]) -> None:
    server = api(workers=1).start()
    server.signal(signal.SIGTTIN)
    wait_for(lambda: len(server.ready_pids()) == 2, "a second worker")
    assert json.loads(server.monitor("health"))["workers_wanted"] == 2
    server.signal(signal.SIGTTOU)
    wait_for(lambda: len(server.stats()["workers"]) == 1, "one worker left")
    assert json.loads(server.monitor("health")) == {
        "status": "ok",
        "workers_ready": 1,
        "workers_wanted": 1,
    }
    assert server.get("/")[0] == 200
    assert server.stop() == 0


def test_monitor_answers_help_health_stats_and_version(api: Callable[..., Api]) -> None:
    server = api(workers=2).start()
    for _ in range(4):
        assert server.get("/")[0] == 200
    listed = [line.split()[0] for line in server.monitor("help").splitlines()[1:]]
    assert listed == ["health", "help", "stats", "version"]
    assert json.loads(server.monitor("health"))["status"] == "ok"

    def counted() -> dict[str, Any] | None:
        stats = server.stats()
        return stats if stats["requests"] == 4 else None

    stats = wait_for(counted, "4 requests counted")
    assert len(stats["workers"]) == 2
    assert sum(w["requests"] for w in stats["workers"]) == 4
    assert stats["in_flight"] == 0
    assert stats["pool_free"] == 2000
    assert server.monitor("version").strip() == "0.1.0"
    assert "Invalid command 'nope'" in server.monitor("nope")
    assert server.stop() == 0


def test_sigterm_finishes_the_request_in_flight_then_exits(api: Callable[..., Api]) -> None:
    server = api(workers=1).start()
    result: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: result.append(server.get("/slow?seconds=1")))
    slow.start()
    wait_for(lambda: server.stats()["in_flight"] == 1, "the slow request in flight")
    began = time.monotonic()
    assert server.stop() == 0
    slow.join(timeout=10)
    assert result and result[0][0] == 200
    assert time.monotonic() - began < 5
    assert not server.pid_file.exists()


def test_the_pid_file_refuses_a_second_instance(api: Callable[..., Api]) -> None:
    first = api("first", workers=1).start()
    second = api("second", workers=1)
    second.pid_file = first.pid_file
    second.write_conf(workers=1)
    second.conf.write_text(
        second.conf.read_text().replace(str(second.dir / "ciweb-api.pid"), str(first.pid_file))
    )
    second.start(expect_listening=False)
    assert second.proc is not None
    assert second.proc.wait(timeout=20) == 1
    assert f"ciweb-api: error: pid file {first.pid_file} is held by live process" in second.text()
    assert "listening on" not in second.text()
    assert first.get("/")[0] == 200
    assert first.stop() == 0


def test_the_tls_groups_of_ssl_groups_are_what_the_workers_offer(
    api: Callable[..., Api],
) -> None:
    server = api(workers=1)
    cert = trustme.CA().issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(server.dir / "cert.pem"))
    cert.private_key_pem.write_to_path(str(server.dir / "key.pem"))
    with server.conf.open("a") as conf:
        conf.write(f"[ssl]\ncert_file = {server.dir / 'cert.pem'}\n")
        conf.write(f"key_file = {server.dir / 'key.pem'}\ngroups = P-384\n")
    server.start()
    assert f"listening on https://127.0.0.1:{server.port}" in server.text()
    assert handshake(server.port, "-tls1_3", "P-384").returncode == 0
    assert handshake(server.port, "-tls1_3", "X25519").returncode != 0
    assert server.stop() == 0
