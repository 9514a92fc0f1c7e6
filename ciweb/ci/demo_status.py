"""A live-looking status document in Zuul's ``status`` shape, and the running builds behind it.

The jobs of an item are formatted as zuul-web's ``QueueItem.formatJSON`` formats them: a job
with a build has ``url`` (the console stream), ``report_url`` (the build page), ``uuid`` and
its times; a finished one has ``remaining_time`` 0; a job still waiting for nodes has none of
these, and its item has no ``remaining_time`` yet.  Epoch **milliseconds** for
``enqueue_time``, ``last_reconfigured``, ``elapsed_time`` and ``remaining_time``; epoch
**seconds** (float) for job ``start_time``, ``end_time`` and ``execute_time``.

:func:`live_buildsets` derives, from a document, the buildsets and builds (with console text)
the reporting API would have recorded for its items, so that a job's links lead somewhere: a
running job's console streams, a finished one's build page shows it.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid as uuidlib
from typing import Any

from ciweb.ci.demo_jobs import DEPENDENCIES

__all__ = ["WAITING_FOR_NODES", "buildset_uuid", "items", "live_buildsets", "status_document"]

# Each check item has finished one job, runs two, waits for nodes for one ("queued": its
# nodeset is requested) and for a dependency for another ("waiting").  The first gate item
# runs its integration job (holding the integration-lab semaphore); the second is behind.
_CHECK_JOBS = (
    ("tox-linters", "done"),
    ("tox-py311", "running"),
    ("tox-py312", "running"),
    ("project1-functional", "waiting"),
    ("tox-docs", "queued"),
)
_GATE_FIRST = (
    ("tox-linters", "done"),
    ("tox-py311", "done"),
    ("tox-py312", "done"),
    ("project1-integration", "running"),
)
_GATE_SECOND = (
    ("tox-linters", "done"),
    ("tox-py311", "running"),
    ("tox-py312", "running"),
    ("project1-integration", "waiting"),
)
# uuid5 namespace of the buildsets derived from queue items (any fixed uuid).
_BUILDSETS = uuidlib.UUID("6c1b3b8e-35f0-4e8f-9c4e-2f1c0f3a9d11")
WAITING_FOR_NODES = "node request: "


def _uuid(rng: random.Random) -> str:
    return uuidlib.UUID(int=rng.getrandbits(128), version=4).hex


def _job(
    rng: random.Random, name: str, pipeline: str, now: float, state: str, tenant: str
) -> dict[str, Any]:
    if state in ("queued", "waiting"):
        # No build yet: zuul-web leaves every build field None.
        build: dict[str, Any] = dict.fromkeys(
            ("uuid", "url", "report_url", "result", "elapsed_time", "remaining_time"), None
        )
        build |= dict.fromkeys(("execute_time", "start_time", "end_time", "estimated_time"), None)
        build |= dict.fromkeys(("pipeline", "canceled", "paused", "pre_fail", "retry"), None)
        waiting = WAITING_FOR_NODES + _uuid(rng) if state == "queued" else None
        build |= {"snapshotting": None, "waiting_status": waiting}
    else:
        uuid = _uuid(rng)
        estimated = float(rng.randint(300, 1500))
        start = now - rng.randint(30, 250)
        end = start + rng.randint(20, 60) if state == "done" else None
        elapsed = int(((end or now) - start) * 1000)
        build = {
            "uuid": uuid,
            "url": f"stream/{uuid}?logfile=console.log",
            "report_url": f"/t/{tenant}/build/{uuid}",
            "result": "SUCCESS" if state == "done" else None,
            "elapsed_time": elapsed,
            "remaining_time": 0 if end else max(int(estimated * 1000) - elapsed, 0),
            "execute_time": start,
            "start_time": start,
            "end_time": end,
            "estimated_time": estimated,
            "pipeline": pipeline,
            "canceled": False,
            "paused": False,
            "pre_fail": False,
            "retry": False,
            "snapshotting": False,
            "waiting_status": None,
        }
    return {
        "name": name,
        "dependencies": [dep for dep, _soft in DEPENDENCIES.get((pipeline, name), ())],
        "voting": name != "project1-integration",
        "tries": 0 if build["uuid"] is None else 1,
        "queued": state == "queued",
        **build,
    }


def _item(
    rng: random.Random,
    change: int,
    project: str,
    host: str,
    now: float,
    jobs: list[dict[str, Any]],
) -> dict[str, Any]:
    patchset = rng.randint(1, 4)
    started = all(job["uuid"] is not None for job in jobs)
    return {
        "id": _uuid(rng),
        "active": True,
        "live": True,
        "refs": [
            {
                "id": f"{change},{patchset}",
                "ref": f"refs/changes/{str(change)[-2:]}/{change}/{patchset}",
                "url": f"https://{host}/c/{project}/+/{change}",
                "project": project,
                "project_canonical": f"{host}/{project}",
                "owner": "jdoe",
            }
        ],
        "item_ahead": None,
        "items_behind": [],
        "failing_reasons": [],
        "zuul_ref": f"Z{_uuid(rng)}",
        "enqueue_time": int((now - rng.randint(300, 900)) * 1000),
        # zuul-web: the longest remaining time once every job has started, else None.
        "remaining_time": max(job["remaining_time"] for job in jobs) if started else None,
        "jobs": jobs,
    }


def _pipeline(name: str, manager: str, driver: str, queues: list[Any]) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} pipeline.",
        "state": "normal",
        "manager": manager,
        "triggers": [{"driver": driver}],
        "change_queues": queues,
        "trigger_events": 0,
        "result_events": 0,
        "management_events": 0,
    }


def _items(
    rng: random.Random, host: str, now: float, tenant: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return two independent check items, and two gate items of one shared queue."""
    check = [
        _item(rng, change, "example/project1", host, now,
              [_job(rng, n, "check", now, s, tenant) for n, s in _CHECK_JOBS])
        for change in (1201, 1202)
    ]  # fmt: skip
    gate = [
        _item(rng, change, "example/project1", host, now,
              [_job(rng, n, "gate", now, s, tenant) for n, s in jobs])
        for change, jobs in ((1190, _GATE_FIRST), (1195, _GATE_SECOND))
    ]  # fmt: skip
    # A dependent pipeline: the second item is tested on top of the first.
    gate[1]["item_ahead"] = gate[0]["id"]
    gate[0]["items_behind"] = [gate[1]["id"]]
    return check, gate


def status_document(rng: random.Random, host: str, tenant: str, now: float) -> dict[str, Any]:
    """Return a status document with items in check and gate: finished, running and queued
    jobs.

    :param rng: seeded random source (the same seed, the same uuids).
    :param host: the code review host of the refs.
    :param tenant: the tenant, for the build pages' URLs.
    :param now: the epoch time the document is taken at.
    """
    check_items, gate_items = _items(rng, host, now, tenant)
    return {
        "zuul_version": "14.3.0",
        "last_reconfigured": int((now - 3600) * 1000),
        "trigger_event_queue": {"length": 0},
        "management_event_queue": {"length": 0},
        "connection_event_queues": {"gerrit": {"length": 0}},
        "state": {
            "trigger_queue_discarding": False,
            "trigger_queue_paused": False,
            "result_queue_paused": False,
            "reason": None,
            "info": None,
        },
        "pipelines": [
            _pipeline(
                "check",
                "independent",
                "gerrit",
                [
                    {"name": "", "window": 0, "branch": None, "heads": [[item]]}
                    for item in check_items
                ],
            ),
            _pipeline(
                "gate",
                "dependent",
                "gerrit",
                [{"name": "integrated", "window": 20, "branch": "master", "heads": [gate_items]}],
            ),
            _pipeline("post", "supercedent", "gerrit", []),
            _pipeline("periodic", "independent", "timer", []),
        ],
    }


def buildset_uuid(item: dict[str, Any]) -> str:
    """Return the uuid of the buildset of a queue item (derived from the item's id)."""
    return uuidlib.uuid5(_BUILDSETS, item["id"]).hex


def _time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None).isoformat()


def _console(job: dict[str, Any], item: dict[str, Any]) -> str:
    ref = item["refs"][0]
    lines = [
        f"Job console starting for {job['name']} on {ref['project']} change {ref['id']}",
        "PLAY [all] ********************************************************************",
        "TASK [Gathering Facts] ********************************************************",
        "ok: [ubuntu-noble]",
        f"TASK [{job['name']} : Run tox] ************************************************",
        "ubuntu-noble | py: install_deps> python -I -m pip install -r requirements.txt",
        "ubuntu-noble | py: commands[0]> stestr run",
    ]
    if job["result"] is not None:
        lines += [f"ubuntu-noble | py: OK ({job['elapsed_time'] / 1000:.2f} seconds)",
                  "PLAY RECAP ********************************************************************",
                  "ubuntu-noble : ok=12 changed=7 unreachable=0 failed=0"]  # fmt: skip
    return "\n".join(lines) + "\n"


def items(document: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Return ``(pipeline name, change queue, item)`` of every queue item of *document*."""
    return [
        (pipeline["name"], queue, item)
        for pipeline in document["pipelines"]
        for queue in pipeline["change_queues"]
        for head in queue["heads"]
        for item in head
    ]


def live_buildsets(document: dict[str, Any], log_host: str) -> list[dict[str, Any]]:
    """Return, for each queue item of *document*, what the reporting API would have recorded:
    ``{"buildset": {...}, "builds": [{...}], "console": {uuid: (text, ended)}}``.

    :param document: a document from :func:`status_document`.
    :param log_host: the log server of the finished builds.
    """
    return [_live(pipeline, queue, item, log_host) for pipeline, queue, item in items(document)]


def _live(
    pipeline: str, queue: dict[str, Any], item: dict[str, Any], log_host: str
) -> dict[str, Any]:
    ref = item["refs"][0]
    change, patchset = ref["id"].split(",")
    builds, console = [], {}
    for job in item["jobs"]:
        if job["uuid"] is None:
            continue
        build = {
            "uuid": job["uuid"],
            "job_name": job["name"],
            "voting": job["voting"],
            "nodeset": "ubuntu-noble",
            "start_time": _time(job["start_time"]),
            "execute_time": _time(job["execute_time"]),
        }
        if job["result"] is not None:
            log_url = f"{log_host}/{change}/{job['uuid'][:7]}/"
            manifest = {"name": "Zuul Manifest", "url": log_url + "zuul-manifest.json",
                        "metadata": {"type": "zuul_manifest"}}
            build |= {"result": job["result"], "end_time": _time(job["end_time"]),
                      "log_url": log_url, "artifacts": [manifest]}  # fmt: skip
        builds.append(build)
        console[job["uuid"]] = (_console(job, item), job["result"] is not None)
    buildset = {
        "uuid": buildset_uuid(item),
        "pipeline": pipeline,
        "queue_item_uuid": item["id"],
        "event_timestamp": _time(item["enqueue_time"] / 1000),
        "refs": [{
            "project": ref["project"], "branch": queue["branch"] or "master",
            "change": int(change), "patchset": patchset, "ref": ref["ref"],
            "ref_url": ref["url"],
        }],
    }  # fmt: skip
    return {"buildset": buildset, "builds": builds, "console": console}
