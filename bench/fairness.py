"""Fairness benchmark: no request waits behind the database work of others.

Two measurements of ciweb-api with one worker, the shipped pipeline and the demo tenant:

1. **Health checks under load**: wrk keeps 50 connections busy on the dashboard's builds
   page while one client asks ``/healthcheck`` every 10 ms on a connection of its own; its
   p50/p99 latency is what a load balancer sees from a loaded node.  Target: p99 < 20 ms.
2. **Concurrency at a distance**: PostgreSQL behind a TCP proxy that delays every answer by
   25 ms (a database across a network); the builds page is loaded by 1 client, then by 8.
   A worker that waits for the database on its event loop serves them one at a time; one
   that parks the waiting request serves the 8 together.  Target: 8 clients get >= 4x the
   requests/s of one.

The same runs for another checkout with ``--baseline-source DIR`` (e.g. ``git worktree add
/tmp/main main``), for a before/after in one run.  The machine's other load shows in the
absolute figures; compare the two servers of one run.

    .venv/bin/python bench/fairness.py [--duration 8] [--database sqlite|postgresql]
        [--delay-ms 25] [--baseline-source DIR] [--quick]

The exit status is 1 when a target is missed.  PostgreSQL runs in a private cluster
(Debian's postgresql package; tests/functional/postgres_server.py starts it).
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import BUILDS_PAGE, ROOT, Ciweb, load_client, prepare_database

HEALTH_P99_MS = 20.0
CONCURRENCY_GAIN = 4.0


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk from the upstream for *delay* s.

    Each round trip through it takes *delay* longer, as a distant server's would; the order
    of the bytes is kept.

    :param upstream: the (host, port) to forward to.
    :param delay: seconds added to each answer.
    """

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closing = False

    def start(self) -> None:
        """Accept and forward connections in background threads until :meth:`close`."""
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stop accepting (forwarding threads end with their connections)."""
        self.closing = True
        self.listener.close()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
            threading.Thread(target=self._read, args=(server, chunks), daemon=True).start()
            threading.Thread(target=self._deliver, args=(chunks, client), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()

    def _read(self, src: socket.socket, chunks: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while data := src.recv(65536):
                chunks.put((time.monotonic() + self.delay, data))
        except OSError:
            pass
        chunks.put((0.0, b""))

    @staticmethod
    def _deliver(chunks: queue.Queue[tuple[float, bytes]], dst: socket.socket) -> None:
        try:
            while True:
                due, data = chunks.get()
                if not data:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()


def probe_health(port: int, stop: threading.Event, latencies: list[float]) -> None:
    """Ask /healthcheck every 10 ms on one keep-alive connection until *stop* is set."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while not stop.is_set():
        started = time.perf_counter()
        conn.request("GET", "/healthcheck")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"/healthcheck answered {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.01)
    conn.close()


def drain(url: str) -> None:
    """GET *url* once: a server that answers one request at a time answers it only after
    what a load generator left in flight, so that the next measurement starts clean."""
    with urllib.request.urlopen(url, timeout=300) as response:
        response.read()


def health_under_load(server: Ciweb, duration: float, load: object) -> dict[str, float]:
    """Load the builds page with 50 connections; return health check p50/p99 and req/s."""
    load(server.url(BUILDS_PAGE), 1, 50)  # type: ignore[operator]  # warm up
    drain(server.url(BUILDS_PAGE))
    latencies: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe_health, args=(server.port, stop, latencies))
    prober.start()
    try:
        result = load(server.url(BUILDS_PAGE), duration, 50)  # type: ignore[operator]
    finally:
        stop.set()
        prober.join()
    latencies.sort()
    return {
        "builds_rps": result["rps"],
        "health_n": len(latencies),
        "health_p50": latencies[len(latencies) // 2],
        "health_p99": latencies[int(len(latencies) * 0.99)],
        "health_max": latencies[-1],
    }


def concurrency(server: Ciweb, duration: float, load: object) -> dict[str, float]:
    """Return the builds page's req/s with 1 and with 8 connections."""
    url = server.url(BUILDS_PAGE)
    rps = {}
    for clients in (1, 8):
        load(url, 1, clients)  # type: ignore[operator]  # warm up: the pool's connections
        drain(url)
        rps[clients] = load(url, duration, clients)["rps"]  # type: ignore[operator]
    return {"rps_1": rps[1], "rps_8": rps[8], "gain": rps[8] / rps[1]}


def _servers(
    tmp: Path, urls: dict[str, str], args: argparse.Namespace, stack: ExitStack
) -> dict[str, Ciweb]:
    database = f"pool_size = {args.pool_size}\n" if args.pool_size else ""
    servers = {"ciweb": Ciweb(tmp, urls["ciweb"], database=database)}
    baseline = args.baseline_source
    if baseline:
        servers["baseline"] = Ciweb(tmp, urls["baseline"], source=baseline.resolve())
    for server in servers.values():
        stack.callback(server.stop)
        server.start()
    return servers


def _databases(
    tmp: Path, pg: Any, args: argparse.Namespace, *, sqlite: bool, prefix: str = "fair"
) -> dict[str, str]:
    """Return the database URL of each server: ciweb's, and the baseline's own (made by its
    own code, whose schema may be older)."""
    urls = {"ciweb": prepare_database(tmp, "" if sqlite else pg.create_database(prefix))}
    if args.baseline_source:
        connection = "" if sqlite else pg.create_database(f"{prefix}_base")
        urls["baseline"] = prepare_database(
            tmp, connection, source=args.baseline_source.resolve()
        )
    return urls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--delay-ms", type=float, default=25.0)
    parser.add_argument("--baseline-source", type=Path)
    parser.add_argument("--pool-size", type=int, help="[database] pool_size of ciweb")
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    args = parser.parse_args()
    if args.quick:
        args.duration = 3
    client, load = load_client()
    sys.path.insert(0, str(ROOT))
    from tests.functional.postgres_server import PostgresServer

    missed = []
    print(f"client: {client}; one worker; the machine's other load counts: compare servers")
    with tempfile.TemporaryDirectory(prefix="ciweb-fair-") as tmp, ExitStack() as stack:
        pg = stack.enter_context(PostgresServer())
        urls = _databases(Path(tmp), pg, args, sqlite=args.database == "sqlite")
        print(f"\n1. /healthcheck every 10 ms while 50 connections load the builds page "
              f"({args.database})")  # fmt: skip
        for name, server in _servers(Path(tmp), urls, args, stack).items():
            r = health_under_load(server, args.duration, load)
            print(f"  {name:9s} builds {r['builds_rps']:7.0f} req/s   health n={r['health_n']} "
                  f"p50 {r['health_p50']:6.1f} ms  p99 {r['health_p99']:7.1f} ms  "
                  f"max {r['health_max']:7.1f} ms")  # fmt: skip
            server.stop()
            if name == "ciweb" and r["health_p99"] >= HEALTH_P99_MS:
                missed.append(f"health p99 {r['health_p99']:.1f} ms >= {HEALTH_P99_MS}")
        proxy = DelayProxy(("127.0.0.1", pg.port), args.delay_ms / 1000)
        proxy.start()
        stack.callback(proxy.close)
        sub = Path(tmp) / "far"
        sub.mkdir()
        far = {
            name: url.replace(f":{pg.port}/", f":{proxy.port}/")
            for name, url in _databases(sub, pg, args, sqlite=False, prefix="far").items()
        }
        print(f"\n2. builds page, PostgreSQL {args.delay_ms:g} ms away: 1 client, then 8")
        for name, server in _servers(sub, far, args, stack).items():
            r = concurrency(server, args.duration, load)
            print(f"  {name:9s} 1 client {r['rps_1']:6.1f} req/s   8 clients {r['rps_8']:6.1f} "
                  f"req/s   gain {r['gain']:.2f} (target >= {CONCURRENCY_GAIN})")  # fmt: skip
            server.stop()
            if name == "ciweb" and r["gain"] < CONCURRENCY_GAIN:
                missed.append(f"8 clients {r['gain']:.2f}x one < {CONCURRENCY_GAIN}")
    print("\nall targets met" if not missed else "\nMISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
