"""In-process cost of each filter of etc/api-paste.ini, of the whole pipeline, and of a cache hit.

Every filter is built from its own section of the shipped ini (paste.deploy.loadfilter) around
a trivial JSON app, and timed against that bare app in the same run; the figures are
microseconds added per request (best of 5 repeats).  The whole pipeline is timed on
GET /api/info, and the cache filter's hit against its miss through an app that costs about
200 µs.  ``metrics`` is what ``[process] prometheus_address`` adds to every request of a
worker (ciweb.process.metrics.RequestMetrics, in prometheus_client's multiprocess mode).

    .venv/bin/python bench/filters.py [--number 20000]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import webob
from paste.deploy import loadfilter

from ciweb.wsgi.loader import load_app

ROOT = Path(__file__).resolve().parents[1]
INI = f"config:{ROOT / 'etc/api-paste.ini'}"
FILTERS = (
    "proxy_headers",
    "request_id",
    "access_log",
    "cors",
    "faults",
    "healthcheck",
    "sizelimit",
    "cache",
    "compress",
    "debug",
)
BODY = b'{"info":{"capabilities":{}}}'
HEADERS = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(BODY)))]


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", list(HEADERS))
    return [BODY]


def slow_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    end = time.perf_counter() + 0.0002  # an application that works ~200 µs per request
    while time.perf_counter() < end:
        pass
    return bare_app(environ, start_response)


def _environ(path: str = "/api/info", **headers: str) -> dict[str, Any]:
    environ = webob.Request.blank(path, headers={"User-Agent": "bench", **headers}).environ
    environ["REMOTE_ADDR"] = "127.0.0.1"
    environ["SERVER_PROTOCOL"] = "HTTP/1.1"
    return environ


def per_request_us(
    app: Any, environ: dict[str, Any], number: int, timer: Callable[[], float] = time.perf_counter
) -> float:
    """Return the best time, in µs, of one request through *app* (body read and closed)."""

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return None

    def once() -> None:
        result = app(dict(environ), start_response)
        for _ in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()

    return min(timeit.repeat(once, number=number, repeat=5, timer=timer)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    # Log lines are formatted but go nowhere, as with a real handler minus the I/O.
    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])
    with tempfile.TemporaryDirectory() as tmp:
        conf = _write_conf(Path(tmp))
        global_conf = {"config_file": str(conf)}
        environ = _environ(**{"Accept-Encoding": "gzip"})
        bare = per_request_us(bare_app, environ, args.number)
        print(f"{'bare app':24s} {bare:7.2f} µs")
        for name in FILTERS:
            app = loadfilter(INI, name=name, global_conf=global_conf)(bare_app)
            cost = per_request_us(app, environ, args.number) - bare
            print(f"{name:24s} {cost:+7.2f} µs")
        pipeline = load_app(str(ROOT / "etc/api-paste.ini"), "main", global_conf=global_conf)
        whole = per_request_us(pipeline, environ, args.number)
        print(f"{'whole pipeline /api/info':24s} {whole:7.2f} µs per request")
        _metrics_cost(Path(tmp), pipeline, environ, args.number)
        _cache_ratio(Path(tmp), global_conf, args.number)


def _metrics_cost(tmp: Path, pipeline: Any, environ: dict[str, Any], number: int) -> None:
    # As in a worker: the directory is named before prometheus_client is first imported.
    directory = tmp / "metrics"
    directory.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    from ciweb.process.metrics import RequestMetrics, WorkerMetrics

    metered = RequestMetrics(pipeline, WorkerMetrics())
    per_request_us(metered, environ, 1)
    if not any(directory.iterdir()):
        raise SystemExit("prometheus_client is not in multiprocess mode (no files written)")
    # Alternate rounds of CPU time: the machine may be shared, and the figures are compared.
    plain, with_metrics = [], []
    for _ in range(3):
        plain.append(per_request_us(pipeline, environ, number, time.process_time))
        with_metrics.append(per_request_us(metered, environ, number, time.process_time))
    cost = min(with_metrics) - min(plain)
    print(f"{'metrics':24s} {cost:+7.2f} µs   with/without = {min(with_metrics) / min(plain):.3f}")


def _write_conf(tmp: Path) -> Path:
    from ciweb.ci.engine import database_url, make_engine
    from ciweb.ci.store import Store

    engine = make_engine(database_url("", str(tmp)))
    Store(engine).upgrade()
    engine.dispose()
    conf = tmp / "ciweb.conf"
    conf.write_text(f"[database]\nstate_dir = {tmp}\n")
    return conf


def _cache_ratio(tmp: Path, global_conf: dict[str, str], number: int) -> None:
    from ciweb.middleware.cache import filter_factory

    cached = filter_factory(global_conf, **{"policy.x": "/x public, max-age=60; ttl=60"})(slow_app)
    environ = _environ("/x")
    miss = per_request_us(slow_app, environ, max(1, number // 20))
    per_request_us(cached, environ, 1)  # fill
    hit = per_request_us(cached, environ, number)
    print(f"{'cache miss (200 µs app)':24s} {miss:7.2f} µs")
    print(f"{'cache hit':24s} {hit:7.2f} µs   hit/miss = {hit / miss:.3f}")


if __name__ == "__main__":
    main()
