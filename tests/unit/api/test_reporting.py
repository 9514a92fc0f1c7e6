"""Tests of the reporting API (/api/report/tenant/{t}/...): each endpoint, and every refused
request (400/401/403/404/409/415) leaves the database exactly as it was."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import webob
from sqlalchemy import func, select, text

from ciweb.api import auth, tokens
from ciweb.api.app import ApiApplication
from ciweb.api.context import ApiContext
from ciweb.api.controllers.admin import make_write_controllers
from ciweb.api.routes import ReadControllers, make_mapper
from ciweb.ci import admin, models, writes
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from ciweb.wsgi.router import Router

SECRET = "k" * 32
ISSUER, AUDIENCE = "https://issuer.example.org", "ciweb"
BUILDSET = "a" * 32
BUILD = "b" * 32
URL_VARIABLE = "CIWEB_TEST_DATABASE_URL"
COUNTED = (
    models.Tenant, models.Project, models.ProjectKey, models.Pipeline, models.Job,
    models.JobVariant,
    models.Buildset, models.BuildsetRef, models.BuildsetEvent, models.Build, models.Ref,
    models.ConsoleChunk, models.ConfigError, models.StatusDocument, models.ManagementEvent,
    models.Autohold, models.ReportedDocument,
)  # fmt: skip


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store with tenants t and other, project org/project, pipelines check, gate."""
    url = os.environ.get(URL_VARIABLE) or database_url
    store = Store(make_engine(url), key_bits=2048)
    if os.environ.get(URL_VARIABLE):
        models.Base.metadata.drop_all(store.engine)
        with store.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    store.upgrade()
    for tenant in ("t", "other"):
        writes.upsert_tenant(store, tenant)
    writes.upsert_project(
        store, "t",
        {"name": "org/project", "connection_name": "gerrit", "type": "untrusted",
         "canonical_name": "review.example.org/org/project"},
        with_keys=False,
    )  # fmt: skip
    for name in ("check", "gate"):
        writes.upsert_pipeline(store, "t", {"name": name, "triggers": []})
    yield store
    store.engine.dispose()


def authenticator() -> auth.Auth:
    return auth.Auth(
        [tokens.Authenticator("ci", issuer_id=ISSUER, client_id=AUDIENCE, secret=SECRET)],
        read_protected=["other"],
    )


def make_app(
    store: Store, tenant: str | None = None, *, checker: auth.Auth | None = None
) -> Faults:
    """The API as app.py builds it, behind the faults filter.

    :param checker: the deployment's authenticators; :func:`authenticator` when None.
    """
    context = ApiContext(store=store, tenant=tenant, auth=checker or authenticator())
    read = ReadControllers.build(context, openapi_document=b"")
    mapper = make_mapper(read, tenant=tenant, write=make_write_controllers(context))
    return Faults(ApiApplication(Router(mapper), context))


@pytest.fixture
def app(store: Store) -> Faults:
    return make_app(store)


# Module-level tokens (REPORTER, test_admin's ADMIN) are minted when the suite is collected:
# they must outlive a whole run on busy cores (one took 20 minutes), so they last a day.
def token(subject: str = "zuul", expires_in: int = 86400, **rights: Any) -> str:
    rights = rights or {"report": ["t"]}
    return auth.mint_token(
        issuer=ISSUER, audience=AUDIENCE, subject=subject, key=SECRET, rights=rights,
        expires_in=expires_in,
    )  # fmt: skip


REPORTER = token()


def call(
    app: Faults,
    method: str,
    path: str,
    body: Any = None,
    *,
    bearer: str | None = REPORTER,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
) -> webob.Response:
    req = webob.Request.blank(path, method=method)
    if bearer is not None:
        req.headers["Authorization"] = f"Bearer {bearer}"
    if raw is not None or body is not None:
        req.body = raw if raw is not None else json.dumps(body).encode()
        if content_type is not None:
            req.content_type = content_type
        else:
            req.headers.pop("Content-Type", None)
    return req.get_response(app)


def snapshot(store: Store) -> dict[str, Any]:
    """Every row count, and the content of the mutable rows, to prove nothing was written."""
    with store.read() as session:
        counts = {
            m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in COUNTED
        }
        builds = [
            (b.uuid, b.result, b.log_url, b.start_time, b.end_time)
            for b in session.scalars(select(models.Build).order_by(models.Build.id))
        ]
        buildsets = [
            (b.uuid, b.result, b.message)
            for b in session.scalars(select(models.Buildset).order_by(models.Buildset.id))
        ]
    return {"counts": counts, "builds": builds, "buildsets": buildsets}


def buildset_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "uuid": BUILDSET,
        "pipeline": "check",
        "refs": [{"project": "org/project", "ref": "refs/changes/01/1/1", "change": 1,
                  "patchset": "1", "branch": "main"}],
        "event_id": "e1",
        "queue_item_uuid": "c" * 32,
    }  # fmt: skip
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


@pytest.fixture
def with_build(app: Faults) -> Faults:
    """The app, with buildset BUILDSET and its running build BUILD."""
    assert call(app, "POST", "/api/report/tenant/t/buildsets", buildset_body()).status_code == 201
    build = {"uuid": BUILD, "job_name": "tox", "start_time": 1700000000}
    response = call(app, "POST", f"/api/report/tenant/t/buildsets/{BUILDSET}/builds", build)
    assert response.status_code == 201, response.text
    return app


# -- each endpoint -------------------------------------------------------------------------


def test_put_tenant_creates_the_tenant_once(app: Faults, store: Store) -> None:
    bearer = token(report=["new-tenant"])
    response = call(app, "PUT", "/api/report/tenant/new-tenant", {}, bearer=bearer)
    assert response.status_code == 200 and response.json == {"name": "new-tenant"}
    assert call(app, "PUT", "/api/report/tenant/new-tenant", bearer=bearer).status_code == 200
    tenants = call(app, "GET", "/api/tenants", bearer=None).json
    assert [t["name"] for t in tenants].count("new-tenant") == 1


def test_put_project_creates_it_with_keys(app: Faults) -> None:
    body = {"connection_name": "gerrit", "type": "untrusted", "canonical_name": "h/org/new"}
    response = call(app, "PUT", "/api/report/tenant/t/projects/org/new", body)
    assert response.status_code == 200
    assert response.json["name"] == "org/new"
    key = call(app, "GET", "/api/tenant/t/key/org/new.pub", bearer=None)
    assert key.status_code == 200 and key.text.startswith("-----BEGIN PUBLIC KEY-----")


def test_put_pipeline_and_job_are_read_back(app: Faults) -> None:
    pipeline = {"description": "Post merge", "triggers": [{"name": "gerrit", "driver": "gerrit"}]}
    assert call(app, "PUT", "/api/report/tenant/t/pipelines/post", pipeline).status_code == 200
    names = [p["name"] for p in call(app, "GET", "/api/tenant/t/pipelines", bearer=None).json]
    assert "post" in names
    job = {"variants": [{"description": "Run tox.", "branches": ["main"]}]}
    response = call(app, "PUT", "/api/report/tenant/t/jobs/tox", job)
    assert response.status_code == 200 and response.json[0]["name"] == "tox"
    variants = call(app, "GET", "/api/tenant/t/job/tox", bearer=None).json
    assert variants[0]["branches"] == ["main"]


def test_post_buildset_answers_201_with_its_location(app: Faults) -> None:
    response = call(app, "POST", "/api/report/tenant/t/buildsets", buildset_body())
    assert response.status_code == 201
    assert response.headers["Location"] == f"http://localhost/api/tenant/t/buildset/{BUILDSET}"
    assert response.json["uuid"] == BUILDSET
    read = call(app, "GET", response.headers["Location"], bearer=None)
    assert read.json["refs"][0]["project"] == "org/project"


def test_builds_events_and_results_are_recorded(with_build: Faults) -> None:
    app = with_build
    build = call(app, "GET", f"/api/tenant/t/build/{BUILD}", bearer=None).json
    assert build["result"] is None and build["start_time"] == "2023-11-14T22:13:20"
    result = {"result": "SUCCESS", "end_time": 1700000060, "log_url": "https://logs/x/"}
    response = call(app, "PATCH", f"/api/report/tenant/t/builds/{BUILD}", result)
    assert response.status_code == 200 and response.json["duration"] == 60.0
    event = {"event_type": "merged", "description": "merged it"}
    response = call(app, "POST", f"/api/report/tenant/t/buildsets/{BUILDSET}/events", event)
    assert response.status_code == 201 and response.json["event_type"] == "merged"
    response = call(
        app, "PATCH", f"/api/report/tenant/t/buildsets/{BUILDSET}", {"result": "SUCCESS"}
    )
    assert response.status_code == 200 and response.json["result"] == "SUCCESS"
    buildset = call(app, "GET", f"/api/tenant/t/buildset/{BUILDSET}", bearer=None).json
    assert buildset["events"][0]["description"] == "merged it"
    assert buildset["builds"][0]["log_url"] == "https://logs/x/"


def test_console_text_is_appended_until_the_end(with_build: Faults, store: Store) -> None:
    path = f"/api/report/tenant/t/builds/{BUILD}/console"
    assert call(with_build, "POST", path, {"text": "one\n"}).json == {"sequence": 1, "end": False}
    assert call(with_build, "POST", path, {"text": "two\n", "end": True}).json["sequence"] == 2
    assert admin.read_console(store, "t", BUILD)["end"] is True
    after_end = call(with_build, "POST", path, {"text": "late"})
    assert after_end.status_code == 409


def test_put_status_replaces_the_document_byte_for_byte(app: Faults) -> None:
    raw = b'{"pipelines": [],  "zuul_version": "ciweb"}'
    response = call(app, "PUT", "/api/report/tenant/t/status", raw=raw)
    assert response.status_code == 200 and response.json["etag"]
    served = call(app, "GET", "/api/tenant/t/status", bearer=None)
    assert served.body == raw


def test_put_config_errors_replaces_them(app: Faults) -> None:
    errors = [{"error": "bad", "source_context": {"project": "org/project", "branch": "main",
                                                   "path": "zuul.yaml"}}]  # fmt: skip
    response = call(app, "PUT", "/api/report/tenant/t/config-errors", errors)
    assert response.json == {"count": 1}
    assert call(app, "GET", "/api/tenant/t/tenant-status", bearer=None).json == {
        "config_error_count": 1
    }
    assert call(app, "PUT", "/api/report/tenant/t/config-errors", []).json == {"count": 0}


def test_management_events_are_listed_and_acknowledged(app: Faults, store: Store) -> None:
    admin.record_event(store, "t", "promote", {"pipeline": "gate", "changes": ["1,1"]})
    pending = call(app, "GET", "/api/report/tenant/t/events").json
    assert [e["type"] for e in pending] == ["promote"]
    ack = call(app, "POST", f"/api/report/tenant/t/events/{pending[0]['id']}/ack")
    assert ack.status_code == 200 and ack.json["acknowledged"] is not None
    assert call(app, "GET", "/api/report/tenant/t/events").json == []
    everything = call(app, "GET", "/api/report/tenant/t/events?pending=false&limit=5").json
    assert len(everything) == 1
    missing = call(app, "POST", "/api/report/tenant/t/events/999/ack")
    assert missing.status_code == 404 and missing.json["description"] == "Event not found"
    for bad in ("%C2%B2", "9" * 30, "x"):
        refused = call(app, "POST", f"/api/report/tenant/t/events/{bad}/ack")
        assert refused.status_code == 400 and refused.json["field"] == "id", bad


# -- refused requests write nothing ----------------------------------------------------------

TOO_LONG = "x" * 70000
SQL = "check'; DROP TABLE buildsets; --"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("buildsets", {**buildset_body(), "colour": "red"}, "colour"),
        ("buildsets", buildset_body(uuid=None), "uuid"),
        ("buildsets", buildset_body(uuid="not-a-uuid"), "uuid"),
        ("buildsets", buildset_body(uuid="'; DELETE FROM builds; --"), "uuid"),
        ("buildsets", buildset_body(pipeline=SQL), "pipeline"),
        ("buildsets", buildset_body(pipeline=7), "pipeline"),
        ("buildsets", buildset_body(message=TOO_LONG), "message"),
        ("buildsets", buildset_body(queue_item_uuid="q"), "queue_item_uuid"),
        ("buildsets", buildset_body(refs=[]), "refs"),
        ("buildsets", buildset_body(refs=[{"project": "org/project", "ref": "r"},
                                          {"project": "org/project", "ref": 5}]), "ref"),
        ("buildsets", buildset_body(refs=[{"project": "a b", "ref": "r"}]), "refs[0].project"),
        ("buildsets", buildset_body(event_timestamp="yesterday"), "event_timestamp"),
        ("buildsets", buildset_body(parameters=[1]), "parameters"),
        ("buildsets", [buildset_body()], "body"),
        (f"buildsets/{BUILDSET}/builds", {"uuid": "c" * 32, "job_name": "x" * 300}, "job_name"),
        (f"buildsets/{BUILDSET}/builds", {"uuid": "c" * 32, "job_name": "tox", "voting": "yes"},
         "voting"),
        (f"buildsets/{BUILDSET}/builds", {"job_name": "tox"}, "uuid"),
        (f"buildsets/{BUILDSET}/events", {"description": "no type"}, "event_type"),
        (f"builds/{BUILD}/console", {"text": 5}, "text"),
        (f"builds/{BUILD}/console", {"text": "x", "end": "yes"}, "end"),
        (f"builds/{BUILD}/console", {"text": "x", "more": 1}, "more"),
    ],
)  # fmt: skip
def test_an_invalid_post_is_400_naming_the_field_and_writes_nothing(
    with_build: Faults, store: Store, path: str, body: Any, field: str
) -> None:
    before = snapshot(store)
    response = call(with_build, "POST", f"/api/report/tenant/t/{path}", body)
    assert response.status_code == 400, response.text
    assert response.json["field"] == field
    assert field in response.json["description"]
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PATCH", f"builds/{BUILD}", {"result": "SUCCESS", "end_time": "soon"}, "end_time"),
        ("PATCH", f"builds/{BUILD}", {"result": "SUCCESS", "artifacts": [{"name": "a"}]}, "url"),
        ("PATCH", f"builds/{BUILD}", {"result": "SUCCESS", "job_name": "renamed"}, "job_name"),
        ("PATCH", "builds/zzz", {"result": "SUCCESS"}, "uuid"),
        ("PATCH", f"buildsets/{BUILDSET}", {"result": "OK", "message": TOO_LONG}, "message"),
        ("PATCH", f"buildsets/{BUILDSET}", {"result": "OK", "pipeline": "gate"}, "pipeline"),
        ("PUT", "projects/org/new", {"connection_name": "g", "type": "public"}, "type"),
        ("PUT", "projects/org/new", {"connection_name": "g", "type": "config", "name": "o"},
         "name"),
        ("PUT", "projects/org;drop", {"connection_name": "g", "type": "config"}, "name"),
        ("PUT", "pipelines/post", {"triggers": [{"name": "g"}]}, "driver"),
        ("PUT", "jobs/tox", {"variants": []}, "variants"),
        ("PUT", "jobs/tox", {"variants": [{"branches": "main"}]}, "variants[0].branches"),
        ("PUT", "status", {"pipeline": []}, "status"),
        ("PUT", "config-errors", [{"error": "e"}, {"error": "e", "severity": "fatal"}],
         "severity"),
        ("PUT", "config-errors", {"error": "e"}, "errors"),
        ("GET", "events?limit=many", None, "limit"),
        ("GET", "events?colour=red", None, "colour"),
        ("POST", "events/x1/ack", None, "id"),
    ],
)  # fmt: skip
def test_an_invalid_update_is_400_naming_the_field_and_writes_nothing(
    with_build: Faults, store: Store, method: str, path: str, body: Any, field: str
) -> None:
    before = snapshot(store)
    response = call(with_build, method, f"/api/report/tenant/t/{path}", body)
    assert response.status_code == 400, response.text
    assert response.json["field"] == field
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"uuid": ', "body"),
        (b'{"uuid": "a", "uuid": "b"}', "uuid"),
        (b'{"count": NaN}', "body"),
        (b'{"text": "\xff"}', "body"),
        # RFC 8259 §8.2: an unpaired surrogate escape (a pair is one character, accepted).
        (b'{"uuid": "\\ud800"}', "uuid"),
        (b'{"refs": [{"project": "a\\udfffb"}]}', "refs"),
        (b'{"\\ud800": 1}', "body"),
        (b"[" * 100000 + b"]" * 100000, "body"),
    ],
)
def test_a_body_that_is_not_json_is_400_and_writes_nothing(
    with_build: Faults, store: Store, raw: bytes, field: str
) -> None:
    before = snapshot(store)
    response = call(with_build, "POST", "/api/report/tenant/t/buildsets", raw=raw)
    assert response.status_code == 400
    assert response.json["field"] == field
    assert snapshot(store) == before


def test_sql_in_free_text_is_stored_verbatim(with_build: Faults, store: Store) -> None:
    message = "'); DROP TABLE builds; --"
    response = call(
        with_build, "PATCH", f"/api/report/tenant/t/buildsets/{BUILDSET}", {"message": message}
    )
    assert response.status_code == 200 and response.json["message"] == message
    assert snapshot(store)["counts"]["builds"] == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_application_json_is_415(
    app: Faults, store: Store, content_type: str | None
) -> None:
    before = snapshot(store)
    response = call(
        app, "POST", "/api/report/tenant/t/buildsets", buildset_body(), content_type=content_type
    )
    assert response.status_code == 415
    assert "application/json" in response.json["description"]
    assert snapshot(store) == before


def test_json_with_a_charset_parameter_is_accepted(app: Faults) -> None:
    response = call(
        app, "POST", "/api/report/tenant/t/buildsets", buildset_body(),
        content_type="application/json; charset=utf-8",
    )  # fmt: skip
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("bearer", "status", "error"),
    [
        (None, 401, "MissingAuthError"),
        ("garbage", 401, "AuthTokenUndecodedException"),
        (token(expires_in=-30), 401, "TokenExpiredError"),
        (token(report=["other"]), 403, "Forbidden"),
        (token(admin=["t"]), 403, "Forbidden"),
        (token(read=["t"]), 403, "Forbidden"),
    ],
)
def test_a_write_without_the_report_right_is_refused_and_writes_nothing(
    app: Faults, store: Store, bearer: str | None, status: int, error: str
) -> None:
    before = snapshot(store)
    # Authentication comes first: even a body of the wrong type is answered 401/403.
    response = call(
        app, "POST", "/api/report/tenant/t/buildsets", raw=b"x", bearer=bearer,
        content_type="text/plain",
    )  # fmt: skip
    assert response.status_code == status
    assert response.json["error"] == error
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert snapshot(store) == before


def test_a_report_right_on_every_tenant_still_needs_the_tenant_to_exist(app: Faults) -> None:
    response = call(
        app, "POST", "/api/report/tenant/ghost/buildsets", buildset_body(),
        bearer=token(report="*"),
    )  # fmt: skip
    assert response.status_code == 404
    assert response.json["description"] == "Unknown tenant"


def test_a_second_buildset_with_one_uuid_is_409(with_build: Faults, store: Store) -> None:
    before = snapshot(store)
    response = call(with_build, "POST", "/api/report/tenant/t/buildsets", buildset_body())
    assert response.status_code == 409
    assert snapshot(store) == before


def test_a_build_of_an_unknown_buildset_is_404(app: Faults) -> None:
    response = call(
        app, "POST", f"/api/report/tenant/t/buildsets/{'d' * 32}/builds",
        {"uuid": BUILD, "job_name": "tox"},
    )  # fmt: skip
    assert response.status_code == 404
    assert response.json["description"] == "Buildset not found"


def test_the_wrong_method_is_405_with_allow(app: Faults) -> None:
    response = call(app, "DELETE", "/api/report/tenant/t/status")
    assert response.status_code == 405
    assert response.headers["Allow"] == "PUT, OPTIONS"
