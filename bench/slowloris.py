"""Fresh clients' wait during a slow-head attack (slowloris) on a full pool.

One ``ciweb-api`` worker with ``pool_size = 1000`` serves the tests' tiny application.
Fresh clients (connect, GET, whole answer; one after another, every 20 ms) are timed first
without an attack (the baseline, same run), then while an attacker in another process holds
1,200 connections that each send one byte of a request head per second and reconnect when
closed, as slowloris does.  Target: fresh clients' p99 under 1 s during the attack (before
pool admission, 11 to 19 s: they waited for slow heads' 10 s deadline).

    .venv/bin/python bench/slowloris.py [--quick] [--duration 20] [--attackers 1200]

Prints one JSON line; exits 1 when the target is missed.  The machine may be shared: the
attacker, the clients and the server share its cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from apiproc import REPO, Api, percentile

sys.path.insert(0, str(REPO))
from tests.functional.wsgi.slowloris import SlowHeads, fresh_request


def _attack(port: int, count: int, ready: Any, done: Any, report: Any) -> None:
    with SlowHeads(port, count=count, interval=1.0) as attack:
        deadline = time.monotonic() + 60
        while attack.open < count and time.monotonic() < deadline:
            time.sleep(0.1)
        ready.set()
        done.wait()
        report.put({"connects": attack.connects, "answers": attack.answers})


def fresh_clients(port: int, seconds: float) -> list[float]:
    """Time fresh clients one after another for *seconds*; return their waits."""
    waits = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        waits.append(fresh_request(port, timeout=60))
        time.sleep(0.02)
    return waits


def _summary(waits: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(waits, 0.5) * 1000, 1),
        "p99_ms": round(percentile(waits, 0.99) * 1000, 1),
        "max_ms": round(max(waits) * 1000, 1),
        "n": len(waits),
    }


def main() -> int:
    """Measure without and with the attack; print the figures; 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each phase")
    parser.add_argument("--attackers", type=int, default=1200)
    parser.add_argument("--pool-size", type=int, default=1000)
    parser.add_argument("--backlog", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="5 s phases, 300 attackers, pool 250")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.attackers, args.pool_size = 5.0, 300, 250
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.attackers)), hard))
    server = {"pool_size": args.pool_size, "backlog": args.backlog, "header_timeout": 10}
    with (
        tempfile.TemporaryDirectory(prefix="ciweb-bench-") as tmp,
        Api(Path(tmp), "slowloris", server=server, process={"workers": 1}) as api,
    ):
        fresh_clients(api.port, 1.0)  # warm-up
        baseline = fresh_clients(api.port, args.duration)
        ready, done, report = (
            multiprocessing.Event(),
            multiprocessing.Event(),
            multiprocessing.Queue(),
        )
        attacker = multiprocessing.Process(
            target=_attack, args=(api.port, args.attackers, ready, done, report)
        )
        attacker.start()
        try:
            if not ready.wait(90):
                raise SystemExit("the attacker could not open its connections")
            attacked = fresh_clients(api.port, args.duration)
        finally:
            done.set()
            stats = report.get(timeout=60)
            attacker.join(timeout=60)
    result = {
        "attackers": args.attackers,
        "pool_size": args.pool_size,
        "baseline": _summary(baseline),
        "attacked": _summary(attacked),
        "ratio_p99": round(percentile(attacked, 0.99) / percentile(baseline, 0.99), 1),
        "attacker_connects": stats["connects"],
        "attacker_answers": {k.decode(): v for k, v in stats["answers"].items()},
    }
    result["ok"] = percentile(attacked, 0.99) < 1.0
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
