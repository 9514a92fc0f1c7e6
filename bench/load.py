"""Load benchmark: ciweb's full shipped pipeline against a bare eventlet hello-world.

Both servers run on 127.0.0.1 in this run and are loaded alternately (bare, ciweb, bare,
ciweb, ...) with the same client, so the machine's noise hits both alike; the figure that
matters is the ratio.  The client is wrk when installed (Debian: apt-get install wrk), else a
Python keep-alive load generator in separate processes.

    .venv/bin/python bench/load.py [--duration 5] [--connections 32] [--rounds 3]

Target (issue 2): GET /api/info through the full pipeline at >= 60% of bare eventlet's
requests/s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LISTENING = re.compile(rb"ciweb-api listening on http://127\.0\.0\.1:(\d+)")


@contextmanager
def bare_eventlet() -> Iterator[str]:
    """Run bench/bare_eventlet.py; yield its URL."""
    # Its access lines go to a file, as ciweb-api's do: the same kind of sink for both.
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench/bare_eventlet.py")],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()


@contextmanager
def ciweb(tmp: Path, extra_conf: str = "") -> Iterator[str]:
    """Run ciweb-api with the shipped etc/api-paste.ini; yield the /api/info URL."""
    from ciweb.ci.engine import database_url, make_engine
    from ciweb.ci.store import Store

    state = tmp / "state"
    state.mkdir(exist_ok=True)
    engine = make_engine(database_url("", str(state)))
    Store(engine).upgrade()
    engine.dispose()
    conf = tmp / "ciweb.conf"
    conf.write_text(
        f"[api]\npaste_config = {ROOT / 'etc/api-paste.ini'}\n"
        f"[server]\nbind_port = 0\n[database]\nstate_dir = {state}\n{extra_conf}"
    )
    log = open(tmp / "ciweb-api.log", "w+b")  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(
        [str(BIN / "ciweb-api"), "--config-file", str(conf)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            log.seek(0)
            match = LISTENING.search(log.read())
            if match:
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"ciweb-api did not start:\n{log.read().decode()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{match.group(1).decode()}/api/info"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def run_wrk(url: str, duration: float, connections: int) -> dict[str, float]:
    """Load *url* with wrk; return requests/s and p50/p99 latency in ms."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors or "Socket errors" in out:
        raise RuntimeError(f"errors under load:\n{out}")
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%")}


def _ms(out: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_python_client(url: str, duration: float, connections: int) -> dict[str, float]:
    """Load *url* with bench/pyload.py (keep-alive, separate processes)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench/pyload.py"), url, str(duration), str(connections)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps, p50, p99 = (float(x) for x in out.split())
    return {"rps": rps, "p50": p50, "p99": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = run_wrk if shutil.which("wrk") else run_python_client
    print(
        f"client: {'wrk' if load is run_wrk else 'bench/pyload.py'}, "
        f"{args.connections} connections, {args.duration:g} s x {args.rounds} rounds each"
    )
    results: dict[str, list[dict[str, float]]] = {"bare eventlet": [], "ciweb /api/info": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        bare_eventlet() as bare_url,
        ciweb(Path(tmp)) as ciweb_url,
    ):
        for url in (bare_url, ciweb_url):  # warm up both
            load(url, 1, args.connections)
        for _ in range(args.rounds):
            results["bare eventlet"].append(load(bare_url, args.duration, args.connections))
            results["ciweb /api/info"].append(load(ciweb_url, args.duration, args.connections))
    summary = {}
    for name, runs in results.items():
        summary[name] = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50", "p99")}
        s = summary[name]
        print(f"{name:18s} {s['rps']:9.0f} req/s   p50 {s['p50']:6.2f} ms   p99 {s['p99']:6.2f} ms")
    ratio = summary["ciweb /api/info"]["rps"] / summary["bare eventlet"]["rps"]
    print(f"ratio ciweb / bare eventlet: {ratio:.2f} (target >= 0.60)")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
