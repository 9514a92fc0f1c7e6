"""The demo tenant's resources as a CI system would report them: labels, nodes, semaphores,
nodeset requests, nodepool-in-zuul providers, images and flavors, system events, the tenant
SSH key, and the API root's components and connections.

They agree with the demo's status document: every running build has an in-use node, every
job waiting for nodes has a nodeset request, and the running integration job holds the
integration-lab semaphore.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid as uuidlib
from typing import Any

from ciweb.ci.demo_jobs import HOST
from ciweb.ci.demo_status import WAITING_FOR_NODES, buildset_uuid, items

__all__ = ["COMPONENTS", "CONNECTIONS", "SSH_KEY", "resources", "system_events"]

PROVIDER = "aws-us-east-1"
_CANONICAL = f"{HOST}/example/config"
_LABELS = {
    "ubuntu-noble": "Ubuntu 24.04 on x86_64, 8 GB",
    "ubuntu-noble-arm64": "Ubuntu 24.04 on arm64, 8 GB",
    "debian-bookworm": "Debian 12 on x86_64, 4 GB",
}
# The demo tenant's public SSH key (its private half exists nowhere).
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEU5ES0IrMUH6W2wu4fZeGo5GaHxblZCSTo+r0U59gHF "
    "zuul-tenant-example-tenant"
)
COMPONENTS = {
    "scheduler": [{"hostname": "zs01.example.org", "state": "running", "version": "14.3.0"}],
    "executor": [
        {"hostname": "ze01.example.org", "state": "running", "version": "14.3.0"},
        {"hostname": "ze02.example.org", "state": "paused", "version": "14.3.0"},
    ],
    "merger": [{"hostname": "zm01.example.org", "state": "running", "version": "14.3.0"}],
    "launcher": [{"hostname": "zl01.example.org", "state": "running", "version": "14.3.0"}],
    "web": [{"hostname": "zw01.example.org", "state": "running", "version": "14.3.0"}],
    "fingergw": [{"hostname": "zf01.example.org", "state": "running", "version": "14.3.0"}],
}
CONNECTIONS = [
    {
        "name": "gerrit",
        "driver": "gerrit",
        "baseurl": f"https://{HOST}",
        "canonical_hostname": HOST,
        "server": HOST,
        "ssh_server": HOST,
        "ssh_port": 29418,
    },
    {"name": "timer", "driver": "timer"},
]


def _when(now: float, seconds_ago: float) -> str:
    moment = dt.datetime.fromtimestamp(now - seconds_ago, dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _uuid(rng: random.Random) -> str:
    return uuidlib.UUID(int=rng.getrandbits(128), version=4).hex


def _labels() -> list[dict[str, Any]]:
    return [
        {"name": name, "canonical_name": f"{_CANONICAL}/{name}", "description": text}
        for name, text in _LABELS.items()
    ]


def _node(rng: random.Random, label: str, state: str, when: str, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": _uuid(rng),
        "label": label,
        "connection_type": "ssh",
        "state": state,
        "state_time": when,
        "provider": PROVIDER,
        "cloud": "aws",
        "region": "us-east-1",
        "az": "us-east-1a",
        "username": "zuul",
        "interface_ip": f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "quota": {"cores": 4, "ram": 8192, "instances": 1},
        **extra,
    }


def _nodes(rng: random.Random, document: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """An in-use node for each running build, and a ready, a held and a building one."""
    nodes = []
    for _pipeline, _queue, item in items(document):
        for job in item["jobs"]:
            if job["uuid"] is not None and job["result"] is None:
                in_use = {"is_locked": True, "lock_holder": "ze01.example.org"}
                in_use |= {"request_id": _uuid(rng), "request_time": _when(now, 300)}
                nodes.append(_node(rng, "ubuntu-noble", "in-use", _when(now, 240), **in_use))
    nodes.append(_node(rng, "ubuntu-noble", "ready", _when(now, 900)))
    held = {"hold_expiration": 86400, "comment": "Held for autohold 0000000001 (jdoe)"}
    nodes.append(_node(rng, "ubuntu-noble", "hold", _when(now, 7200), **held))
    nodes.append(_node(rng, "ubuntu-noble-arm64", "building", _when(now, 60), interface_ip=None))
    return nodes


def _semaphores(document: dict[str, Any]) -> list[dict[str, Any]]:
    holders = [
        {"buildset_uuid": buildset_uuid(item), "job_name": job["name"]}
        for pipeline, _queue, item in items(document)
        for job in item["jobs"]
        if pipeline == "gate" and job["name"] == "project1-integration" and job["uuid"]
    ]
    return [
        {"name": "integration-lab", "max": 1, "holders": {"this_tenant": holders}},
        {"name": "pypi-upload", "global": True, "max": 1, "holders": {"other_tenants": 1}},
    ]


def _nodeset_requests(document: dict[str, Any], now: float) -> list[dict[str, Any]]:
    requests = []
    for pipeline, _queue, item in items(document):
        for job in item["jobs"]:
            waiting = job["waiting_status"] or ""
            if waiting.startswith(WAITING_FOR_NODES):
                requests.append({
                    "uuid": waiting.removeprefix(WAITING_FOR_NODES),
                    "state": "requested",
                    "pipeline_name": pipeline,
                    "buildset_uuid": buildset_uuid(item),
                    "job_name": job["name"],
                    "labels": ["ubuntu-noble"],
                    "priority": 200,
                    "request_time": _when(now, 45),
                    "zuul_event_id": item["zuul_ref"].removeprefix("Z"),
                })  # fmt: skip
    return requests


def _images(now: float) -> list[dict[str, Any]]:
    artifact = {
        "uuid": "4f8b5c1e2d3a4b6c8d9e0f1a2b3c4d5e",
        "canonical_name": f"{_CANONICAL}/ubuntu-noble",
        "build_uuid": "9a8b7c6d5e4f40312233445566778899",
        "format": "qcow2",
        "url": "https://images.example.org/ubuntu-noble-20250301.qcow2",
        "timestamp": _when(now, 86400),
        "validated": True,
        "state": "ready",
        "state_time": _when(now, 80000),
        "uploads": [{
            "uuid": "0a1b2c3d4e5f46a7b8c9d0e1f2a3b4c5",
            "canonical_name": f"{_CANONICAL}/ubuntu-noble",
            "artifact_uuid": "4f8b5c1e2d3a4b6c8d9e0f1a2b3c4d5e",
            "endpoint_name": f"{PROVIDER}/us-east-1",
            "external_id": "ami-0123456789abcdef0",
            "timestamp": _when(now, 82000),
            "validated": True,
            "state": "ready",
            "state_time": _when(now, 80000),
        }],
    }  # fmt: skip
    return [
        {"name": "ubuntu-noble", "canonical_name": f"{_CANONICAL}/ubuntu-noble",
         "project_canonical_name": _CANONICAL, "branch": "master", "type": "zuul",
         "build_artifacts": [artifact]},
        {"name": "debian-bookworm", "canonical_name": f"{_CANONICAL}/debian-bookworm",
         "project_canonical_name": _CANONICAL, "branch": "master", "type": "cloud"},
    ]  # fmt: skip


def _flavors() -> list[dict[str, Any]]:
    return [
        {"name": "normal", "canonical_name": f"{_CANONICAL}/normal", "description": "4 vCPU, 8 GB"},
        {"name": "large", "canonical_name": f"{_CANONICAL}/large", "description": "16 vCPU, 64 GB"},
    ]


def _providers(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def named(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [{"name": e["name"], "canonical_name": e["canonical_name"]} for e in entries]

    return [{
        "name": PROVIDER,
        "canonical_name": f"{_CANONICAL}/{PROVIDER}",
        "images": [{"name": i["name"], "canonical_name": i["canonical_name"], "type": i["type"]}
                   for i in images],
        "labels": named(_labels()),
        "flavors": named(_flavors()),
    }]  # fmt: skip


def resources(rng: random.Random, document: dict[str, Any], now: float) -> dict[str, list[Any]]:
    """Return every reported list of the demo tenant, by its reporting path's name.

    :param rng: seeded random source.
    :param document: the demo status document the nodes and requests agree with.
    :param now: the epoch time of the document.
    """
    images = _images(now)
    return {
        "labels": _labels(),
        "nodes": _nodes(rng, document, now),
        "semaphores": _semaphores(document),
        "nodeset-requests": _nodeset_requests(document, now),
        "providers": _providers(images),
        "images": images,
        "flavors": _flavors(),
    }


def system_events(now: float) -> list[dict[str, Any]]:
    """Return the demo tenant's system events: a few reconfigurations."""
    kinds = [
        ("full-reconfiguration", "Full reconfiguration after a restart"),
        ("tenant-reconfiguration", "Reconfiguration triggered by example/config change 1150"),
        ("smart-reconfiguration", "Smart reconfiguration by jdoe"),
        ("tenant-reconfiguration", "Reconfiguration triggered by example/project1 change 1188"),
    ]
    return [
        {"event_id": f"5e7a{index:028x}", "event_type": kind, "description": text,
         "event_time": _when(now, (len(kinds) - index) * 3600)}
        for index, (kind, text) in enumerate(kinds)
    ]  # fmt: skip
