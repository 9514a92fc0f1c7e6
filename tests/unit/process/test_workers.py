"""Tests of the worker supervision logic, with real child processes playing workers."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ciweb.conf import ConfigError
from ciweb.process.bus import Bus
from ciweb.process.workers import Settings, Supervisor
from ciweb.wsgi.server import listen

DEADLINE = 15.0

# A stand-in worker: says ready (unless told to fail), then reports N requests; it exits
# 0 on SIGTERM (stop) and 12 on SIGUSR2 (hand over).  It speaks the real status-pipe
# protocol.  "slow" takes 0.5 s to be ready.
FAKE_WORKER = textwrap.dedent("""\
    import json, os, signal, sys, time
    args = sys.argv[1:]
    fd = int(args[args.index("--status-fd") + 1])
    mode = args[args.index("--") + 1]
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    signal.signal(signal.SIGUSR2, lambda *a: sys.exit(12))
    if mode == "fail":
        sys.exit(3)
    if mode == "slow":
        time.sleep(0.5)
    os.write(fd, json.dumps({"event": "ready"}).encode() + b"\\n")
    requests = 0
    while True:
        requests += 1 if mode == "busy" else 0
        os.write(fd, json.dumps({"event": "stats", "requests": requests}).encode() + b"\\n")
        time.sleep(0.05)
    """)


def run_until(bus: Bus, supervisor: Supervisor, done: Callable[[], bool]) -> None:
    end = time.monotonic() + DEADLINE
    while not done():
        assert time.monotonic() < end, "supervision did not reach the expected state"
        supervisor.main()
        time.sleep(0.02)


@pytest.fixture
def fake_worker(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    return [sys.executable, str(script)]


@pytest.fixture
def make_supervisor(fake_worker: list[str]) -> Iterator[Callable[..., Supervisor]]:
    made: list[Supervisor] = []

    def make(
        mode: str = "idle", prepare: Callable[[], Settings] | None = None, **kw: object
    ) -> Supervisor:
        settings = Settings(conf_args=(mode,), graceful_timeout=2.0, **kw)  # type: ignore[arg-type]
        supervisor = Supervisor(
            Bus(),
            settings,
            prepare=prepare or (lambda: settings),
            listen=listen,
            worker_command=fake_worker,
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.stop()


def test_start_waits_for_every_worker_and_binds_one_port(
    make_supervisor: Callable[..., Supervisor],
) -> None:
    supervisor = make_supervisor(workers=2)
    supervisor.start()
    assert all(w.ready for w in supervisor.workers)
    assert len(supervisor.workers) == 2
    assert supervisor.address[1] > 0
    assert supervisor.health()["status"] == "ok"


def test_start_fails_when_a_worker_exits_before_it_is_ready(
    make_supervisor: Callable[..., Supervisor],
) -> None:
    supervisor = make_supervisor("fail")
    with pytest.raises(RuntimeError, match="exited with status 3 before it was ready"):
        supervisor.start()


def test_a_dead_worker_is_respawned_in_its_slot(
    make_supervisor: Callable[..., Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = make_supervisor(workers=2)
    supervisor.start()
    victim = supervisor.workers[0]
    victim.proc.kill()
    run_until(
        supervisor.bus,
        supervisor,
        lambda: (
            victim not in supervisor.workers
            and len(supervisor.workers) == 2
            and all(w.ready for w in supervisor.workers)
        ),
    )
    assert {w.slot for w in supervisor.workers} == {0, 1}
    assert f"worker pid {victim.pid} (slot 0) died with status -9" in caplog.text


def test_a_worker_past_max_requests_is_replaced_before_it_drains(
    make_supervisor: Callable[..., Supervisor],
) -> None:
    supervisor = make_supervisor("busy", max_requests=5)
    supervisor.start()
    first = supervisor.workers[0]
    run_until(supervisor.bus, supervisor, lambda: first not in supervisor.workers)
    (replacement,) = supervisor.workers
    assert replacement.ready and replacement.slot == 0
    assert supervisor.stats()["requests"] >= 5


def test_a_reload_with_a_broken_configuration_keeps_the_workers(
    make_supervisor: Callable[..., Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> Settings:
        raise ConfigError("[api] paste_config: nowhere.ini not found")

    supervisor = make_supervisor(prepare=broken)
    supervisor.start()
    before = list(supervisor.workers)
    supervisor.graceful()
    supervisor.main()
    assert supervisor.workers == before
    assert "reload refused, the old workers keep serving" in caplog.text


def test_a_reload_whose_new_workers_fail_keeps_the_old_ones(
    make_supervisor: Callable[..., Supervisor], caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = make_supervisor(
        prepare=lambda: Settings(conf_args=("fail",), graceful_timeout=2.0)
    )
    supervisor.start()
    (old,) = supervisor.workers
    supervisor.graceful()
    run_until(supervisor.bus, supervisor, lambda: "reload aborted" in caplog.text)
    run_until(supervisor.bus, supervisor, lambda: supervisor.workers == [old])
    assert old.retiring is None


def test_a_reload_replaces_every_worker_once_the_new_ones_are_ready(
    make_supervisor: Callable[..., Supervisor],
) -> None:
    supervisor = make_supervisor(workers=2)
    supervisor.start()
    old = set(supervisor.workers)
    supervisor.graceful()
    run_until(
        supervisor.bus,
        supervisor,
        lambda: (
            len(supervisor.workers) == 2
            and old.isdisjoint(supervisor.workers)
            and all(w.ready for w in supervisor.workers)
        ),
    )
    assert {w.slot for w in supervisor.workers} == {0, 1}


def test_add_and_remove_worker_change_the_number_of_slots(
    make_supervisor: Callable[..., Supervisor],
) -> None:
    supervisor = make_supervisor()
    supervisor.start()
    supervisor.add_worker()
    run_until(supervisor.bus, supervisor, lambda: sum(w.ready for w in supervisor.workers) == 2)
    supervisor.remove_worker()
    run_until(supervisor.bus, supervisor, lambda: len(supervisor.workers) == 1)
    supervisor.remove_worker()  # the last one stays
    assert supervisor.wanted == 1
    assert json.loads(json.dumps(supervisor.stats()))["workers_wanted"] == 1


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture the supervisor's INFO lines too."""
    caplog.set_level(logging.INFO, logger="ciweb.process.workers")
    return caplog


def reloads_done(caplog: pytest.LogCaptureFixture) -> int:
    return caplog.text.count("reload complete")


def test_a_reload_hands_over_with_sigusr2_and_a_stop_uses_sigterm(
    make_supervisor: Callable[..., Supervisor], log: pytest.LogCaptureFixture
) -> None:
    supervisor = make_supervisor()
    supervisor.start()
    (old,) = supervisor.workers
    supervisor.graceful()
    run_until(supervisor.bus, supervisor, lambda: old not in supervisor.workers)
    assert f"worker pid {old.pid} exited (status 12) after draining" in log.text
    (new,) = supervisor.workers
    supervisor.stop()
    assert f"worker pid {new.pid} exited (status 0) after draining" in log.text


def test_sighups_during_a_reload_run_one_more_reload_after_it(
    make_supervisor: Callable[..., Supervisor], log: pytest.LogCaptureFixture
) -> None:
    prepared = []

    def prepare() -> Settings:
        prepared.append(1)
        return Settings(conf_args=("slow",), graceful_timeout=2.0)

    supervisor = make_supervisor("slow", prepare=prepare)
    supervisor.start()
    supervisor.graceful()
    assert supervisor.reloading
    supervisor.graceful()
    supervisor.graceful()
    assert "SIGHUP queued" in log.text
    run_until(supervisor.bus, supervisor, lambda: reloads_done(log) == 2)
    assert not supervisor.reloading
    assert len(prepared) == 2
    run_until(supervisor.bus, supervisor, lambda: len(supervisor.workers) == 1)


def test_sigttin_during_a_reload_holds_after_it(
    make_supervisor: Callable[..., Supervisor], log: pytest.LogCaptureFixture
) -> None:
    supervisor = make_supervisor("slow")
    supervisor.start()
    supervisor.graceful()
    supervisor.add_worker()
    supervisor.add_worker()
    supervisor.remove_worker()
    run_until(supervisor.bus, supervisor, lambda: reloads_done(log) == 1)
    run_until(
        supervisor.bus,
        supervisor,
        lambda: [w.ready and w.retiring is None for w in supervisor.workers] == [True, True],
    )
    assert supervisor.wanted == 2
    assert {w.slot for w in supervisor.workers} == {0, 1}


def test_sigttou_during_a_reload_keeps_at_least_one_worker(
    make_supervisor: Callable[..., Supervisor], log: pytest.LogCaptureFixture
) -> None:
    supervisor = make_supervisor("slow", workers=2)
    supervisor.start()
    supervisor.graceful()
    for _ in range(3):
        supervisor.remove_worker()
    assert "keeping the last worker" in log.text
    run_until(supervisor.bus, supervisor, lambda: reloads_done(log) == 1)
    run_until(supervisor.bus, supervisor, lambda: len(supervisor.workers) == 1)
    assert supervisor.wanted == 1


def test_a_reload_keeps_the_resized_count_unless_the_configured_count_changed(
    make_supervisor: Callable[..., Supervisor], log: pytest.LogCaptureFixture
) -> None:
    configured = {"workers": 1}

    def prepare() -> Settings:
        return Settings(conf_args=("idle",), graceful_timeout=2.0, **configured)

    supervisor = make_supervisor(prepare=prepare)
    supervisor.start()
    supervisor.add_worker()
    supervisor.graceful()
    run_until(supervisor.bus, supervisor, lambda: reloads_done(log) == 1)
    assert supervisor.wanted == 2
    configured["workers"] = 3
    supervisor.graceful()
    run_until(supervisor.bus, supervisor, lambda: reloads_done(log) == 2)
    assert supervisor.wanted == 3
