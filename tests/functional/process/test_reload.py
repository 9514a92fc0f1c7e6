"""Reloads of a real ``ciweb-api`` under keep-alive load, and signals that arrive during one."""

from __future__ import annotations

import http.client
import json
import signal
import threading
from collections.abc import Callable

import pytest

from tests.functional.process.conftest import Api, paste_ini, wait_for


class KeepAliveLoad:
    """Threads each sending ``GET /`` back to back on one keep-alive connection.

    A thread reconnects only after a response with ``Connection: close``; any exception
    (a connection cut while a request was sent or awaited) and any status but 200 is a
    failure.

    :param port: the server's port.
    :param clients: the number of threads, hence of connections.
    """

    def __init__(self, port: int, clients: int = 8) -> None:
        self.port = port
        self.responses = 0
        self.closes = 0
        self.pids: set[str] = set()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set():
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                body = response.read().decode()
            except (OSError, http.client.HTTPException) as exc:
                with self._lock:
                    self.failures.append(repr(exc))
                conn.close()
                continue
            with self._lock:
                self.responses += 1
                if response.status != 200:
                    self.failures.append(f"status {response.status}: {body}")
                if response.getheader("Connection") == "close":
                    self.closes += 1
                self.pids.add(body.split()[1])
        conn.close()

    def __enter__(self) -> KeepAliveLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def more(self, count: int) -> Callable[[], bool]:
        """Return a predicate: *count* more responses than now have arrived."""
        target = self.responses + count
        return lambda: self.responses >= target


@pytest.mark.slow
@pytest.mark.parametrize("reuse_port", ["true", "false"])
def test_three_reloads_under_keep_alive_load_cut_no_connection(
    api: Callable[..., Api], reuse_port: str
) -> None:
    server = api(workers=2, reuse_port=reuse_port).start()
    with KeepAliveLoad(server.port) as load:
        wait_for(load.more(100), "requests before the reloads")
        for done in range(1, 4):
            server.signal(signal.SIGHUP)
            wait_for(lambda n=done: server.text().count("reload complete") == n, f"reload {done}")
            wait_for(load.more(100), f"requests after reload {done}")
    assert load.failures == []
    # Each reload's old workers answered a request with "Connection: close" (the hand-over),
    # and each generation of workers served (pids of at least two generations).
    assert load.closes >= 3
    assert len(load.pids) >= 4
    assert server.stop() == 0


def test_sighup_and_sigttin_during_a_reload_are_run_after_it(api: Callable[..., Api]) -> None:
    server = api(workers=1).start()
    # Each reload now lasts at least a second: the signals below arrive during the first.
    server.paste.write_text(paste_ini("slow", startup_delay=1.0))
    server.signal(signal.SIGHUP)
    wait_for(lambda: "reload: starting" in server.text(), "the first reload")
    for sig in (signal.SIGHUP, signal.SIGHUP, signal.SIGTTIN):
        server.signal(sig)
    wait_for(lambda: server.text().count("reload complete") == 2, "the queued reload", 40)
    wait_for(lambda: len(server.ready_pids()) == 2, "two workers after the reloads")
    text = server.text()
    assert "reload in progress: SIGHUP queued" in text
    assert "reload in progress: 2 worker(s) wanted once it ends" in text
    # Two SIGHUPs during the first reload make one more reload, not two.
    assert text.count("running the reload queued") == 1
    assert text.count("reload: starting") == 2
    assert json.loads(server.monitor("health")) == {
        "status": "ok",
        "workers_ready": 2,
        "workers_wanted": 2,
    }
    assert server.get("/")[1].startswith("slow ")
    assert server.stop() == 0
