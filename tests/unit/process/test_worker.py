"""Tests of one worker's pieces: respawn backoff, request limit, and the status pipe."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ciweb.process.bus import Bus
from ciweb.process.worker import Backoff, StatusReporter, WorkerProcess, request_limit

DEADLINE = 10.0


def test_backoff_doubles_while_workers_die_young_and_resets_after_a_stable_run() -> None:
    backoff = Backoff(0.1, 1.0, stable_after=10.0)
    assert [backoff.next_delay(0.5) for _ in range(5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert backoff.next_delay(60.0) == 0.1


def test_request_limit_adds_jitter_within_bounds_and_zero_means_never() -> None:
    rng = random.Random(7)
    limits = {request_limit(100, 10, rng) for _ in range(200)}
    # 200 draws of 11 values: every one of them, and nothing outside them.
    assert limits == set(range(100, 111))
    assert request_limit(0, 10, rng) is None
    assert request_limit(5, 0, rng) == 5


@pytest.fixture
def pipe_worker() -> Iterator[tuple[WorkerProcess, int]]:
    """A WorkerProcess whose status pipe the test writes itself (the child just sleeps)."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    worker = WorkerProcess(slot=0, proc=proc, status=read_fd, limit=None)
    yield worker, write_fd
    proc.kill()
    proc.wait()
    os.close(read_fd)
    os.close(write_fd)


def test_reports_are_read_line_by_line_and_a_partial_line_waits(
    pipe_worker: tuple[WorkerProcess, int],
) -> None:
    worker, fd = pipe_worker
    os.write(fd, b'{"event": "ready"}\n{"event": "stats", "requ')
    assert worker.read_reports() == [{"event": "ready"}]
    os.write(fd, b'ests": 3}\n')
    assert worker.read_reports() == [{"event": "stats", "requests": 3}]
    assert worker.read_reports() == []


def test_a_report_that_is_not_a_json_object_is_logged_and_skipped(
    pipe_worker: tuple[WorkerProcess, int], caplog: pytest.LogCaptureFixture
) -> None:
    worker, fd = pipe_worker
    os.write(fd, b'not json\n[1, 2]\n"text"\n{"event": "ready"}\n')
    assert worker.read_reports() == [{"event": "ready"}]
    bad = [r.getMessage() for r in caplog.records if "bad report" in r.getMessage()]
    assert len(bad) == 3 and f"pid {worker.pid}" in bad[0]


def _read_lines(fd: int, count: int) -> list[dict[str, object]]:
    data = b""
    deadline = time.monotonic() + DEADLINE
    while data.count(b"\n") < count:
        assert time.monotonic() < deadline, f"only {data!r} within {DEADLINE} s"
        data += os.read(fd, 65536)
    return [json.loads(line) for line in data.splitlines()]


def test_the_reporter_says_ready_then_reports_counters_only_when_they_change() -> None:
    read_fd, write_fd = os.pipe()
    counters = {"requests": 0}
    samples = []

    def sample() -> dict[str, object]:
        samples.append(time.monotonic())
        return dict(counters)

    bus = Bus()
    reporter = StatusReporter(bus, write_fd, sample, interval=0.01)
    try:
        reporter.start()
        ready, first = _read_lines(read_fd, 2)
        assert ready == {"event": "ready", "pid": os.getpid()}
        assert first == {"event": "stats", "pid": os.getpid(), "requests": 0}
        counters["requests"] = 5
        (second,) = _read_lines(read_fd, 1)
        assert second["requests"] == 5
        # Unchanged counters are not sent again, however often they are sampled; nor by stop().
        seen = len(samples)
        deadline = time.monotonic() + DEADLINE
        while len(samples) < seen + 5:
            assert time.monotonic() < deadline, "the reporter stopped sampling"
            time.sleep(0.01)
        reporter.stop()
        os.set_blocking(read_fd, False)
        with pytest.raises(BlockingIOError):
            os.read(read_fd, 65536)
    finally:
        reporter.stop()
        os.close(read_fd)
        os.close(write_fd)


def test_a_monkey_patched_worker_whose_parent_is_gone_gives_up_reporting() -> None:
    # Under eventlet's monkey-patching os.write retries EPIPE forever: a worker whose parent
    # died before the worker was ready used to spin on its "ready" report, never exiting.
    script = (
        "import eventlet; eventlet.monkey_patch()\n"
        "import os\n"
        "from ciweb.process.bus import Bus\n"
        "from ciweb.process.worker import StatusReporter\n"
        "read_fd, write_fd = os.pipe()\n"
        "os.close(read_fd)\n"
        "StatusReporter(Bus(), write_fd, dict)._send({'event': 'ready'})\n"
        "print('gave up')\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout == "gave up\n", done.stderr
