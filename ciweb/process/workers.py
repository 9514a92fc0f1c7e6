"""Worker processes under a supervising parent: spawn, respawn, recycle, reload, resize.

Design (see the README's "Workers" section):

* The parent is **not** monkey-patched and runs no eventlet hub.  It owns the listening
  sockets and starts each worker with fork+exec of a fresh interpreter
  (``python -m ciweb.process.worker``), which monkey-patches before it loads the pipeline;
  the listening socket and a status pipe are inherited through ``pass_fds``.
* Balancing: with ``reuse_port`` (the default) the parent opens one SO_REUSEPORT socket per
  worker *slot*, all on the same port, and the kernel spreads new connections over them.
  The parent keeps every slot socket open for its whole life, so the accept queue of a slot
  survives its worker: a replacement (reload, recycling, respawn) inherits the same socket
  and accepts what queued meanwhile; nothing is refused, nothing queued is lost.
  Without ``reuse_port`` every slot shares one socket.
* Workers report over their pipe, one JSON object per line (:mod:`ciweb.process.worker`):
  ``{"event": "ready"}`` once they listen, then ``{"event": "stats", ...}`` whenever their
  counters change.
* Retiring a worker while its slot goes on being served (a reload, a recycling, SIGTTOU)
  sends it SIGUSR2, "hand over": it stops accepting and leaves each idle keep-alive
  connection to its next request, answered with ``Connection: close``, or to its keep-alive
  timeout, so that no client sending or waiting sees its connection cut.  Stopping sends
  SIGTERM: idle connections are closed at once.
* One reload at a time: a SIGHUP during a reload is queued and runs once it ends (once,
  however many arrived); SIGTTIN and SIGTTOU during a reload are applied once it ends.  A
  reload keeps the number of workers SIGTTIN/SIGTTOU set, unless ``[process] workers``
  changed in the configuration.
* All supervision runs in the main thread, from the bus's ``main`` channel (every 0.1 s) and
  the signal-driven channels; no thread touches the worker table except under ``_lock``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ciweb.conf import ConfigError
from ciweb.process.bus import Bus
from ciweb.process.plugins import SimplePlugin
from ciweb.process.worker import Backoff, Settings, WorkerProcess, request_limit

__all__ = ["Settings", "Supervisor"]

LOG = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "ciweb.process.worker")
# A worker that dies younger than this counts as a crash loop for the backoff.
STABLE_AFTER = 10.0
# Extra seconds a draining worker gets past graceful_timeout before SIGKILL.
KILL_MARGIN = 5.0


class Supervisor(SimplePlugin):
    """Run :attr:`Settings.workers` worker processes and keep them running.

    :param bus: the process bus.
    :param settings: the checked settings.
    :param prepare: re-reads and checks the configuration for a reload; returns new
        settings or raises :class:`~ciweb.conf.ConfigError`.
    :param listen: ``listen(host, port, backlog=, reuse_port=)`` returning a listening socket.
    :param worker_command: the command prefix that starts a worker.
    """

    channels = ("start", "stop", "graceful", "main", "add_worker", "remove_worker")
    priorities = {"start": 50, "stop": 50}

    def __init__(
        self,
        bus: Bus,
        settings: Settings,
        *,
        prepare: Callable[[], Settings],
        listen: Callable[..., socket.socket],
        worker_command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        super().__init__(bus)
        if settings.workers < 1:
            raise ValueError("Supervisor: settings.workers must be >= 1")
        self.settings = settings
        self.prepare = prepare
        self.listen = listen
        self.worker_command = tuple(worker_command)
        self.wanted = settings.workers
        self.workers: list[WorkerProcess] = []
        self.retired_requests = 0
        self._sockets: list[socket.socket] = []
        self._address: tuple[str, int] | None = None
        self._respawns: dict[int, float] = {}  # slot -> monotonic time due
        self._backoff: dict[int, Backoff] = {}
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self._lock = threading.RLock()
        self._stopping = False
        self._previous: Settings | None = None
        self._previous_wanted = self.wanted
        self._reload_queued = False
        self._resize_queued = 0  # SIGTTIN (+1) and SIGTTOU (-1) received during a reload

    # -- sockets -----------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """Return the bound ``(host, port)``, with the real port when 0 was asked."""
        if self._address is None:
            raise RuntimeError("the supervisor has not bound its socket yet")
        return self._address

    @property
    def url(self) -> str:
        """Return ``http://host:port`` (or ``https://``) of the listening sockets."""
        host, port = self.address
        scheme = "https" if self.settings.tls else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    def _open_slot_socket(self) -> socket.socket:
        if self._sockets and not self.settings.reuse_port:
            return self._sockets[0]
        host, port = self.settings.host, self.settings.port
        if self._address is not None:
            port = self._address[1]  # every slot on the port the first one got
        sock = self.listen(
            host, port, backlog=self.settings.backlog, reuse_port=self.settings.reuse_port
        )
        if self._address is None:
            name = sock.getsockname()
            self._address = (name[0], name[1])
        return sock

    def _close_slot_socket(self, slot: int) -> None:
        sock = self._sockets.pop(slot)
        if sock not in self._sockets:
            sock.close()

    # -- spawning ----------------------------------------------------------------------------

    def _spawn(self, slot: int, **flags: Any) -> WorkerProcess:
        sock = self._sockets[slot]
        read_fd, write_fd = os.pipe()
        argv = [
            *self.worker_command,
            "--slot", str(slot),
            "--listen-fd", str(sock.fileno()),
            "--status-fd", str(write_fd),
            "--",
            *self.settings.conf_args,
        ]  # fmt: skip
        try:
            proc = subprocess.Popen(argv, pass_fds=(sock.fileno(), write_fd))  # noqa: S603
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        limit = request_limit(
            self.settings.max_requests, self.settings.max_requests_jitter, self._rng
        )
        worker = WorkerProcess(slot=slot, proc=proc, status=read_fd, limit=limit, **flags)
        with self._lock:
            self.workers.append(worker)
        LOG.info("started worker pid %d for slot %d", worker.pid, slot)
        return worker

    def _retire(self, worker: WorkerProcess, *, hand_over: bool = True) -> None:
        """Make *worker* drain and exit: SIGUSR2 while its slot is served on, else SIGTERM."""
        if worker.retiring is None:
            worker.retiring = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGUSR2 if hand_over else signal.SIGTERM)

    # -- the bus ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the slot sockets, start the workers and wait until all are ready.

        :raises ConfigError: when binding fails.
        :raises RuntimeError: when a worker exits or times out before it is ready.
        """
        for _slot in range(self.wanted):
            self._sockets.append(self._open_slot_socket())
        started = [self._spawn(slot) for slot in range(self.wanted)]
        deadline = time.monotonic() + self.settings.start_timeout
        while not all(w.ready for w in started):
            self._read_status(0.05)
            for worker in started:
                code = worker.proc.poll()
                if code is not None:
                    raise RuntimeError(
                        f"worker pid {worker.pid} exited with status {code} before it was ready"
                    )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"workers not ready within {self.settings.start_timeout:.0f} s "
                    "([process] worker_start_timeout)"
                )

    def stop(self) -> None:
        """Close the listening sockets, drain every worker, and wait until all have exited."""
        self._stopping = True
        while self._sockets:
            self._close_slot_socket(len(self._sockets) - 1)
        for worker in list(self.workers):
            self._retire(worker, hand_over=False)
        deadline = time.monotonic() + self.settings.graceful_timeout + KILL_MARGIN
        while self.workers:
            self._read_status(0.05)
            self._reap()
            if time.monotonic() > deadline:
                for worker in self.workers:
                    LOG.warning("worker pid %d still running: killing it", worker.pid)
                    with contextlib.suppress(ProcessLookupError):
                        worker.proc.kill()
                deadline = float("inf")
        LOG.info("all workers exited")

    def main(self) -> None:
        """Supervise: read reports, reap, respawn, recycle, finish reloads (every interval)."""
        if self._stopping:
            return
        self._read_status(0)
        self._reap()
        now = time.monotonic()
        reloading = self.reloading
        for worker in list(self.workers):
            self._check_worker(worker, now, recycle=not reloading)
        for slot, due in list(self._respawns.items()):
            if due <= now:
                del self._respawns[slot]
                if slot < len(self._sockets):
                    self._spawn(slot)
        self._finish_reload()

    def _check_worker(self, worker: WorkerProcess, now: float, *, recycle: bool) -> None:
        if worker.retiring is not None:
            if now - worker.retiring > self.settings.graceful_timeout + KILL_MARGIN:
                LOG.warning("worker pid %d did not drain in time: killing it", worker.pid)
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
            return
        if not worker.ready and now - worker.started > self.settings.start_timeout:
            LOG.error("worker pid %d not ready after %.0f s: killing it", worker.pid,
                      now - worker.started)  # fmt: skip
            with contextlib.suppress(ProcessLookupError):
                worker.proc.kill()
            return
        if worker.ready and worker.replaces is not None:
            old, worker.replaces = worker.replaces, None
            LOG.info("worker pid %d ready: draining worker pid %d", worker.pid, old.pid)
            self._retire(old)
        if (
            recycle  # a reload replaces every worker anyway
            and worker.ready
            and worker.limit is not None
            and worker.requests >= worker.limit
            and not any(w.replaces is worker for w in self.workers)
        ):
            LOG.info("recycling worker pid %d after %d requests (max_requests %d)",
                     worker.pid, worker.requests, worker.limit)  # fmt: skip
            worker.limit = None
            self._spawn(worker.slot, replaces=worker)

    def _reap(self) -> None:
        for worker in list(self.workers):
            code = worker.proc.poll()
            if code is None:
                continue
            self._read_one(worker)
            os.close(worker.status)
            with self._lock:
                self.workers.remove(worker)
                self.retired_requests += worker.requests
            self._after_exit(worker, code)

    def _after_exit(self, worker: WorkerProcess, code: int) -> None:
        lifetime = time.monotonic() - worker.started
        if worker.retiring is not None or self._stopping:
            LOG.info("worker pid %d exited (status %d) after draining", worker.pid, code)
            return
        if worker.reload:
            LOG.error("reload aborted: new worker pid %d exited with status %d before it "
                      "was ready; the old workers keep serving", worker.pid, code)  # fmt: skip
            self._abort_reload()
            return
        for other in self.workers:
            if other.replaces is worker:
                other.replaces = None  # the replacement simply takes over the slot
        if worker.replaces is not None:
            # A replacement died: the old worker keeps serving and is recycled again later.
            worker.replaces.limit = worker.limit
        if worker.slot >= len(self._sockets) or self._slot_served(worker.slot):
            LOG.warning("worker pid %d exited with status %d", worker.pid, code)
            return
        backoff = self._backoff.setdefault(
            worker.slot, Backoff(0.1, self.settings.respawn_max_delay, STABLE_AFTER)
        )
        delay = backoff.next_delay(lifetime)
        LOG.error("worker pid %d (slot %d) died with status %d after %.1f s; respawning "
                  "in %.1f s", worker.pid, worker.slot, code, lifetime, delay)  # fmt: skip
        self._respawns[worker.slot] = time.monotonic() + delay

    def _slot_served(self, slot: int) -> bool:
        return any(w.slot == slot and w.retiring is None for w in self.workers)

    # -- reports -------------------------------------------------------------------------------

    def _read_status(self, timeout: float) -> None:
        fds = {w.status: w for w in self.workers}
        if not fds:
            if timeout:
                time.sleep(timeout)
            return
        readable, _, _ = select.select(list(fds), [], [], timeout)
        for fd in readable:
            self._read_one(fds[fd])

    def _read_one(self, worker: WorkerProcess) -> None:
        for report in worker.read_reports():
            if report.get("event") == "ready" and not worker.ready:
                worker.ready = True
                LOG.info("worker pid %d (slot %d) is ready", worker.pid, worker.slot)
            elif report.get("event") == "stats":
                with self._lock:
                    worker.stats = report

    # -- reload and resize ---------------------------------------------------------------

    @property
    def reloading(self) -> bool:
        """Return whether a reload is in progress (its new workers are not all ready)."""
        return any(w.reload for w in self.workers)

    def graceful(self) -> None:
        """Re-read the configuration and replace every worker, without dropping a request.

        The new configuration is checked here first; a broken one is refused with a log
        line and the old workers keep serving.  New workers start on the same sockets; the
        old ones hand over once *all* new ones are ready.  During a reload, another one is
        queued (once) and runs when this one ends.
        """
        if self._stopping:
            return
        if self.reloading:
            if not self._reload_queued:
                LOG.info("reload in progress: SIGHUP queued, to run once it ends")
            self._reload_queued = True
            return
        try:
            settings = self.prepare()
        except (ConfigError, ValueError) as exc:
            LOG.error("reload refused, the old workers keep serving: %s", exc)
            return
        kept = ("host", "port", "backlog", "reuse_port")
        changed = [k for k in kept if getattr(settings, k) != getattr(self.settings, k)]
        if changed:
            LOG.warning("reload: %s changes need a restart; keeping the current sockets",
                        ", ".join(changed))  # fmt: skip
        self._previous = self.settings
        self._previous_wanted = self.wanted
        if settings.workers != self.settings.workers:
            self.wanted = settings.workers  # else the count SIGTTIN/SIGTTOU set holds
        self.settings = Settings(
            **{**settings.__dict__, **{k: getattr(self.settings, k) for k in kept}}
        )
        while len(self._sockets) < self.wanted:
            self._sockets.append(self._open_slot_socket())
        LOG.info("reload: starting %d new worker(s)", self.wanted)
        for slot in range(self.wanted):
            self._spawn(slot, reload=True)

    def _finish_reload(self) -> None:
        new = [w for w in self.workers if w.reload]
        if not new or not all(w.ready for w in new):
            return
        old = [w for w in self.workers if not w.reload and w.retiring is None]
        for worker in new:
            worker.reload = False
        self._previous = None
        for worker in old:
            self._retire(worker)
        self._respawns.clear()
        while len(self._sockets) > self.wanted:
            self._close_slot_socket(len(self._sockets) - 1)
        LOG.info("reload complete: %d new worker(s), %d draining", len(new), len(old))
        self._after_reload()

    def _abort_reload(self) -> None:
        for worker in self.workers:
            if worker.reload:
                worker.reload = False
                self._retire(worker)
        if self._previous is not None:
            self.settings, self._previous = self._previous, None
            self.wanted = self._previous_wanted
        while len(self._sockets) > self.wanted:
            self._close_slot_socket(len(self._sockets) - 1)
        self._after_reload()

    def _after_reload(self) -> None:
        """Apply what arrived during the reload: SIGTTIN/SIGTTOU, then a queued SIGHUP."""
        resize, self._resize_queued = self._resize_queued, 0
        for _ in range(resize):
            self.add_worker()
        for _ in range(-resize):
            self.remove_worker()
        if self._reload_queued:
            self._reload_queued = False
            LOG.info("running the reload queued during the last one")
            self.graceful()

    def add_worker(self) -> None:
        """Start one more worker (SIGTTIN); during a reload, once it ends."""
        if self._stopping:
            return
        if self.reloading:
            self._resize_queued += 1
            LOG.info("reload in progress: %d worker(s) wanted once it ends",
                     self.wanted + self._resize_queued)  # fmt: skip
            return
        self._sockets.append(self._open_slot_socket())
        self.wanted += 1
        self._spawn(len(self._sockets) - 1)
        LOG.info("workers: %d wanted", self.wanted)

    def remove_worker(self) -> None:
        """Drain the worker of the last slot and close its socket (SIGTTOU); keep one.

        During a reload, once it ends.
        """
        if self._stopping:
            return
        if self.wanted + self._resize_queued <= 1:
            LOG.warning("workers: keeping the last worker (SIGTTOU ignored)")
            return
        if self.reloading:
            self._resize_queued -= 1
            LOG.info("reload in progress: %d worker(s) wanted once it ends",
                     self.wanted + self._resize_queued)  # fmt: skip
            return
        self.wanted -= 1
        slot = len(self._sockets) - 1
        self._respawns.pop(slot, None)
        for worker in self.workers:
            if worker.slot == slot:
                self._retire(worker)
        self._close_slot_socket(slot)
        LOG.info("workers: %d wanted", self.wanted)

    # -- monitor ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return the totals and one entry per worker process, for the monitor."""
        with self._lock:
            workers = [w.describe() for w in self.workers]
            retired = self.retired_requests
        return {
            "workers_wanted": self.wanted,
            "requests": retired + sum(w["requests"] for w in workers),
            "in_flight": sum(w["in_flight"] for w in workers),
            "pool_free": sum(w["pool_free"] for w in workers if w["state"] == "ready"),
            "workers": workers,
        }

    def health(self) -> dict[str, Any]:
        """Return ``status`` ``ok`` when every wanted worker is ready, else ``degraded``."""
        with self._lock:
            ready = sum(1 for w in self.workers if w.ready and w.retiring is None)
        status = "ok" if ready >= self.wanted else "degraded"
        return {"status": status, "workers_ready": ready, "workers_wanted": self.wanted}
