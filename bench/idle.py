"""A full pool of idle keep-alive connections: what a new client waits, what others lose, RSS.

Two measurements on one ``ciweb-api`` worker serving the tests' tiny application:

1. Admission: with ``pool_size = 1000``, the wait of a new client (connect, GET, whole
   answer) on an empty pool (the baseline, same run), then with 1,000 idle keep-alive
   connections filling the pool.  Each new client stays connected, so each one needs a slot
   of its own; after each, the bench counts the idle connections the server closed.
   Targets: a new client waits under 10 ms (median) and each closes at most 2 others.
2. Memory: with ``pool_size = 6000``, the worker's RSS before and after 5,000 idle
   keep-alive connections; target at most 27 KiB each (the figure before this change).

    .venv/bin/python bench/idle.py [--quick] [--idle 1000] [--memory-idle 5000]

Prints one JSON line per measurement; exits 1 when a target is missed.  The machine may be
shared: the ratio to the same-run baseline is the figure to compare.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import select
import socket
import sys
import tempfile
import time
from pathlib import Path

from apiproc import Api, percentile, rss_kib

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


def _answered(sock: socket.socket) -> bool:
    """Read one response framed by Content-Length; return whether it is a 200."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200 ")


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Return *count* connections that each made one request and now idle (keep-alive)."""
    idle: list[socket.socket] = []
    for start in range(0, count, 200):
        size = min(200, count - start)
        batch = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(size)]
        for sock in batch:
            sock.sendall(REQUEST)
        for sock in batch:
            if not _answered(sock):
                raise SystemExit("an idle connection got no answer")
        idle += batch
    return idle


def new_client(port: int) -> tuple[float, socket.socket]:
    """Connect, send a GET, read its answer; return the seconds and the open connection."""
    started = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(REQUEST)
    if not _answered(sock):
        raise SystemExit("a new client got no answer")
    return time.perf_counter() - started, sock


def closed_count(socks: list[socket.socket]) -> int:
    """Return how many of *socks* the server closed (readable with nothing to read)."""
    closed = 0
    for start in range(0, len(socks), 500):
        batch = socks[start : start + 500]
        readable, _, _ = select.select(batch, [], [], 0)
        closed += sum(1 for sock in readable if sock.recv(1) == b"")
    return closed


def admission(directory: Path, idle_count: int, rounds: int) -> dict[str, object]:
    """Measure a new client's wait on an empty pool, then on a pool full of idle ones."""
    with Api(
        directory,
        "admission",
        server={"pool_size": idle_count, "keepalive_timeout": 600},
        process={"workers": 1},
    ) as api:
        baseline, kept = [], []
        for _ in range(rounds):
            seconds, sock = new_client(api.port)
            baseline.append(seconds)
            kept.append(sock)
        for sock in kept:
            sock.close()
        time.sleep(0.5)  # the server notices the closes
        idle = open_idle(api.port, idle_count)
        full, closed = [], []
        for _ in range(rounds):
            seconds, sock = new_client(api.port)
            full.append(seconds)
            kept.append(sock)
            closed.append(closed_count(idle))
        for sock in idle + kept:
            sock.close()
    per_client = [b - a for a, b in zip([0, *closed], closed, strict=False)]
    result: dict[str, object] = {
        "measure": "admission",
        "idle": idle_count,
        "pool_size": idle_count,
        "empty_pool_p50_ms": round(percentile(baseline, 0.5) * 1000, 2),
        "full_pool_p50_ms": round(percentile(full, 0.5) * 1000, 2),
        "full_pool_max_ms": round(max(full) * 1000, 2),
        "ratio_p50": round(percentile(full, 0.5) / percentile(baseline, 0.5), 2),
        "idle_closed_per_new_client_max": max(per_client),
        "idle_closed_total": closed[-1],
        "new_clients": rounds,
    }
    # closed[-1] > 0 shows the pool was full: room was made.
    result["ok"] = percentile(full, 0.5) < 0.010 and max(per_client) <= 2 and closed[-1] > 0
    return result


def memory(directory: Path, idle_count: int) -> dict[str, object]:
    """Measure the worker's RSS per idle keep-alive connection."""
    with Api(
        directory,
        "memory",
        server={"pool_size": idle_count + 1000, "keepalive_timeout": 600},
        process={"workers": 1},
    ) as api:
        (worker,) = api.workers()
        warm = open_idle(api.port, 200)  # first requests: imports, caches, buffers
        for sock in warm:
            sock.close()
        time.sleep(1.0)
        before = rss_kib(worker)
        idle = open_idle(api.port, idle_count)
        time.sleep(1.0)
        after = rss_kib(worker)
        for sock in idle:
            sock.close()
    per_connection = (after - before) / idle_count
    return {
        "measure": "memory",
        "idle": idle_count,
        "rss_before_mib": round(before / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_idle_connection": round(per_connection, 1),
        "ok": per_connection <= 27,
    }


def main() -> int:
    """Run both measurements; return 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1000, help="idle connections (admission)")
    parser.add_argument("--memory-idle", type=int, default=5000, help="idle connections (RSS)")
    parser.add_argument("--rounds", type=int, default=20, help="new clients measured")
    parser.add_argument("--quick", action="store_true", help="fewer connections and rounds")
    args = parser.parse_args()
    if args.quick:
        args.idle, args.memory_idle, args.rounds = 300, 1000, 10
    _raise_fd_limit(args.memory_idle + args.idle + 2000)
    ok = True
    with tempfile.TemporaryDirectory(prefix="ciweb-bench-") as tmp:
        for result in (
            admission(Path(tmp), args.idle, args.rounds),
            memory(Path(tmp), args.memory_idle),
        ):
            print(json.dumps(result), flush=True)
            ok = ok and bool(result["ok"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
