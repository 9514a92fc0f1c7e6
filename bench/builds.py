"""Latency of the build history queries on SQLite with a million builds.

Builds a database of the demo tenant plus N bulk builds (:func:`ciweb.ci.demo.generate_builds`;
about 50 s for a million) in a temporary directory, or reuses the one given by ``--db`` (it is
created there when missing, and migrated to head either way).  Then it times, RUNS times each
after one warm-up run, every list query of the dashboard and zuul-client through the data
layer (:mod:`ciweb.ci.history`), the counts behind ``X-Total-Count``, and two requests
through the whole ``etc/api-paste.ini`` pipeline in process, and prints p50/p95 in ms.

A trivial query (``SELECT 1`` in a read session) is timed in the same run: on a noisy machine,
read the figures as multiples of it.

    .venv/bin/python bench/builds.py [--db /tmp/ciweb-bench.sqlite] [--builds 1000000] [--runs 30]
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import webob
from sqlalchemy import text

from ciweb.api.controllers.builds import TOTAL_COUNT_CAP
from ciweb.ci import demo, history
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.wsgi.loader import load_app

ROOT = Path(__file__).resolve().parents[1]
TENANT = demo.TENANT
FREQUENT_PROJECT = "bench/project7"  # one of 50 bulk projects: 2 % of the builds
RARE_PROJECT = "example/project1"  # demo builds only: a few dozen, the oldest ones
DASHBOARD_BUILDS = "skip=0&limit=50&exclude_result=SKIPPED&complete=true"
DASHBOARD_BUILDSETS = (
    "skip=0&limit=50&exclude_result=NO_JOBS&exclude_result=DEQUEUED&complete=true"
)

BUILD_QUERIES: dict[str, str] = {
    "unfiltered": "",
    "project (frequent)": f"project={FREQUENT_PROJECT}",
    "project (rare)": f"project={RARE_PROJECT}",
    "job_name=tox-py3*": "job_name=tox-py3*",
    "job_name=*-functional": "job_name=*-functional",
    "job_name=nomatch* (rare pattern)": "job_name=nomatch*",
    "result=FAILURE": "result=FAILURE",
    "dashboard default": DASHBOARD_BUILDS,
    "pipeline=gate": "pipeline=gate",
    "change (one ref)": "change=100500",
    "project (rare), page 2": f"project={RARE_PROJECT}&skip=10&limit=10",
    "unfiltered, skip=5000": "skip=5000",
}
BUILDSET_QUERIES: dict[str, str] = {
    "unfiltered": "",
    "project (frequent)": f"project={FREQUENT_PROJECT}",
    "project (rare)": f"project={RARE_PROJECT}",
    "result=FAILURE": "result=FAILURE",
    "dashboard default": DASHBOARD_BUILDSETS,
    "pipeline=gate": "pipeline=gate",
}
HTTP_QUERIES: dict[str, str] = {
    "builds dashboard default": f"builds?{DASHBOARD_BUILDS}",
    "builds project (rare)": f"builds?project={RARE_PROJECT}",
    "builds project (frequent)": f"builds?project={FREQUENT_PROJECT}",
    "buildsets dashboard default": f"buildsets?{DASHBOARD_BUILDSETS}",
}


def params_of(query: str) -> dict[str, list[str]]:
    """Return the query string *query* as ``{name: [values]}`` like ``req.GET.dict_of_lists()``."""
    return webob.Request.blank("/?" + query).GET.dict_of_lists()


def timings(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Return the p50 and p95, in ms, of *runs* calls of *fn* after one warm-up call."""
    # A full collection first, so that the pause of a periodic one does not always land on
    # the same query of this fixed sequence.
    gc.collect()
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def prepare(path: Path, n: int) -> Store:
    """Return a store on the database at *path*, migrated, with *n* bulk builds when new."""
    fresh = not path.exists()
    store = Store(make_engine(f"sqlite:///{path}"), key_bits=2048, statement_timeout=120)
    store.upgrade()
    if fresh:
        started = time.monotonic()
        demo.load_demo(store)
        demo.generate_builds(store, n)
        print(f"built {path} with {n} bulk builds in {time.monotonic() - started:.0f} s")
    return store


def row(label: str, p50: float, p95: float, base: float) -> str:
    """Return one table line: label, p50, p95 and p50 as a multiple of the baseline."""
    return f"| {label:48s} | {p50:9.2f} | {p95:9.2f} | {p50 / base:9.0f} |"


def run_data_layer(store: Store, runs: int, base: float) -> None:
    """Print the data-layer table: lists and counts of builds and buildsets."""
    for kind, queries, fn in (
        ("builds", BUILD_QUERIES, history.builds),
        ("buildsets", BUILDSET_QUERIES, history.buildsets),
    ):
        for label, query in queries.items():
            params = params_of(query)
            p50, p95 = timings(lambda fn=fn, p=params: fn(store, TENANT, p), runs)
            print(row(f"{kind} {label}", p50, p95, base))
    for label, fn, query in (
        ("builds_count unfiltered", history.builds_count, ""),
        ("builds_count dashboard default", history.builds_count, DASHBOARD_BUILDS),
        ("builds_count project (frequent)", history.builds_count, f"project={FREQUENT_PROJECT}"),
        ("builds_count result=FAILURE", history.builds_count, "result=FAILURE"),
        ("buildsets_count unfiltered", history.buildsets_count, ""),
        ("buildsets_count dashboard default", history.buildsets_count, DASHBOARD_BUILDSETS),
    ):
        params = params_of(query)
        for cap in (None, TOTAL_COUNT_CAP):
            p50, p95 = timings(
                lambda fn=fn, p=params, c=cap: fn(store, TENANT, p, cap=c), max(3, runs // 3)
            )
            print(row(f"{label}, {'exact' if cap is None else f'cap {cap}'}", p50, p95, base))


def run_http(db: Path, tmp: Path, runs: int, base: float) -> None:
    """Print the same queries through the whole etc/api-paste.ini pipeline, in process."""
    conf = tmp / "ciweb.conf"
    conf.write_text(f"[database]\nconnection = sqlite:///{db}\nstatement_timeout = 120\n")
    app = load_app(str(ROOT / "etc/api-paste.ini"), "main", global_conf={"config_file": str(conf)})

    def get(path: str) -> webob.Response:
        response = webob.Request.blank(path).get_response(app)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status}")
        return response

    for label, path in HTTP_QUERIES.items():
        url = f"/api/tenant/{TENANT}/{path}"
        p50, p95 = timings(lambda url=url: get(url), runs)
        total = get(url).headers.get("X-Total-Count")
        print(row(f"HTTP {label} (total {total})", p50, p95, base))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="database file to reuse (created if missing)")
    parser.add_argument("--builds", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-http", action="store_true", help="skip the WSGI pipeline runs")
    args = parser.parse_args()
    # Access log lines are formatted but go nowhere, as with a real handler minus the I/O.
    logging.basicConfig(level=logging.INFO, handlers=[logging.NullHandler()])
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        store = prepare(db, args.builds)

        def trivial() -> None:
            with store.read() as session:
                session.execute(text("SELECT 1"))

        base, base95 = timings(trivial, max(args.runs, 100))
        print(f"| {'query':48s} | {'p50 ms':>9s} | {'p95 ms':>9s} | {'x SELECT 1':>9s} |")
        print(f"|{'-' * 50}|{'-' * 11}|{'-' * 11}|{'-' * 11}|")
        print(row("baseline: SELECT 1 in a read session", base, base95, base))
        run_data_layer(store, args.runs, base)
        if not args.no_http:
            run_http(db, Path(tmp), args.runs, base)
        store.engine.dispose()


if __name__ == "__main__":
    main()
