"""Demo data: a realistic tenant for trying the dashboard, and bulk builds for benchmarks.

:func:`load_demo` fills every page of the Zuul dashboard: projects, pipelines, jobs in Zuul's
full shape (:mod:`ciweb.ci.demo_jobs`) with their job graphs and frozen jobs, a build history,
configuration errors, a live status document whose running builds stream console text
(:mod:`ciweb.ci.demo_status`), nodes, labels, semaphores, nodeset requests, providers, images,
flavors, system events, components and connections (:mod:`ciweb.ci.demo_resources`), and an
autohold request.  It is deterministic (seeded) and idempotent: loading twice adds no history,
and refreshes the live state to the current time.  It goes through the same validated write
functions as the reporting API.  :func:`generate_builds` uses bulk inserts to create millions
of rows quickly.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid as uuidlib
from typing import Any

from sqlalchemy import func, insert, select

from ciweb.ci import (
    admin,
    demo_jobs,
    demo_resources,
    documents,
    job_graphs,
    queries,
    reporting,
    writes,
)
from ciweb.ci.demo_jobs import HOST, JOBS, PIPELINE_JOBS
from ciweb.ci.demo_status import live_buildsets, status_document
from ciweb.ci.models import Build, Buildset, BuildsetRef, Ref
from ciweb.ci.store import Store, tenant_id

LOG = logging.getLogger(__name__)

TENANT = "example-tenant"
LOG_HOST = "https://logs.example.org"
EPOCH = dt.datetime(2025, 3, 1, 8, 0, 0)
RESULTS = (
    ["SUCCESS"] * 14
    + ["FAILURE"] * 4
    + ["POST_FAILURE", "SKIPPED", "SKIPPED", "TIMED_OUT", "RETRY_LIMIT", "NODE_FAILURE"]
)

PROJECTS = [
    ("example/config", "config"),
    ("zuul/zuul-jobs", "untrusted"),
    ("example/project1", "untrusted"),
    ("example/project2", "untrusted"),
    ("example/webapp", "untrusted"),
]

PIPELINES = [
    (
        "check",
        "independent",
        "Newly uploaded patchsets enter this pipeline.",
        [{"name": "gerrit", "driver": "gerrit"}],
    ),
    (
        "gate",
        "dependent",
        "Changes approved by a core reviewer are gated here.",
        [{"name": "gerrit", "driver": "gerrit"}],
    ),
    (
        "post",
        "supercedent",
        "Runs after a change merges.",
        [{"name": "gerrit", "driver": "gerrit"}],
    ),
    ("periodic", "independent", "Jobs run every night.", [{"name": "timer", "driver": "timer"}]),
]


def _uuid(rng: random.Random) -> str:
    return uuidlib.UUID(int=rng.getrandbits(128), version=4).hex


def load_demo(store: Store) -> dict[str, int]:
    """Load the demo tenant ``example-tenant``; return counts of what was added.

    :param store: a migrated store.
    """
    writes.upsert_tenant(store, TENANT)
    for name, kind in PROJECTS:
        writes.upsert_project(store, TENANT, _project(name, kind))
    for name, manager, description, triggers in PIPELINES:
        writes.upsert_pipeline(
            store,
            TENANT,
            {"name": name, "manager": manager, "description": description, "triggers": triggers},
        )
    for name in JOBS:
        writes.upsert_job(store, TENANT, {"name": name, "variants": demo_jobs.variants(name)})
    for pipeline in PIPELINE_JOBS:
        for branch in ("master", "stable/2024.1"):
            graph = demo_jobs.job_graph(TENANT, pipeline, "example/project1", branch)
            job_graphs.put_job_graph(store, TENANT, graph)
    added = _history(store, random.Random(20250301))  # noqa: S311 - demo data
    writes.replace_config_errors(store, TENANT, CONFIG_ERRORS)
    _live(store, time.time())
    if not queries.autoholds(store, TENANT):
        admin.create_autohold(
            store,
            TENANT,
            "example/project1",
            {
                "job": "project1-functional",
                "count": 1,
                "change": "",
                "ref": "",
                "reason": "Debug the flaky functional test (jdoe)",
                "node_hold_expiration": 86400,
            },
        )
    LOG.info("demo tenant %s loaded (%s buildsets added)", TENANT, added["buildsets"])
    return added


def _live(store: Store, now: float) -> None:
    """Report the live state: the status document, the builds running in it with their
    console text, and the resources (nodes, labels...) that agree with it."""
    document = status_document(random.Random(7), HOST, TENANT, now)  # noqa: S311 - demo data
    writes.put_status(store, TENANT, document)
    for live in live_buildsets(document, LOG_HOST):
        _report_live(store, live)
    lists = demo_resources.resources(random.Random(11), document, now)  # noqa: S311
    for kind, items in lists.items():
        documents.replace_list(store, TENANT, kind, items)
    known = {e["event_id"] for e in documents.system_events(store, TENANT, {"limit": "1000"})}
    events = demo_resources.system_events(now)
    documents.add_system_events(store, TENANT, [e for e in events if e["event_id"] not in known])
    documents.put_tenant_ssh_key(store, TENANT, {"public_key": demo_resources.SSH_KEY})
    documents.put_components(store, demo_resources.COMPONENTS)
    documents.replace_connections(store, demo_resources.CONNECTIONS)


def _report_live(store: Store, live: dict[str, Any]) -> None:
    """Record a queue item's buildset and builds, and their console text, once."""
    uuid = live["buildset"]["uuid"]
    with store.read() as session:
        if session.scalar(select(Buildset.id).where(Buildset.uuid == uuid)) is not None:
            return
    reporting.create_buildset(store, TENANT, live["buildset"])
    for build in live["builds"]:
        reporting.create_build(store, TENANT, uuid, build)
        text, ended = live["console"][build["uuid"]]
        admin.append_console(store, TENANT, build["uuid"], text, end=ended)


def _project(name: str, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "canonical_name": f"{HOST}/{name}",
        "connection_name": "gerrit",
        "type": kind,
    }
    if name == "example/project1":
        data["metadata"] = {
            "merge_mode": "merge-resolve",
            "default_branch": "master",
            "is_template": False,
            "queue_name": "integrated",
        }
        data["configs"] = [demo_jobs.project_config(name)]
    return data


CONFIG_ERRORS = [
    {
        "source_context": {"project": "example/project2", "branch": "master", "path": ".zuul.yaml"},
        "error": 'Job tox-py310 not defined\n\nThe problem appears in the "check" pipeline '
        "stanza of the project example/project2.",
        "short_error": "Job tox-py310 not defined",
        "severity": "error",
        "name": "Job Not Found",
    },
    {
        "source_context": {
            "project": "example/webapp",
            "branch": "stable/2024.1",
            "path": "zuul.d/jobs.yaml",
        },
        "error": 'The nodeset "centos-7" uses a label that no provider offers.',
        "short_error": "Unknown label centos-7",
        "severity": "warning",
        "name": "Nodeset Label",
    },
    {
        "source_context": {
            "project": "example/project2",
            "branch": "stable/2024.1",
            "path": ".zuul.yaml",
        },
        "error": 'The job "project2-docs" sets both "files" and "irrelevant-files".',
        "short_error": "files and irrelevant-files both set",
        "severity": "warning",
        "name": "Deprecated Syntax",
    },
]
_FAILED = frozenset({"FAILURE", "POST_FAILURE", "TIMED_OUT", "RETRY_LIMIT", "NODE_FAILURE"})
_DEMO_BUILDSETS = 120


def _ref(rng: random.Random, pipeline: str, project: str, index: int) -> dict[str, Any]:
    if pipeline in ("check", "gate"):
        change, patchset = 1000 + index, str(rng.randint(1, 5))
        return {
            "project": project,
            "branch": rng.choice(["master"] * 5 + ["stable/2024.1"]),
            "change": change,
            "patchset": patchset,
            "ref": f"refs/changes/{str(change)[-2:]}/{change}/{patchset}",
            "ref_url": f"https://{HOST}/c/{project}/+/{change}",
        }
    oldrev, newrev = f"{rng.getrandbits(160):040x}", f"{rng.getrandbits(160):040x}"
    return {
        "project": project,
        "branch": "master",
        "ref": "refs/heads/master",
        "oldrev": oldrev if pipeline == "post" else None,
        "newrev": newrev if pipeline == "post" else None,
        "ref_url": f"https://{HOST}/plugins/gitiles/{project}/+/refs/heads/master",
    }


def _build(
    rng: random.Random, job: str, ref: dict[str, Any], queued: dt.datetime
) -> dict[str, Any]:
    uuid, result = _uuid(rng), rng.choice(RESULTS)
    start = queued + dt.timedelta(seconds=rng.randint(20, 300))
    end = start + dt.timedelta(seconds=rng.randint(60, 1800))
    build: dict[str, Any] = {
        "uuid": uuid,
        "job_name": job,
        "result": result,
        "voting": job != "project1-integration",
        "nodeset": "ubuntu-noble",
    }
    if result in ("SKIPPED", "NODE_FAILURE"):
        if result == "NODE_FAILURE":
            build["error_detail"] = "No provider could satisfy the node request"
        return build
    where = ref.get("change") or "periodic"
    log_url = f"{LOG_HOST}/{where}/{uuid[:7]}/"
    artifacts = [
        {
            "name": "Zuul Manifest",
            "url": log_url + "zuul-manifest.json",
            "metadata": {"type": "zuul_manifest"},
        }
    ]
    if job == "tox-docs" and result == "SUCCESS":
        artifacts.append({"name": "Docs preview", "url": log_url + "docs/"})
    build.update(
        start_time=start.isoformat(),
        execute_time=start.isoformat(),
        end_time=end.isoformat(),
        log_url=log_url,
        artifacts=artifacts,
        provides=["docs"] if job == "tox-docs" else [],
    )
    return build


def _buildset_spec(rng: random.Random, index: int) -> dict[str, Any]:
    pipeline = rng.choice(["check"] * 6 + ["gate"] * 3 + ["post", "periodic"])
    project = rng.choice(["example/project1"] * 3 + ["example/project2", "example/webapp"])
    queued = EPOCH + dt.timedelta(minutes=37 * index)
    ref = _ref(rng, pipeline, project, index)
    builds = [_build(rng, job, ref, queued) for job in PIPELINE_JOBS[pipeline]]
    failed = any(b["result"] in _FAILED and b["voting"] for b in builds)
    result = rng.choice(
        ["DEQUEUED"] if rng.random() < 0.05 else ["FAILURE" if failed else "SUCCESS"]
    )
    return {
        "buildset": {
            "uuid": _uuid(rng),
            "pipeline": pipeline,
            "refs": [ref],
            "event_id": _uuid(rng),
            "event_timestamp": queued.isoformat(),
            "queue_item_uuid": _uuid(rng),
            "result": result,
            "message": {
                "SUCCESS": "Build succeeded.",
                "FAILURE": "Build failed.",
                "DEQUEUED": "Dequeued by a user.",
            }[result],
        },
        "builds": builds,
    }


def _history(store: Store, rng: random.Random) -> dict[str, int]:
    added = {"buildsets": 0, "builds": 0}
    # Draw every spec first so the sequence is the same whatever exists already.
    specs = [_buildset_spec(rng, i) for i in range(_DEMO_BUILDSETS)]
    with store.read() as session:
        uuids = [s["buildset"]["uuid"] for s in specs]
        existing = set(session.scalars(select(Buildset.uuid).where(Buildset.uuid.in_(uuids))))
    for spec in specs:
        data = spec["buildset"]
        if data["uuid"] in existing:
            continue
        reporting.create_buildset(store, TENANT, data)
        for build in spec["builds"]:
            reporting.create_build(store, TENANT, data["uuid"], build)
        if data["result"] == "DEQUEUED":
            reporting.add_buildset_event(
                store,
                TENANT,
                data["uuid"],
                {
                    "event_type": "dequeue",
                    "description": "Dequeued by user jdoe",
                    "event_time": data["event_timestamp"],
                },
            )
        added["buildsets"] += 1
        added["builds"] += len(spec["builds"])
    return added


def generate_builds(
    store: Store, n: int, *, tenant: str = TENANT, seed: int = 1, batch: int = 20000
) -> int:
    """Bulk-insert *n* builds (and one buildset per three builds) into *tenant*; return *n*.

    For benchmarks: rows go in with executemany batches, one transaction per batch, with
    explicit ids, bypassing per-row validation.

    :param store: a migrated store.
    :param n: number of builds.
    :param tenant: tenant to fill (created if missing).
    :param seed: seed of the random values.
    :param batch: rows per insert statement batch.
    """
    writes.upsert_tenant(store, tenant)
    batch = max(3, batch - batch % 3)  # whole buildsets of three builds per batch
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        ref_ids = _bulk_refs(session, tid, rng)
        next_bs = (session.scalar(select(func.max(Buildset.id))) or 0) + 1
        next_build = (session.scalar(select(func.max(Build.id))) or 0) + 1
    done = 0
    while done < n:
        count = min(batch, n - done)
        with store.transaction() as session:
            buildsets, links, builds = _bulk_rows(rng, tid, ref_ids, next_bs, next_build, count)
            conn = session.connection()
            conn.execute(insert(Buildset), buildsets)
            conn.execute(insert(BuildsetRef), links)
            conn.execute(insert(Build), builds)
        next_bs += len(buildsets)
        next_build += count
        done += count
    LOG.info("inserted %s builds into tenant %s", n, tenant)
    return n


def _bulk_refs(session: Any, tid: int, rng: random.Random) -> list[int]:
    rows = [
        {
            "tenant_id": tid,
            "project": f"bench/project{i % 50}",
            "branch": "master",
            "change": 100000 + i,
            "patchset": "1",
            "ref": f"refs/changes/{i % 100:02d}/{i}/1",
            "ref_url": f"https://{HOST}/c/{100000 + i}",
            "oldrev": None,
            "newrev": None,
        }
        for i in range(1000)
    ]
    session.execute(insert(Ref), rows)
    return list(
        session.scalars(
            select(Ref.id).where(Ref.tenant_id == tid).order_by(Ref.id.desc()).limit(1000)
        )
    )


def _bulk_rows(
    rng: random.Random, tid: int, ref_ids: list[int], first_bs: int, first_build: int, count: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    buildsets, links, builds = [], [], []
    jobs = list(JOBS)
    for i in range(count):
        bs_id = first_bs + i // 3
        when = EPOCH + dt.timedelta(seconds=(first_build + i) * 30)
        if i % 3 == 0:
            ref_id = rng.choice(ref_ids)
            buildsets.append(_bulk_buildset(rng, tid, bs_id, when))
            links.append({"buildset_id": bs_id, "ref_id": ref_id})
        ids = {"id": first_build + i, "tenant_id": tid, "buildset_id": bs_id, "ref_id": ref_id}
        builds.append({**ids, **_bulk_build(rng, jobs, first_build + i, when)})
    return buildsets, links, builds


def _bulk_buildset(rng: random.Random, tid: int, bs_id: int, when: dt.datetime) -> dict[str, Any]:
    return {
        "id": bs_id,
        "tenant_id": tid,
        "uuid": _uuid(rng),
        "pipeline": rng.choice(["check", "gate", "post", "periodic"]),
        "result": rng.choice(RESULTS[:20]),
        "message": None,
        "event_id": None,
        "event_timestamp": when,
        "queue_item_uuid": None,
        "first_build_start_time": when,
        "last_build_end_time": when,
        "user_id": None,
        "parameters": None,
        "updated": when,
    }


def _bulk_build(
    rng: random.Random, jobs: list[str], build_id: int, when: dt.datetime
) -> dict[str, Any]:
    return {
        "uuid": _uuid(rng),
        "job_name": rng.choice(jobs),
        "result": rng.choice(RESULTS),
        "held": False,
        "voting": True,
        "final": True,
        "start_time": when,
        "end_time": when + dt.timedelta(seconds=rng.randint(60, 3600)),
        "execute_time": when,
        "log_url": f"{LOG_HOST}/bench/{build_id}/",
        "nodeset": "ubuntu-noble",
        "error_detail": None,
        "artifacts": [],
        "provides": [],
    }
