"""A ``ciweb-api`` process serving the tests' tiny application, for the server benchmarks.

``bench/slowloris.py``, ``bench/idle.py`` and ``bench/reload.py`` measure the server itself
(accepting, pool admission, reloads), so the application is the one of
``tests/functional/process/app.py``: ``GET /`` answers ``hello <pid>`` without a database.
Logs go to a file at WARNING, with the "listening" line that tells the port.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"ciweb-api listening on http://127\.0\.0\.1:(\d+)")

_LOGGING = (
    "[loggers]\nkeys = root, api, workers\n[handlers]\nkeys = file\n[formatters]\nkeys = plain\n"
    "[logger_root]\nlevel = WARNING\nhandlers = file\n"
    "[logger_api]\nlevel = INFO\nhandlers =\nqualname = ciweb.api\n"
    "[logger_workers]\nlevel = INFO\nhandlers =\nqualname = ciweb.process.workers\n"
    "[handler_file]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = plain\n"
    "[formatter_plain]\nformat = %(asctime)s %(process)d %(levelname)s %(name)s %(message)s\n"
)


class Api:
    """``ciweb-api`` with the given ``[server]`` and ``[process]`` options, in *directory*.

    :param directory: where the configuration and the log go.
    :param name: a name for the files of this instance.
    :param server: ``[server]`` options.
    :param process: ``[process]`` options.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        server: dict[str, object] | None = None,
        process: dict[str, object] | None = None,
    ) -> None:
        self.log = directory / f"{name}.log"
        paste = directory / f"{name}-paste.ini"
        paste.write_text("[app:main]\nuse = call:tests.functional.process.app:app_factory\n")
        logging_ini = directory / f"{name}-logging.ini"
        logging_ini.write_text(_LOGGING)
        options = {"bind_port": 0, "access_log": "false", **(server or {})}
        lines = ["[api]", f"paste_config = {paste}", "[server]"]
        lines += [f"{key} = {value}" for key, value in options.items()]
        lines += ["[process]", f"log_config_file = {logging_ini}"]
        lines += [f"{key} = {value}" for key, value in (process or {}).items()]
        self.conf = directory / f"{name}.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 60.0) -> Api:
        """Start it and wait for its port."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ciweb.cmd.api", "--config-file", str(self.conf)],
                stdout=out, stderr=out, cwd=REPO, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.text())
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"ciweb-api did not start:\n{self.text()}")

    def text(self) -> str:
        """Return the log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        """Send *sig* to the parent."""
        if self.proc is not None:
            self.proc.send_signal(sig)

    def workers(self) -> list[int]:
        """Return the pids of the parent's children (the workers)."""
        if self.proc is None:
            return []
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self) -> None:
        """SIGTERM the parent and wait for it (SIGKILL after 60 s)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Api:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kib(pid: int) -> int:
    """Return the resident set size of *pid* in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def percentile(values: list[float], fraction: float) -> float:
    """Return the *fraction* percentile (nearest rank) of *values*."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]
