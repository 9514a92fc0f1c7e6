"""Requests per second of ciweb-api with 1 and 2 workers, and both balancing schemes.

Runs, in one go on this machine, for each path: workers=1, then workers=2 with one
SO_REUSEPORT socket per worker (``reuse_port = true``, the default), then workers=2
sharing one socket, each serving the real shipped pipeline (``etc/api-paste.ini``) over the
demo tenant with ``access_log`` off, and reports the ratios against workers=1.  The load
generator is wrk (``apt-get install -y wrk``) when installed, else a Python loop in separate
processes.

    .venv/bin/python bench/workers.py [--seconds 10] [--connections 32] [--path P ...]

The default paths are the dashboard's builds page, whose cost is the server's, and
``/api/info`` (answered from the cache filter), whose cost is mostly the load generator's:
wrk runs on the same cores, so each line also gives the CPU seconds per second that the
server processes and the load generator used, to show where the cores went.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import log_config  # bench/ is not a package

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"ciweb-api listening on http://127\.0\.0\.1:(\d+)")
PATHS = ("/api/tenant/example-tenant/builds?limit=20", "/api/info")


def _start(directory: Path, workers: int, reuse_port: bool) -> tuple[subprocess.Popen[bytes], int]:
    conf = directory / f"ciweb-{workers}-{reuse_port}.conf"
    conf.write_text(
        f"[api]\npaste_config = {REPO / 'etc' / 'api-paste.ini'}\n"
        "[server]\nbind_port = 0\naccess_log = false\n"
        f"[process]\nworkers = {workers}\nreuse_port = {str(reuse_port).lower()}\n"
        f"log_config_file = {log_config(directory)}\n"
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


def _wrk(port: int, path: str, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def _py_client(port: int, path: str, seconds: float, counter: Any) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    end = time.monotonic() + seconds
    done = 0
    while time.monotonic() < end:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        done += 1
    with counter.get_lock():
        counter.value += done


def _python_load(port: int, path: str, seconds: int, connections: int) -> float:
    counter = multiprocessing.Value("q", 0)
    procs = [
        multiprocessing.Process(target=_py_client, args=(port, path, seconds, counter))
        for _ in range(min(connections, 4))
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return float(counter.value) / seconds


def _tree_cpu(pid: int) -> float:
    """Return the CPU seconds used so far by *pid* and its children (Linux /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(_tree_cpu(int(child)) for child in children)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(
    directory: Path, workers: int, reuse_port: bool, path: str, seconds: int, conns: int
) -> dict[str, float]:
    """Return requests/s of one configuration, and the CPU seconds per second used."""
    proc, port = _start(directory, workers, reuse_port)
    try:
        load = _wrk if shutil.which("wrk") else _python_load
        load(port, path, 2, conns)  # warm-up: first requests, caches, green pools
        server, generator = _tree_cpu(proc.pid), _children_cpu()
        rps = load(port, path, seconds, conns)
        server, generator = _tree_cpu(proc.pid) - server, _children_cpu() - generator
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return {
        "rps": round(rps),
        "server_cpu": round(server / seconds, 2),
        "generator_cpu": round(generator / seconds, 2),
    }


def main() -> None:
    """Run the three configurations per path and print one JSON line per path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--path", action="append", help=f"path to load, repeatable (default {' '.join(PATHS)})"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ciweb-bench-") as tmp:
        directory = Path(tmp)
        db_conf = directory / "db.conf"
        db_conf.write_text(f"[database]\nconnection = sqlite:///{directory / 'bench.db'}\n")
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run(
                [sys.executable, "-m", "ciweb.cmd.manage", "--config-file", str(db_conf),
                 *command],
                cwd=REPO, check=True, capture_output=True,
            )  # fmt: skip
        for path in args.path or PATHS:
            one, reuse, shared = (
                measure(directory, workers, reuse_port, path, args.seconds, args.connections)
                for workers, reuse_port in ((1, True), (2, True), (2, False))
            )
            result = {
                "generator": "wrk -t1" if shutil.which("wrk") else "python",
                "cpus": os.cpu_count(),
                "path": path,
                "workers1": one,
                "workers2_reuse_port": reuse,
                "workers2_shared_socket": shared,
                "ratio_reuse_port": round(reuse["rps"] / one["rps"], 2),
                "ratio_shared_socket": round(shared["rps"] / one["rps"], 2),
            }
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
