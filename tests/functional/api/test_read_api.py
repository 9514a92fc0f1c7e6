"""The read API through the shipped etc/api-paste.ini pipeline, over the demo data, on
SQLite and on PostgreSQL.

Every endpoint's real response (status, media type, body, declared headers) is checked
against the OpenAPI document the service itself serves at /api/openapi.yaml, and, where it
describes the path and status, against Zuul 14.3.0's own openapi.yaml (tests/functional/api/
zuul_openapi.py says how it is read).
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from ciweb.api import openapi
from ciweb.wsgi.loader import load_app
from tests.functional.api.zuul_openapi import ZuulSpec
from tests.functional.console import stack
from tests.unit.api.helpers import TENANT, OpenApi, build_demo_database, get

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

ROOT = Path(__file__).resolve().parents[3]
PASTE = ROOT / "etc" / "api-paste.ini"
TP = "/api/tenant/{tenant}"
T = f"/api/tenant/{TENANT}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> WSGIApplication:
    """The shipped pipeline with a ciweb.conf whose database holds the demo."""
    base = tmp_path_factory.mktemp("read_api")
    state = base / "state"
    state.mkdir()
    connection = ""
    if request.param == "sqlite":
        build_demo_database(base / "demo.sqlite")
        shutil.copy(base / "demo.sqlite", state / "ciweb.sqlite")
    else:
        postgres = request.getfixturevalue("postgres")
        connection = postgres.create_database(f"read_api_{os.getpid()}")
        build_demo_database(connection)
    conf = base / "ciweb.conf"
    conf.write_text(f"[database]\nstate_dir = {state}\nconnection = {connection}\n")
    return load_app(str(PASTE), "main", global_conf={"config_file": str(conf)})


@pytest.fixture(scope="module")
def spec(pipeline: WSGIApplication) -> OpenApi:
    response = get(pipeline, "/api/openapi.yaml")
    assert response.status_code == 200
    assert response.content_type == "application/yaml"  # RFC 9512
    return OpenApi(yaml.safe_load(response.body))


@pytest.fixture(scope="session")
def zuul_spec() -> ZuulSpec:
    """Zuul 14.3.0's openapi.yaml, from the dashboard installed off the zuul wheel."""
    return ZuulSpec(stack.installed_dashboard() / "openapi.yaml")


@pytest.fixture(scope="module")
def ids(pipeline: WSGIApplication) -> dict[str, str]:
    """Identifiers of real objects of the demo data."""
    build = get(pipeline, f"{T}/builds?limit=1").json[0]
    status = get(pipeline, f"{T}/status").json
    item = status["pipelines"][0]["change_queues"][0]["heads"][0][0]
    return {
        "build": build["uuid"],
        "buildset": build["buildset"]["uuid"],
        "change": item["refs"][0]["id"],
    }


FREEZE_JOBS = f"{TP}/pipeline/{{pipeline}}/project/{{project}}/branch/{{branch}}/freeze-jobs"
FREEZE_JOB = f"{TP}/pipeline/{{pipeline}}/project/{{project}}/branch/{{branch}}/freeze-job/{{job}}"
# (OpenAPI path, concrete path with {build}/{buildset}/{change} placeholders, status)
CASES = [
    ("/api", "/api", 200),
    ("/api/info", "/api/info", 200),
    ("/api/tenants", "/api/tenants", 200),
    ("/api/connections", "/api/connections", 200),
    ("/api/components", "/api/components", 200),
    (f"{TP}/info", f"{T}/info", 200),
    (f"{TP}/info", "/api/tenant/nope/info", 200),
    (f"{TP}/tenant-status", f"{T}/tenant-status", 200),
    (f"{TP}/tenant-status", "/api/tenant/nope/tenant-status", 404),
    (f"{TP}/status", f"{T}/status", 200),
    (f"{TP}/status/change/{{change}}", f"{T}/status/change/{{change}}", 200),
    (f"{TP}/jobs", f"{T}/jobs", 200),
    (f"{TP}/job/{{job_name}}", f"{T}/job/tox-py311", 200),
    (f"{TP}/job/{{job_name}}", f"{T}/job/nope", 404),
    (f"{TP}/projects", f"{T}/projects", 200),
    (f"{TP}/project/{{project}}", f"{T}/project/example/project1", 200),
    (f"{TP}/project/{{project}}", f"{T}/project/nope", 404),
    (f"{TP}/project/{{project}}/autohold", f"{T}/project/example/project1/autohold", 200),
    (f"{TP}/pipelines", f"{T}/pipelines", 200),
    (f"{TP}/key/{{project}}.pub", f"{T}/key/example/project1.pub", 200),
    (f"{TP}/project-ssh-key/{{project}}.pub", f"{T}/project-ssh-key/example/project1.pub", 200),
    (f"{TP}/badge", f"{T}/badge?project=example/project1", 200),
    (f"{TP}/badge", f"{T}/badge?project=nope", 404),
    (f"{TP}/builds", f"{T}/builds", 200),
    (f"{TP}/builds", f"{T}/builds?skip=0&limit=50&exclude_result=SKIPPED&complete=true", 200),
    (f"{TP}/builds", f"{T}/builds?project=example/*&voting=True&idx_min=10&idx_max=400", 200),
    (f"{TP}/builds", f"{T}/builds?idx_min=x", 400),
    (f"{TP}/builds", "/api/tenant/nope/builds", 404),
    (f"{TP}/build/{{uuid}}", f"{T}/build/{{build}}", 200),
    (f"{TP}/build/{{uuid}}", f"{T}/build/nope", 404),
    (f"{TP}/build-times", f"{T}/build-times?limit=20", 200),
    (f"{TP}/buildsets", f"{T}/buildsets", 200),
    (
        f"{TP}/buildsets",
        f"{T}/buildsets?skip=0&limit=50&exclude_result=NO_JOBS&exclude_result=DEQUEUED"
        "&complete=true",
        200,
    ),
    (f"{TP}/buildsets", f"{T}/buildsets?limit=-1", 400),
    (f"{TP}/buildset/{{uuid}}", f"{T}/buildset/{{buildset}}", 200),
    (f"{TP}/buildset/{{uuid}}", f"{T}/buildset/nope", 404),
    (f"{TP}/config-errors", f"{T}/config-errors?skip=0&limit=50", 200),
    (f"{TP}/config-errors", f"{T}/config-errors?colour=red", 400),
    (f"{TP}/autohold", f"{T}/autohold", 200),
    (f"{TP}/autohold/{{hold_id}}", f"{T}/autohold/1", 200),
    (f"{TP}/autohold/{{hold_id}}", f"{T}/autohold/2", 404),
    (f"{TP}/autohold/{{hold_id}}", f"{T}/autohold/0000000001", 200),
    (f"{TP}/labels", f"{T}/labels", 200),
    (f"{TP}/nodes", f"{T}/nodes", 200),
    (f"{TP}/semaphores", f"{T}/semaphores", 200),
    (f"{TP}/system-events", f"{T}/system-events", 200),
    (f"{TP}/system-events", f"{T}/system-events?event_type=smart-reconfiguration&limit=2", 200),
    (f"{TP}/system-events", f"{T}/system-events?idx_max=x", 400),
    (f"{TP}/nodeset-requests", f"{T}/nodeset-requests", 200),
    (f"{TP}/providers", f"{T}/providers", 200),
    (f"{TP}/images", f"{T}/images", 200),
    (f"{TP}/flavors", f"{T}/flavors", 200),
    (f"{TP}/flavors", "/api/tenant/nope/flavors", 404),
    (f"{TP}/tenant-ssh-key/ssh.pub", f"{T}/tenant-ssh-key/ssh.pub", 200),
    (f"{TP}/tenant-ssh-key/ssh.pub", "/api/tenant/other-tenant/tenant-ssh-key/ssh.pub", 404),
    (FREEZE_JOBS, f"{T}/pipeline/check/project/example/project1/branch/master/freeze-jobs", 200),
    (FREEZE_JOBS, f"{T}/pipeline/gate/project/review.example.org/example/project1/branch/"
                  "stable/2024.1/freeze-jobs", 200),
    (FREEZE_JOBS, f"{T}/pipeline/check/project/nope/branch/master/freeze-jobs", 404),
    (FREEZE_JOB, f"{T}/pipeline/check/project/example/project1/branch/stable/2024.1/"
                 "freeze-job/tox-docs", 200),
    (FREEZE_JOB, f"{T}/pipeline/check/project/example/project1/branch/master/freeze-job/x", 404),
]  # fmt: skip


@pytest.mark.parametrize(("template", "path", "status"), CASES, ids=[c[1] for c in CASES])
def test_every_endpoint_answers_as_the_openapi_documents_say(
    pipeline: WSGIApplication,
    spec: OpenApi,
    zuul_spec: ZuulSpec,
    ids: dict[str, str],
    template: str,
    path: str,
    status: int,
) -> None:
    concrete = path.format(**ids)
    response = get(pipeline, concrete)
    assert response.status_code == status, response.body[:300]
    spec.validate(template, response)
    if zuul_spec.covers(template, "get", status):
        zuul_spec.validate(template, concrete, response)


def test_zuuls_document_is_checked_where_it_describes_the_path(zuul_spec: ZuulSpec) -> None:
    covered = {t for t, _p, status in CASES if zuul_spec.covers(t, "get", status)}
    # Zuul's document has no /api/openapi.yaml, build-times' 200, status/change... but most.
    assert len(covered) >= 30
    assert {FREEZE_JOBS, FREEZE_JOB, f"{TP}/flavors", f"{TP}/builds"} <= covered


def test_zuuls_document_refuses_an_answer_that_breaks_it(
    pipeline: WSGIApplication, zuul_spec: ZuulSpec
) -> None:
    # The check can fail: Zuul's flavors are objects with string names.
    response = get(pipeline, f"{T}/flavors")
    response.body = b'[{"name": 1}]'
    with pytest.raises(Exception, match="not valid"):
        zuul_spec.validate(f"{TP}/flavors", f"{T}/flavors", response)


def test_every_read_path_of_the_read_fragments_is_exercised() -> None:
    documented = set()
    for fragment in (openapi.HEAD_FRAGMENT, "resources.yaml"):
        read = yaml.safe_load((openapi.FRAGMENTS / fragment).read_text())
        documented |= {p for p, item in read["paths"].items() if "get" in item}
    exercised = {template for template, _path, _status in CASES} | {"/api/openapi.yaml"}
    assert documented - exercised == set()


def test_status_answers_a_matching_etag_with_304(pipeline: WSGIApplication) -> None:
    first = get(pipeline, f"{T}/status")
    assert first.headers["Cache-Control"] == "public, max-age=1"
    tag = first.headers["ETag"]
    again = get(pipeline, f"{T}/status", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.body == b""
    assert again.headers["ETag"] == tag
    since = get(
        pipeline, f"{T}/status", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status_code == 304


def test_status_answers_the_etag_of_a_compressed_variant_with_304(
    pipeline: WSGIApplication,
) -> None:
    zipped = get(pipeline, f"{T}/status", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.body).startswith(b"{")
    tag = zipped.headers["ETag"]
    again = get(pipeline, f"{T}/status", headers={"Accept-Encoding": "gzip", "If-None-Match": tag})
    assert again.status_code == 304
    assert again.body == b""


def test_a_changed_etag_gets_the_document(pipeline: WSGIApplication) -> None:
    response = get(pipeline, f"{T}/status", headers={"If-None-Match": '"old"'})
    assert response.status_code == 200
    assert response.json["pipelines"]


def test_info_is_cached_for_an_hour_and_the_badge_never(pipeline: WSGIApplication) -> None:
    assert get(pipeline, "/api/info").headers["Cache-Control"] == "public, max-age=3600"
    badge = get(pipeline, f"{T}/badge?project=example/project1")
    assert badge.headers["Cache-Control"] == "no-cache"
    assert badge.content_type == "image/svg+xml"


def test_errors_through_the_pipeline_are_json_with_a_request_id(
    pipeline: WSGIApplication,
) -> None:
    response = get(pipeline, "/api/tenant/nope/builds")
    assert response.status_code == 404
    body = response.json
    assert body["description"] == "Unknown tenant"
    assert body["request_id"]


def test_the_dashboard_double_slash_works_through_the_pipeline(pipeline: WSGIApplication) -> None:
    response = get(pipeline, f"{T}//autohold/1")
    assert response.status_code == 200
    assert response.json["id"] == "0000000001"


def test_the_total_count_comes_through_the_pipeline(pipeline: WSGIApplication) -> None:
    response = get(pipeline, f"{T}/builds?limit=1")
    assert response.headers["X-Total-Count"] == "523"
