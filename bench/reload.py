"""Keep-alive clients across reloads: socket errors and non-2xx answers (target: none).

For each socket scheme (``reuse_port = true``, then ``false``): ``ciweb-api`` with two
workers serving the tests' tiny application, loaded by ``wrk`` with 32 keep-alive
connections, first without a reload (the baseline, same run), then with three SIGHUPs spread
over the run.  Before the hand-over, every reload cut each keep-alive connection of the old
workers (32 read errors per reload).

    .venv/bin/python bench/reload.py [--quick] [--duration 15] [--reloads 3]

Prints one JSON line per scheme; exits 1 when any socket error or non-2xx answer is seen.
The machine may be shared: requests/s are given as a ratio to the same-run baseline.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from apiproc import Api

WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk(port: int, seconds: float, connections: int) -> dict[str, float]:
    """Run wrk; return requests/s, socket errors and non-2xx answers."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    errors = WRK_ERRORS.search(out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    return {
        "rps": float(rps.group(1)),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def reload_during(api: Api, seconds: float, reloads: int) -> list[float]:
    """Send *reloads* SIGHUPs spread over *seconds*; return how long each reload took."""
    took = []
    begin = time.monotonic()
    for number in range(1, reloads + 1):
        time.sleep(max(0.0, begin + number * seconds / (reloads + 1) - time.monotonic()))
        started = time.monotonic()
        api.signal(signal.SIGHUP)
        while api.text().count("reload complete") < number:
            if time.monotonic() - started > 60:
                raise SystemExit(f"reload {number} did not complete:\n{api.text()[-3000:]}")
            time.sleep(0.05)
        took.append(time.monotonic() - started)
    return took


def measure(directory: Path, reuse_port: bool, seconds: float, reloads: int) -> dict[str, object]:
    """Return the baseline and the reloaded run of one socket scheme."""
    name = f"reload-{'reuse-port' if reuse_port else 'shared'}"
    process = {"workers": 2, "reuse_port": str(reuse_port).lower()}
    with Api(directory, name, server={"graceful_shutdown_timeout": 10}, process=process) as api:
        wrk(api.port, 2, 32)  # warm-up
        baseline = wrk(api.port, seconds, 32)
        took: list[float] = []
        signals = threading.Thread(
            target=lambda: took.extend(reload_during(api, seconds, reloads)), daemon=True
        )
        signals.start()
        reloaded = wrk(api.port, seconds, 32)
        signals.join(timeout=120)
    return {
        "reuse_port": reuse_port,
        "reloads": len(took),
        "reload_seconds": [round(t, 2) for t in took],
        "socket_errors": reloaded["socket_errors"],
        "non_2xx": reloaded["non_2xx"],
        "baseline_socket_errors": baseline["socket_errors"],
        "ratio_rps": round(reloaded["rps"] / baseline["rps"], 2),
        "ok": len(took) == reloads and reloaded["socket_errors"] == reloaded["non_2xx"] == 0,
    }


def main() -> int:
    """Measure both socket schemes; return 1 when a reload cost an error."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each wrk run")
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 s runs")
    args = parser.parse_args()
    if args.quick:
        args.duration = 8.0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk (tools/install-system-deps)")
    ok = True
    with tempfile.TemporaryDirectory(prefix="ciweb-bench-") as tmp:
        for reuse_port in (True, False):
            result = measure(Path(tmp), reuse_port, args.duration, args.reloads)
            print(json.dumps(result), flush=True)
            ok = ok and bool(result["ok"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
