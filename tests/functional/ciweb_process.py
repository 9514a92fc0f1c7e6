"""Run a real ``ciweb-api`` (or another server command) as a child process for tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LISTENING = re.compile(r"ciweb-api listening on (https?://\S+)")


class ServerProcess:
    """A server command whose stderr is collected; :meth:`wait_for` matches a log line.

    :param argv: the command.
    :param env: extra environment variables.
    """

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._collect, daemon=True).start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _collect(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        """Return everything the process printed so far."""
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = 20.0) -> re.Match[str]:
        """Return the first match of *pattern* in the output, waiting up to *timeout*."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    match = pattern.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                assert self.proc is not None
                if left <= 0 or (self.proc.poll() is not None and not self._pending()):
                    raise AssertionError(f"{pattern.pattern!r} not seen; output:\n{self.output}")
                self._changed.wait(min(left, 0.2))

    def _pending(self) -> bool:
        assert self.proc is not None and self.proc.stdout is not None
        return not self.proc.stdout.closed and bool(
            self.proc.stdout.peek(1) if hasattr(self.proc.stdout, "peek") else 0
        )


def ciweb_api(config_file: Path, *args: str) -> ServerProcess:
    """Return (not started) a ``ciweb-api --config-file CONFIG`` process."""
    return ServerProcess([str(BIN / "ciweb-api"), "--config-file", str(config_file), *args])
