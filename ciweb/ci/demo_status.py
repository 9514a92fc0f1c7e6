"""A live-looking status document in Zuul's ``status`` shape (zuul-api.md §1 "Status queue item").

Epoch **milliseconds** for ``enqueue_time``, ``last_reconfigured``, ``elapsed_time`` and
``remaining_time``; epoch **seconds** (float) for job ``start_time``, ``end_time`` and
``execute_time``, as Zuul sends them.
"""

from __future__ import annotations

import random
import time
import uuid as uuidlib
from typing import Any

_QUEUED_JOBS = ("tox-py311", "tox-py312", "tox-linters", "project1-functional")


def _uuid(rng: random.Random) -> str:
    return uuidlib.UUID(int=rng.getrandbits(128), version=4).hex


def _job(rng: random.Random, name: str, pipeline: str, now: float, state: str) -> dict[str, Any]:
    uuid = _uuid(rng) if state != "queued" else None
    estimated = float(rng.randint(300, 1500))
    start = now - rng.randint(30, 250) if state != "queued" else None
    result = "SUCCESS" if state == "done" else None
    end = start + rng.randint(20, 60) if state == "done" and start is not None else None
    elapsed = int((end or now) - start) * 1000 if start is not None else None
    return {
        "name": name,
        "dependencies": [],
        "uuid": uuid,
        "url": f"stream/{uuid}?logfile=console.log" if state == "running" else None,
        "report_url": None,
        "result": result,
        "voting": name != "project1-integration",
        "elapsed_time": elapsed,
        "remaining_time": (
            max(int(estimated * 1000) - elapsed, 0)
            if elapsed is not None and state == "running"
            else None
        ),
        "execute_time": start,
        "start_time": start,
        "end_time": end,
        "estimated_time": estimated,
        "pipeline": pipeline,
        "canceled": False,
        "paused": False,
        "pre_fail": False,
        "retry": None,
        "snapshotting": False,
        "tries": 1,
        "queued": state == "queued",
        "waiting_status": "node request: 200-0000123456" if state == "queued" else None,
    }


def _item(
    rng: random.Random,
    pipeline: str,
    change: int,
    project: str,
    host: str,
    now: float,
    jobs: list[dict[str, Any]],
) -> dict[str, Any]:
    patchset = rng.randint(1, 4)
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
        "remaining_time": max((j["remaining_time"] or 0) for j in jobs) if jobs else None,
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


def _check_items(rng: random.Random, host: str, now: float) -> list[dict[str, Any]]:
    """Return two independent check items, each with done, running and queued jobs."""
    items = []
    for change in (1201, 1202):
        jobs = [
            _job(rng, n, "check", now, s)
            for n, s in zip(_QUEUED_JOBS, ("done", "running", "running", "queued"), strict=True)
        ]
        items.append(_item(rng, "check", change, "example/project1", host, now, jobs))
    return items


def _gate_items(rng: random.Random, host: str, now: float) -> list[dict[str, Any]]:
    """Return two gate items of one shared queue, the second behind the first."""
    items = [
        _item(
            rng,
            "gate",
            change,
            "example/project1",
            host,
            now,
            [_job(rng, n, "gate", now, "running") for n in ("tox-py311", "tox-py312")],
        )
        for change in (1190, 1195)
    ]
    # A dependent pipeline: the second item is tested on top of the first.
    items[1]["item_ahead"] = items[0]["id"]
    items[0]["items_behind"] = [items[1]["id"]]
    return items


def status_document(rng: random.Random, host: str) -> dict[str, Any]:
    """Return a status document with items in check and gate, running and queued jobs.

    :param rng: seeded random source.
    :param host: the code review host of the refs.
    """
    now = time.time()
    # Check's items draw from rng before gate's: the same seed, the same document.
    check_items = _check_items(rng, host, now)
    gate_items = _gate_items(rng, host, now)
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
