"""A small keep-alive HTTP load generator (used when wrk is not installed).

python bench/pyload.py URL SECONDS CONNECTIONS  -> prints "req/s p50_ms p99_ms"
"""

from __future__ import annotations

import http.client
import multiprocessing
import sys
import time
import urllib.parse


def _worker(url: str, seconds: float, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    path = parts.path or "/"
    latencies = []
    end = time.monotonic() + seconds
    while True:
        start = time.monotonic()
        if start >= end:
            break
        conn.request("GET", path)
        res = conn.getresponse()
        res.read()
        if res.status != 200:
            raise RuntimeError(f"status {res.status}")
        latencies.append(time.monotonic() - start)
    queue.put(latencies)


def main() -> None:
    url, seconds, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_worker, args=(url, seconds, queue))
        for _ in range(connections)
    ]
    for p in procs:
        p.start()
    latencies = sorted(x for _ in procs for x in queue.get())
    for p in procs:
        p.join()
    n = len(latencies)
    print(n / seconds, latencies[n // 2] * 1000, latencies[int(n * 0.99)] * 1000)


if __name__ == "__main__":
    main()
