"""CPU cost of ``status/change/{id}`` answered from the parsed-once status document, against
parsing the stored document for each request (what ciweb did before), in the same run.

A tenant gets a status document of ``--items`` queue items (each with five jobs, as the demo's)
in a SQLite database; both variants run in process through the API application (no server, no
sockets), alternating rounds, and the figure is CPU seconds per request
(``time.process_time``), which load from other processes on the machine does not inflate.
The target: the cached path costs at most a third of the re-parsing one at 500 items.

    .venv/bin/python bench/status_change.py [--items 500] [--rounds 5] [--number 200]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import webob

from ciweb.api.app import app_factory
from ciweb.ci import queries, writes
from ciweb.ci.demo_jobs import HOST
from ciweb.ci.demo_status import status_document
from ciweb.ci.engine import make_engine
from ciweb.ci.status_index import items_by_change
from ciweb.ci.store import Store

TARGET = 1 / 3


def _document(items: int) -> dict[str, Any]:
    """Return a status document with *items* check items, each on its own change."""
    base = status_document(random.Random(7), HOST, "bench", time.time())
    template = base["pipelines"][0]["change_queues"][0]["heads"][0][0]
    queues = []
    for number in range(items):
        item = json.loads(json.dumps(template))
        item["id"] = f"{number:032x}"
        item["refs"][0]["id"] = f"{10000 + number},1"
        queues.append({"name": "", "window": 0, "branch": None, "heads": [[item]]})
    base["pipelines"][0]["change_queues"] = queues
    return base


def _reparse(store: Store, tenant: str, change: str) -> bytes:
    # The old way: read the document and parse it for every request (without the routing,
    # so the baseline is if anything cheaper than it was).
    found = items_by_change(json.loads(queries.status(store, tenant).body)).get(change, [])
    return json.dumps(found).encode()


def _cpu_per_request(call: Any, changes: list[str]) -> float:
    start = time.process_time()
    for change in changes:
        call(change)
    return (time.process_time() - start) / len(changes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=200, help="requests per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        store = Store(make_engine(url), key_bits=2048)
        store.upgrade()
        writes.upsert_tenant(store, "bench")
        document = _document(args.items)
        writes.put_status(store, "bench", document)
        size = len(queries.status(store, "bench").body)
        app = app_factory({}, connection=url)
        rng = random.Random(1)
        changes = [f"{10000 + rng.randrange(args.items)},1" for _ in range(args.number)]

        def cached(change: str) -> bytes:
            response = webob.Request.blank(f"/api/tenant/bench/status/change/{change}")
            return response.get_response(app).body

        cached(changes[0])  # the first request parses the document once
        best_cached, best_reparse = float("inf"), float("inf")
        for _ in range(args.rounds):
            best_cached = min(best_cached, _cpu_per_request(cached, changes))
            reparse = _cpu_per_request(lambda c: _reparse(store, "bench", c), changes)
            best_reparse = min(best_reparse, reparse)
        store.engine.dispose()
    ratio = best_cached / best_reparse
    print(f"status document: {args.items} items, {size / 1e6:.2f} MB")
    print(f"re-parse per request (baseline): {best_reparse * 1e3:8.3f} ms CPU per request")
    print(f"parsed once per ETag (ciweb):    {best_cached * 1e3:8.3f} ms CPU per request")
    print(f"ratio cached/baseline: {ratio:.3f} (target <= {TARGET:.3f})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
