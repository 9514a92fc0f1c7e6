"""Tests of the reporting API of resources and job graphs: each report is read back in Zuul's
shape, and every refused report (400/401/403/404/415) leaves the database exactly as it was."""

from __future__ import annotations

from typing import Any

import pytest

from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from tests.unit.api import test_reporting as base

# The fixtures and helpers of the reporting tests: one app, one store, one token issuer.
store = base.store
app = base.app
call, snapshot, token = base.call, base.snapshot, base.token

R = "/api/report/tenant/t"
NODE = {"uuid": "n1", "label": "ubuntu-noble", "state": "ready"}
GRAPH = {
    "pipeline": "check",
    "project": "org/project",
    "branch": "stable/2024.1",
    "jobs": [{"name": "lint"},
             {"name": "tox", "dependencies": [{"name": "lint"}],
              "frozen": {"job": "tox", "nodeset": {"name": "n"}, "vars": {"a": 1}}}],
}  # fmt: skip
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEU5ES0IrMUH6W2wu4fZeGo5GaHxblZCSTo+r0U59gHF"

# (reporting path, body, read path, what the read answers)
REPORTS: list[tuple[str, Any, str, Any]] = [
    ("labels", [{"name": "ubuntu-noble"}], "labels", [{"name": "ubuntu-noble"}]),
    ("flavors", [{"name": "large", "canonical_name": "h/large"}], "flavors",
     [{"name": "large", "canonical_name": "h/large", "description": None}]),
    ("semaphores", [{"name": "lab", "max": 1}], "semaphores",
     [{"name": "lab", "max": 1, "global": False,
       "holders": {"count": 0, "this_tenant": [], "other_tenants": 0}}]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "body", "read", "answer"), REPORTS)
def test_a_list_report_is_read_back_in_zuuls_shape(app: Faults, kind, body, read, answer) -> None:
    response = call(app, "PUT", f"{R}/{kind}", body)
    assert response.status_code == 200 and response.json == {"count": len(body)}
    assert call(app, "GET", f"/api/tenant/t/{read}", bearer=None).json == answer


def test_every_list_kind_has_a_report_path(app: Faults) -> None:
    for kind in ("labels", "nodes", "semaphores", "nodeset-requests", "providers", "images",
                 "flavors"):  # fmt: skip
        assert call(app, "PUT", f"{R}/{kind}", []).json == {"count": 0}


def test_a_job_graph_is_served_as_freeze_jobs_and_freeze_job(app: Faults) -> None:
    response = call(app, "PUT", f"{R}/job-graphs", GRAPH)
    assert response.status_code == 200
    assert response.json == {"pipeline": "check", "project": "review.example.org/org/project",
                             "branch": "stable/2024.1", "jobs": 2}  # fmt: skip
    base_path = "/api/tenant/t/pipeline/check/project/org/project/branch/stable/2024.1"
    graph = call(app, "GET", f"{base_path}/freeze-jobs", bearer=None).json
    assert graph == [{"name": "lint", "dependencies": []},
                     {"name": "tox", "dependencies": [{"name": "lint", "soft": False}]}]
    frozen = call(app, "GET", f"{base_path}/freeze-job/tox", bearer=None).json
    assert frozen["vars"] == {"a": 1} and frozen["nodeset"]["nodes"] == []


def test_system_events_tenant_key_components_and_connections(app: Faults) -> None:
    events = [{"event_id": "e1", "event_type": "reconfigure"}]
    assert call(app, "POST", f"{R}/system-events", events).json == {"count": 1}
    again = call(app, "POST", f"{R}/system-events", events)
    assert again.status_code == 409
    key = call(app, "PUT", f"{R}/tenant-ssh-key", {"public_key": ED25519})
    assert key.json == {"public_key": ED25519}
    assert call(app, "GET", "/api/tenant/t/tenant-ssh-key/ssh.pub", bearer=None).text == (
        ED25519 + "\n")  # fmt: skip
    everywhere = token(report="*")
    components = {"web": [{"hostname": "w", "state": "running"}]}
    response = call(app, "PUT", "/api/report/components", components, bearer=everywhere)
    assert response.status_code == 200
    assert call(app, "GET", "/api/components", bearer=None).json == {
        "web": [{"hostname": "w", "state": "running", "version": None}]}  # fmt: skip
    connections = [{"name": "gerrit", "driver": "gerrit"}]
    assert call(app, "PUT", "/api/report/connections", connections,
                bearer=everywhere).json == {"count": 1}  # fmt: skip
    assert call(app, "GET", "/api/connections", bearer=None).json == connections


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("labels", [{"name": "a"}, {"name": 1}], "labels[1].name"),
        ("labels", {"name": "a"}, "labels"),
        ("nodes", [{**NODE, "state": None}], "nodes[0].state"),
        ("nodes", [NODE, NODE], "nodes[1].uuid"),
        ("semaphores", [{"name": "s", "max": 1, "holders": {"count": 3}}],
         "semaphores[0].holders.count"),
        ("images", [{"name": "i", "canonical_name": "c", "type": "vm"}], "images[0].type"),
        ("system-events", [{"event_id": "e"}], "events[0].event_type"),
        ("tenant-ssh-key", {"public_key": "ssh-rsa AAAA"}, "public_key"),
        ("job-graphs", {**GRAPH, "pipeline": "nope"}, "pipeline"),
        ("job-graphs", {**GRAPH, "project": "org/nope"}, "project"),
        ("job-graphs", {**GRAPH, "jobs": [{"name": "a", "dependencies": [{"name": "a"}]}]},
         "jobs[0].dependencies"),
        ("job-graphs", {**GRAPH, "jobs": [{"name": "a", "frozen": {"vars": {}}}]},
         "jobs[0].frozen.job"),
    ],
)
def test_a_bad_report_is_400_naming_the_field_and_writes_nothing(
    app: Faults, store: Store, path: str, body: Any, field: str
) -> None:
    method = "POST" if path == "system-events" else "PUT"
    before = snapshot(store)
    response = call(app, method, f"{R}/{path}", body)
    assert response.status_code == 400, response.text
    assert response.json["field"] == field
    assert response.json["description"].startswith(field + ": ")
    assert snapshot(store) == before


def test_root_reports_need_the_report_right_on_every_tenant(app: Faults, store: Store) -> None:
    before = snapshot(store)
    body = {"web": [{"hostname": "w", "state": "running"}]}
    assert call(app, "PUT", "/api/report/components", body).status_code == 403
    assert call(app, "PUT", "/api/report/connections", [], bearer=None).status_code == 401
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("bearer", "status"), [(None, 401), (token(report=["other"]), 403), (token(read=["t"]), 403)]
)
def test_tenant_reports_need_the_report_right(app: Faults, store: Store, bearer, status) -> None:
    before = snapshot(store)
    assert call(app, "PUT", f"{R}/labels", [{"name": "x"}], bearer=bearer).status_code == status
    assert snapshot(store) == before


def test_an_unknown_tenant_and_a_wrong_media_type_write_nothing(app: Faults, store: Store) -> None:
    before = snapshot(store)
    assert call(app, "PUT", "/api/report/tenant/nope/labels", [],
                bearer=token(report="*")).status_code == 404  # fmt: skip
    assert call(app, "PUT", f"{R}/nodes", [NODE], content_type="text/plain").status_code == 415
    assert snapshot(store) == before
