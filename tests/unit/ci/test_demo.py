"""Demo data: a realistic, deterministic, idempotent tenant that fills every dashboard page;
bulk builds.

The demo is loaded once per database (it takes seconds) and the tests read it; the test of a
second load runs last in the module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from ciweb.ci import admin, demo, demo_jobs, documents, history, job_graphs, keys, queries
from ciweb.ci.engine import make_engine
from ciweb.ci.status_index import StatusIndexCache
from ciweb.ci.store import Store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A migrated store with the demo loaded once, and what the load added."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'ciweb.sqlite'}"
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.create_database(f"demo_{os.getpid()}")
    store = Store(make_engine(url), key_bits=2048)
    store.upgrade()
    added = demo.load_demo(store)
    yield store, added
    store.engine.dispose()


@pytest.fixture
def demo_store(loaded) -> Iterator[Store]:
    yield loaded[0]


def test_the_demo_tenant_is_realistic(loaded):
    store, added = loaded
    assert added["buildsets"] == 120 and added["builds"] > 300
    tenant = demo.TENANT
    names = {p["name"] for p in queries.projects(store, tenant)}
    assert {"example/project1", "zuul/zuul-jobs"} <= names
    assert [p["name"] for p in queries.pipelines(store, tenant)] == [
        "check", "gate", "post", "periodic"]
    assert len(queries.jobs(store, tenant)) >= 12
    results = {b["result"] for b in history.builds(store, tenant, {"limit": "1000"})}
    assert {"SUCCESS", "FAILURE", "POST_FAILURE", "SKIPPED", "TIMED_OUT"} <= results
    build = history.builds(store, tenant, {"result": "SUCCESS", "limit": "1"})[0]
    assert build["log_url"].startswith("https://logs.example.org/")
    assert build["artifacts"][0]["metadata"] == {"type": "zuul_manifest"}
    assert queries.tenant_status(store, tenant)["config_error_count"] == 3
    assert len(queries.autoholds(store, tenant)) == 1
    assert keys.ssh_public_key(store, tenant, "example/project1").startswith("ssh-rsa ")


def test_the_demo_status_has_live_items_with_running_jobs(demo_store):
    store = demo_store
    document = json.loads(queries.status(store, demo.TENANT).body)
    items = [item for p in document["pipelines"] for q in p["change_queues"]
             for head in q["heads"] for item in head]
    assert len(items) == 4 and all(item["live"] for item in items)
    jobs = [job for item in items for job in item["jobs"]]
    assert any(job["url"] and job["url"].startswith("stream/") for job in jobs)
    change = items[0]["refs"][0]["id"]
    found = StatusIndexCache(store).index(demo.TENANT).lookup(change)
    assert found[0]["id"] == items[0]["id"]


def test_generate_builds_bulk_inserts_queryable_builds(store):
    assert demo.generate_builds(store, 2500, tenant="bench", batch=1000) == 2500
    assert history.builds_count(store, "bench", {}) == 2500
    assert history.buildsets_count(store, "bench", {}) == 834
    rows = history.builds(store, "bench", {"project": "bench/project1*", "limit": "10"})
    assert len(rows) == 10 and rows[0]["_id"] > rows[-1]["_id"]


def _status_jobs(store):
    document = json.loads(queries.status(store, demo.TENANT).body)
    return [(item, job) for p in document["pipelines"] for q in p["change_queues"]
            for head in q["heads"] for item in head for job in item["jobs"]]  # fmt: skip


def test_the_demo_status_is_formatted_as_zuul_formats_it(demo_store):
    store = demo_store
    jobs = _status_jobs(store)
    states = {(job["uuid"] is None, job["result"] is None) for _item, job in jobs}
    assert states == {(True, True), (False, True), (False, False)}  # waiting, running, done
    for item, job in jobs:
        if job["uuid"] is None:
            assert job["url"] is job["report_url"] is job["remaining_time"] is None
            assert item["remaining_time"] is None  # not every job has started
            continue
        assert job["url"] == f"stream/{job['uuid']}?logfile=console.log"
        assert job["report_url"] == f"/t/{demo.TENANT}/build/{job['uuid']}"
        if job["result"] is not None:
            assert job["remaining_time"] == 0 and job["end_time"] >= job["start_time"]
    assert all("finger_url" not in job for _item, job in jobs)  # not a Zuul 14.3 key


def test_every_build_of_the_demo_status_exists_and_running_ones_have_console_text(demo_store):
    store = demo_store
    for item, job in _status_jobs(store):
        if job["uuid"] is None:
            continue
        build = history.build(store, demo.TENANT, job["uuid"])
        assert build["result"] == job["result"] and build["job_name"] == job["name"]
        assert build["buildset"]["uuid"] and build["ref"]["change"] == int(
            item["refs"][0]["id"].split(",")[0])
        console = admin.read_console(store, demo.TENANT, job["uuid"])
        assert console["chunks"] and console["end"] is (job["result"] is not None)


def test_the_demo_reports_every_resource_and_job_graph(demo_store):
    store = demo_store
    tenant = demo.TENANT
    for kind in documents.LIST_KINDS:
        assert documents.list_documents(store, tenant, kind), kind
    assert documents.system_events(store, tenant, {})
    assert documents.tenant_ssh_key(store, tenant).startswith("ssh-ed25519 ")
    assert set(documents.components(store)) >= {"scheduler", "executor", "web"}
    assert documents.connections(store)[0]["driver"] == "gerrit"
    for pipeline in demo_jobs.PIPELINE_JOBS:
        graph = job_graphs.freeze_jobs(store, tenant, pipeline, "example/project1", "master")
        assert [j["name"] for j in graph] == demo_jobs.PIPELINE_JOBS[pipeline]
        frozen = job_graphs.freeze_job(
            store, tenant, pipeline, "example/project1", "master", graph[0]["name"])
        assert frozen["nodeset"]["name"] and frozen["playbooks"]
    # The running integration job holds the semaphore; each job waiting for nodes has a
    # nodeset request of its buildset.
    semaphore = documents.list_documents(store, tenant, "semaphores")[0]
    assert semaphore["holders"]["count"] == 1
    requests = documents.list_documents(store, tenant, "nodeset-requests")
    waiting = [job for _item, job in _status_jobs(store)
               if (job["waiting_status"] or "").startswith("node request: ")]  # fmt: skip
    assert sorted(r["uuid"] for r in requests) == sorted(
        job["waiting_status"].split(": ")[1] for job in waiting)


def test_loading_the_demo_twice_adds_nothing_and_keeps_every_page_filled(demo_store):
    store = demo_store
    first = history.buildsets(store, demo.TENANT, {"limit": "1000"})
    counts = {kind: len(documents.list_documents(store, demo.TENANT, kind))
              for kind in documents.LIST_KINDS}  # fmt: skip
    assert demo.load_demo(store) == {"buildsets": 0, "builds": 0}
    assert history.buildsets(store, demo.TENANT, {"limit": "1000"}) == first
    assert len(queries.autoholds(store, demo.TENANT)) == 1
    assert history.builds_count(store, demo.TENANT, {}) == sum(
        len(history.buildset(store, demo.TENANT, b["uuid"])["builds"]) for b in first)
    again = {kind: len(documents.list_documents(store, demo.TENANT, kind))
             for kind in documents.LIST_KINDS}  # fmt: skip
    assert again == counts
    assert len(documents.system_events(store, demo.TENANT, {})) == 4
