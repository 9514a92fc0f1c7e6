"""The real ``ciweb-api`` command drains on SIGTERM: in-flight requests finish, then it exits 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.apps import REPO
from tests.functional.wsgi.client import Connection, get

CIWEB_API = Path(sys.executable).parent / "ciweb-api"
LISTENING = re.compile(r"ciweb-api listening on http://127\.0\.0\.1:(\d+)")


class ApiProcess:
    """``ciweb-api --config-file`` in a child process, its stderr collected by a thread."""

    def __init__(self, config_file: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [str(CIWEB_API), "--config-file", str(config_file)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def port(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := LISTENING.search(line):
                    return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        pytest.fail("ciweb-api did not log its URL:\n" + "".join(self.lines[-40:]))

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.reader.join(5)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ApiProcess]:
    (tmp_path / "api-paste.ini").write_text(
        "[app:main]\npaste.app_factory = tests.functional.apps:app_factory\n"
    )
    conf = tmp_path / "ciweb.conf"
    conf.write_text(
        "[server]\nbind_port = 0\ngraceful_shutdown_timeout = 10\n"
        "[api]\npaste_config = api-paste.ini\n"
    )
    proc = ApiProcess(conf)
    try:
        yield proc
    finally:
        proc.close()


def test_sigterm_lets_a_slow_request_finish_refuses_new_ones_and_exits_0(
    api: ApiProcess,
) -> None:
    port = api.port()
    with Connection(port, timeout=10) as conn:
        conn.send(get("/slow?seconds=1.5"))
        while b"slow-first|" not in conn.buffer:
            assert conn._fill(time.monotonic() + 5)
        api.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 1.5
        while True:
            try:
                Connection(port, timeout=0.5).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "new connections still accepted"
            time.sleep(0.01)
        response = conn.read_response()
        assert (response.status, response.body) == (200, b"slow-first|slow-last")
    assert api.proc.wait(10) == 0, "".join(api.lines[-40:])
