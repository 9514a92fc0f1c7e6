"""Demo data: a realistic, deterministic, idempotent tenant; bulk builds."""

from __future__ import annotations

import json

from ciweb.ci import demo, history, keys, queries
from ciweb.ci.status_index import StatusIndexCache


def test_the_demo_tenant_is_realistic(store):
    added = demo.load_demo(store)
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


def test_the_demo_status_has_live_items_with_running_jobs(store):
    demo.load_demo(store)
    document = json.loads(queries.status(store, demo.TENANT).body)
    items = [item for p in document["pipelines"] for q in p["change_queues"]
             for head in q["heads"] for item in head]
    assert len(items) == 4 and all(item["live"] for item in items)
    jobs = [job for item in items for job in item["jobs"]]
    assert any(job["url"] and job["url"].startswith("stream/") for job in jobs)
    change = items[0]["refs"][0]["id"]
    found = StatusIndexCache(store).index(demo.TENANT).lookup(change)
    assert found[0]["id"] == items[0]["id"]


def test_loading_the_demo_twice_adds_nothing_and_is_deterministic(store):
    demo.load_demo(store)
    first = history.buildsets(store, demo.TENANT, {"limit": "1000"})
    assert demo.load_demo(store) == {"buildsets": 0, "builds": 0}
    assert history.buildsets(store, demo.TENANT, {"limit": "1000"}) == first
    assert len(queries.autoholds(store, demo.TENANT)) == 1
    assert history.builds_count(store, demo.TENANT, {}) == sum(
        len(history.buildset(store, demo.TENANT, b["uuid"])["builds"]) for b in first)


def test_generate_builds_bulk_inserts_queryable_builds(store):
    assert demo.generate_builds(store, 2500, tenant="bench", batch=1000) == 2500
    assert history.builds_count(store, "bench", {}) == 2500
    assert history.buildsets_count(store, "bench", {}) == 834
    rows = history.builds(store, "bench", {"project": "bench/project1*", "limit": "10"})
    assert len(rows) == 10 and rows[0]["_id"] > rows[-1]["_id"]
