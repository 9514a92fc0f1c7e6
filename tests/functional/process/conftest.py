"""Run ``ciweb-api`` as a real process tree on 127.0.0.1:0 and talk to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DEADLINE = 20.0
LISTENING = re.compile(r"ciweb-api listening on https?://127\.0\.0\.1:(\d+) \(pid (\d+)\)")
MONITOR = re.compile(r"monitor listening on 127\.0\.0\.1:(\d+)")


def wait_for(predicate: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Return the first truthy value of *predicate*, polled until *deadline* seconds pass."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline} s waiting for {what}")


def paste_ini(greeting: str, startup_delay: float = 0.0) -> str:
    """Return a paste ini serving the test application with *greeting*."""
    return textwrap.dedent(f"""\
        [app:main]
        use = call:tests.functional.process.app:app_factory
        greeting = {greeting}
        startup_delay = {startup_delay}
        """)


class Api:
    """A ``ciweb-api`` process tree with its files in *directory*."""

    def __init__(self, directory: Path, **process: object) -> None:
        self.dir = directory
        self.paste = directory / "api-paste.ini"
        self.conf = directory / "ciweb.conf"
        self.log = directory / "api.log"
        self.pid_file = directory / "ciweb-api.pid"
        self.paste.write_text(paste_ini("hello"))
        self.write_conf(**process)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.monitor_port = 0

    def write_conf(self, **process: object) -> None:
        """Write ciweb.conf with these ``[process]`` options (and port 0, short drains)."""
        lines = [
            "[api]",
            f"paste_config = {self.paste}",
            "[server]",
            "bind_port = 0",
            "graceful_shutdown_timeout = 5",
            "[process]",
            "monitor_address = 127.0.0.1:0",
            f"pid_file = {self.pid_file}",
        ]
        lines += [f"{key} = {value}" for key, value in process.items()]
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, *, expect_listening: bool = True) -> Api:
        """Start the process; wait for its "listening" line."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ciweb.cmd.api", "--config-file", str(self.conf)],
                stdout=log,
                stderr=log,
                env=env,
                cwd=REPO,
            )
        if expect_listening:
            match = wait_for(lambda: LISTENING.search(self.text()), "the listening line")
            self.port = int(match.group(1))
            assert int(match.group(2)) == self.proc.pid
            self.monitor_port = int(MONITOR.search(self.text()).group(1))  # type: ignore[union-attr]
        return self

    def text(self) -> str:
        """Return the log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def get(self, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
        """GET *path* on a new connection; return (status, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def monitor(self, line: str) -> str:
        """Send one monitor command; return the whole answer."""
        with socket.create_connection(("127.0.0.1", self.monitor_port), timeout=10) as sock:
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, Any]:
        """Return the monitor's ``stats``."""
        result: dict[str, Any] = json.loads(self.monitor("stats"))
        return result

    def ready_pids(self) -> set[int]:
        """Return the pids of the ready, non-retiring workers."""
        return {w["pid"] for w in self.stats()["workers"] if w["state"] == "ready"}

    def signal(self, sig: signal.Signals) -> None:
        """Send *sig* to the parent."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int:
        """SIGTERM the parent and return its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Return a factory of ``Api`` processes; every one is stopped afterwards."""
    made: list[Api] = []

    def make(name: str = "api", **process: object) -> Api:
        directory = tmp_path / name
        directory.mkdir()
        instance = Api(directory, **process)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        if instance.proc is not None and instance.proc.poll() is None:
            instance.stop()
