"""Requests per second of ciweb-api with 1 and 2 workers, and both balancing schemes.

Runs, in one go on this machine: workers=1, then workers=2 with one SO_REUSEPORT socket
per worker (``reuse_port = true``, the default), then workers=2 sharing one socket, each
serving the real shipped pipeline (``etc/api-paste.ini``, ``GET /api/info``) with
``access_log`` off, and reports the ratios against workers=1.  The load generator is wrk
(``apt-get install -y wrk``) when installed, else a Python loop in separate processes.

    .venv/bin/python bench/workers.py [--seconds 10] [--connections 32] [--path P] [--demo]

With the load generator on the same two cores, a cheap path such as ``/api/info`` leaves
the second worker little CPU to use (wrk takes one core); ``--demo --path
/api/tenant/example-tenant/builds`` measures a path whose cost is the server's.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"ciweb-api listening on http://127\.0\.0\.1:(\d+)")
PATH = "/api/info"  # replaced by --path


def _log_config(directory: Path) -> Path:
    # Warnings only, but the "listening" line that tells the port: per-request access
    # lines would measure the log handler, not the workers.
    path = directory / "logging.ini"
    path.write_text(
        "[loggers]\nkeys = root, api\n[handlers]\nkeys = stderr\n[formatters]\nkeys = plain\n"
        "[logger_root]\nlevel = WARNING\nhandlers = stderr\n"
        "[logger_api]\nlevel = INFO\nhandlers =\nqualname = ciweb.api\n"
        "[handler_stderr]\nclass = StreamHandler\nargs = (sys.stderr,)\nformatter = plain\n"
        "[formatter_plain]\nformat = %(message)s\n"
    )
    return path


def _start(directory: Path, workers: int, reuse_port: bool) -> tuple[subprocess.Popen[bytes], int]:
    conf = directory / f"ciweb-{workers}-{reuse_port}.conf"
    conf.write_text(
        f"[api]\npaste_config = {REPO / 'etc' / 'api-paste.ini'}\n"
        "[server]\nbind_port = 0\naccess_log = false\n"
        f"[process]\nworkers = {workers}\nreuse_port = {str(reuse_port).lower()}\n"
        f"log_config_file = {_log_config(directory)}\n"
        f"[database]\nconnection = sqlite:///{directory / 'bench.db'}\n"
    )
    log = directory / f"{conf.stem}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ciweb.cmd.api", "--config-file", str(conf)],
            stdout=out, stderr=out, cwd=REPO,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = LISTENING.search(log.read_text(errors="replace"))
        if match:
            return proc, int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"ciweb-api did not start:\n{log.read_text()}")


def _wrk(port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def _py_client(port: int, seconds: float, counter: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    end = time.monotonic() + seconds
    done = 0
    while time.monotonic() < end:
        conn.request("GET", PATH)
        response = conn.getresponse()
        response.read()
        done += 1
    with counter.get_lock():
        counter.value += done


def _python_load(port: int, seconds: int, connections: int) -> float:
    counter = multiprocessing.Value("q", 0)
    procs = [
        multiprocessing.Process(target=_py_client, args=(port, seconds, counter))
        for _ in range(min(connections, 4))
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return float(counter.value) / seconds


def measure(directory: Path, workers: int, reuse_port: bool, seconds: int, conns: int) -> float:
    """Return requests/s of one configuration."""
    proc, port = _start(directory, workers, reuse_port)
    try:
        load = _wrk if shutil.which("wrk") else _python_load
        load(port, 2, conns)  # warm-up: first requests, caches, green pools
        return load(port, seconds, conns)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def main() -> None:
    """Run the three configurations and print one JSON line with the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--path", default=PATH, help="path to load (default /api/info)")
    parser.add_argument("--demo", action="store_true", help="load the demo tenant first")
    args = parser.parse_args()
    globals()["PATH"] = args.path
    with tempfile.TemporaryDirectory(prefix="ciweb-bench-") as tmp:
        directory = Path(tmp)
        db_conf = directory / "db.conf"
        db_conf.write_text(f"[database]\nconnection = sqlite:///{directory / 'bench.db'}\n")
        for command in (["db", "upgrade"], ["demo"]) if args.demo else (["db", "upgrade"],):
            subprocess.run(
                [sys.executable, "-m", "ciweb.cmd.manage", "--config-file", str(db_conf),
                 *command],
                cwd=REPO, check=True, capture_output=True,
            )  # fmt: skip
        one = measure(directory, 1, True, args.seconds, args.connections)
        reuse = measure(directory, 2, True, args.seconds, args.connections)
        shared = measure(directory, 2, False, args.seconds, args.connections)
    result = {
        "generator": "wrk -t1" if shutil.which("wrk") else "python",
        "cpus": os.cpu_count(),
        "path": args.path,
        "workers1_rps": round(one),
        "workers2_reuse_port_rps": round(reuse),
        "workers2_shared_socket_rps": round(shared),
        "ratio_reuse_port": round(reuse / one, 2),
        "ratio_shared_socket": round(shared / one, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
