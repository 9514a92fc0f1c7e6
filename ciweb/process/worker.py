"""One worker process: the parent's settings and handle for it, and its side of the status pipe.

The supervisor (:mod:`ciweb.process.workers`) starts each worker as
``python -m ciweb.process.worker --slot N --listen-fd FD --status-fd FD -- <arguments>``.
The worker writes one JSON object per line to its status pipe (:class:`StatusReporter`):
``{"event": "ready"}`` once it listens, then ``{"event": "stats", ...}`` whenever its
counters change; the parent reads them through :meth:`WorkerProcess.read_reports`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ciweb.process.bus import Bus
from ciweb.process.plugins import SimplePlugin

__all__ = ["Backoff", "Settings", "StatusReporter", "WorkerProcess", "request_limit"]

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """What the supervisor needs from the configuration; built and checked by the command.

    :param conf_args: command-line arguments of ``ciweb.conf.load`` that workers re-parse.
    :param host: ``[server] bind_host``.
    :param port: ``[server] bind_port``.
    :param backlog: ``[server] backlog``.
    :param workers: number of workers, already resolved (>= 1).
    :param reuse_port: one SO_REUSEPORT socket per worker, else one shared socket.
    :param max_requests: recycle a worker after this many requests; 0 never.
    :param max_requests_jitter: random extra requests per worker.
    :param start_timeout: seconds a new worker has to become ready.
    :param respawn_max_delay: longest respawn backoff.
    :param graceful_timeout: ``[server] graceful_shutdown_timeout``.
    :param tls: the workers serve TLS (``[ssl] cert_file`` is set): URLs are ``https``.
    """

    conf_args: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 0
    backlog: int = 128
    workers: int = 1
    reuse_port: bool = True
    max_requests: int = 0
    max_requests_jitter: int = 0
    start_timeout: float = 60.0
    respawn_max_delay: float = 10.0
    graceful_timeout: float = 30.0
    tls: bool = False


def request_limit(max_requests: int, jitter: int, rng: random.Random) -> int | None:
    """Return the number of requests after which one worker is recycled, None for never.

    :param max_requests: the base limit; 0 means never.
    :param jitter: up to this many extra requests, drawn uniformly.
    :param rng: the random source.
    """
    if max_requests <= 0:
        return None
    return max_requests + (rng.randint(0, jitter) if jitter > 0 else 0)


class Backoff:
    """Respawn delays that double while workers keep dying young, and reset once one lives.

    :param initial: first delay in seconds.
    :param maximum: longest delay in seconds.
    :param stable_after: a worker that lived this long resets the delay.
    """

    def __init__(self, initial: float = 0.1, maximum: float = 10.0, stable_after: float = 10.0):
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff: need 0 < initial <= maximum, got {initial}, {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.stable_after = stable_after
        self._failures = 0

    def next_delay(self, lifetime: float) -> float:
        """Return the delay before respawning a worker that died after *lifetime* seconds.

        :param lifetime: seconds the dead worker ran.
        """
        if lifetime >= self.stable_after:
            self._failures = 0
        delay = min(self.initial * (2**self._failures), self.maximum)
        self._failures += 1
        return delay


@dataclass(eq=False)
class WorkerProcess:
    """The parent's view of one worker process."""

    slot: int
    proc: subprocess.Popen[bytes]
    status: int  # read end of the status pipe
    limit: int | None
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    retiring: float | None = None  # monotonic time SIGTERM was sent
    replaces: WorkerProcess | None = None
    reload: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    buffer: bytes = b""

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.proc.pid

    @property
    def requests(self) -> int:
        """Requests the worker reported having served."""
        return int(self.stats.get("requests", 0))

    def read_reports(self) -> list[dict[str, Any]]:
        """Read what the worker wrote to its status pipe; return the complete reports.

        A partial last line waits in :attr:`buffer` for the next read; a line that is not
        a JSON object is logged and skipped.
        """
        try:
            while chunk := os.read(self.status, 65536):
                self.buffer += chunk
        except BlockingIOError:
            pass
        *lines, self.buffer = self.buffer.split(b"\n")
        reports = []
        for line in lines:
            try:
                report = json.loads(line)
            except ValueError:
                report = None
            if not isinstance(report, dict):
                LOG.warning("worker pid %d sent a bad report: %r", self.pid, line[:100])
                continue
            reports.append(report)
        return reports

    def describe(self) -> dict[str, Any]:
        """Return the worker's line of the monitor's ``stats``."""
        state = "retiring" if self.retiring else ("ready" if self.ready else "starting")
        info = {"pid": self.pid, "slot": self.slot, "state": state}
        info["uptime"] = round(time.monotonic() - self.started, 3)
        for key in ("requests", "in_flight", "connections", "pool_free", "pool_size"):
            info[key] = self.stats.get(key, 0)
        return info


class StatusReporter(SimplePlugin):
    """In a worker: report readiness and counters to the parent over the status pipe.

    Also exits the worker's bus when the parent is gone (its pid changes), so that workers
    never outlive a parent killed with SIGKILL.

    :param bus: the worker's bus.
    :param fd: the write end of the status pipe.
    :param sample: returns the counters to report (``requests``, ``in_flight``, ...).
    :param interval: seconds between two checks of the counters.
    """

    priorities = {"start": 80, "stop": 90}
    channels = ("start", "stop")

    def __init__(
        self, bus: Bus, fd: int, sample: Callable[[], dict[str, Any]], interval: float = 0.1
    ) -> None:
        super().__init__(bus)
        self.fd = fd
        # A report that does not fit the pipe at once is dropped (the next one follows),
        # rather than stopping the worker's event loop while the parent is busy.
        os.set_blocking(fd, False)
        self.sample = sample
        self.interval = interval
        self._parent = os.getppid()
        self._running = False
        self._last: dict[str, Any] = {}

    def _send(self, report: dict[str, Any]) -> None:
        data = (json.dumps(report, sort_keys=True) + "\n").encode("ascii")
        with contextlib.suppress(OSError):
            # The parent is gone: the loop's parent check exits the bus on its next tick.
            # os.writev, not os.write: eventlet's green os.write retries EPIPE forever, so
            # a worker whose parent died before it was ready spun at full speed, an orphan.
            os.writev(self.fd, [data])

    def start(self) -> None:
        """Say ready, then report the counters whenever they change."""
        self._running = True
        self._send({"event": "ready", "pid": os.getpid()})
        threading.Thread(target=self._loop, name="status-reporter", daemon=True).start()

    def _loop(self) -> None:
        while self._running:
            if os.getppid() != self._parent:
                LOG.error("parent process %d is gone: exiting", self._parent)
                self._running = False
                self.bus.exit()
                return
            self.report()
            time.sleep(self.interval)

    def report(self) -> None:
        """Send the counters if they changed since the last report."""
        current = self.sample()
        if current != self._last:
            self._last = current
            self._send({"event": "stats", "pid": os.getpid(), **current})

    def stop(self) -> None:
        """Send the final counters."""
        self.report()
        self._running = False


if __name__ == "__main__":
    from ciweb.cmd.api import worker_main

    sys.exit(worker_main(sys.argv[1:]))
