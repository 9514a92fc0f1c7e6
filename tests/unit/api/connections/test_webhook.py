"""Tests of the webhook routes (/api/connection/<name>/payload) and the connection event feed,
in process through the application app_factory builds from a ciweb.conf with connections.

Every refused delivery leaves the database empty; refusals that need no body never read it
(the request's input raises if it is touched)."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import webob
import yaml
from sqlalchemy import select

from ciweb.api import auth, openapi
from ciweb.api.app import app_factory
from ciweb.ci.engine import make_engine
from ciweb.ci.models import WebhookEvent
from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import OpenApi, copy_database
from tests.webhooks import CREDENTIAL, FORGES, SECRET, Delivery, conf_text, delivery, hex_hmac

JWT_SECRET = "j" * 32
ISSUER = "https://ci.example.org"
PAYLOAD = "/api/connection/{connection}/payload"
FEED = "/api/report/connection/{connection}/events"
ACK = FEED + "/{id}/ack"
SPEC = OpenApi(openapi.load_document())


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the body was read")

    readline = read


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("webhooks") / "template.sqlite"
    store = Store(make_engine(f"sqlite:///{path}"))
    store.upgrade()
    store.engine.dispose()
    return path


@pytest.fixture
def database(template: Path, tmp_path: Path) -> str:
    return copy_database(template, tmp_path / "ciweb.sqlite")


@pytest.fixture
def app(database: str, tmp_path: Path) -> Faults:
    conf = tmp_path / "ciweb.conf"
    conf.write_text(
        f"[database]\nconnection = {database}\n"
        f"[auth]\nauthenticators = ci\n"
        f"[auth_ci]\nissuer_id = {ISSUER}\nclient_id = ciweb\nsecret = {JWT_SECRET}\n"
        + conf_text(
            connection_small=f"driver = github\nwebhook_token = {SECRET}\nmax_body_size = 1024\n",
            connection_open=f"driver = gitea\nwebhook_token = {SECRET}\n",
        )
    )
    return Faults(app_factory({"config_file": str(conf)}))


def stored(database: str) -> list[WebhookEvent]:
    engine = make_engine(database)
    try:
        with Store(engine).read() as session:
            return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
    finally:
        engine.dispose()


def post(
    app: Faults,
    d: Delivery,
    connection: str | None = None,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    **environ: Any,
) -> webob.Response:
    data = d.body if body is None else body
    req = webob.Request.blank(
        f"/api/connection/{connection or d.forge}/payload",
        method="POST",
        headers={**d.headers, **(headers or {})},
        body=data,
    )
    if "wsgi.input" in environ:
        req.environ.pop("webob.is_body_seekable", None)  # webob would rewind the new input
    req.environ.update(environ)
    return req.get_response(app)


def token(**rights: Any) -> dict[str, str]:
    value = auth.mint_token(
        issuer=ISSUER, audience="ciweb", subject="backend", key=JWT_SECRET, rights=rights
    )
    return {"Authorization": f"Bearer {value}"}


def get(app: Faults, path: str, method: str = "GET", **headers: str) -> webob.Response:
    return webob.Request.blank(path, method=method, headers=headers).get_response(app)


# -- good deliveries ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["push", "change"])
@pytest.mark.parametrize("forge", FORGES)
def test_a_signed_delivery_is_stored_with_its_payload_and_answered_202(
    app: Faults, database: str, forge: str, kind: str
) -> None:
    d = delivery(forge, kind)
    response = post(app, d)
    assert response.status_code == 202, response.body
    SPEC.validate(PAYLOAD, response, "post")
    assert response.json["event"] == d.event
    assert response.json["delivery"] == d.delivery
    assert response.json["connection"] == response.json["driver"] == forge
    assert response.json["duplicate"] is False
    [row] = stored(database)
    assert row.payload == json.loads(d.body)
    assert row.event == d.event and row.delivery == d.delivery
    assert row.headers["user-agent"] == d.headers["User-Agent"]
    for name in ("x-hub-signature", "x-hub-signature-256", "x-gitlab-token", "x-gitea-signature"):
        assert name not in row.headers


@pytest.mark.parametrize("forge", FORGES)
def test_a_redelivery_is_stored_once(app: Faults, database: str, forge: str) -> None:
    d = delivery(forge)
    first = post(app, d)
    again = post(app, d)
    assert again.status_code == 202
    assert again.json == {**first.json, "duplicate": True}
    assert len(stored(database)) == 1


def test_gitlab_without_an_idempotency_key_uses_the_event_uuid(app: Faults, database: str) -> None:
    d = delivery("gitlab")
    del d.headers["Idempotency-Key"]
    assert post(app, d).json["delivery"] == d.headers["X-Gitlab-Event-UUID"]


def test_without_a_delivery_id_the_same_bytes_are_the_same_delivery(
    app: Faults, database: str
) -> None:
    d = delivery("github")
    del d.headers["X-GitHub-Delivery"]
    first = post(app, d).json
    assert first["delivery"] == "sha256:" + hashlib.sha256(d.body).hexdigest()
    assert post(app, d).json["duplicate"] is True
    assert len(stored(database)) == 1


def test_forgejo_headers_alone_are_enough(app: Faults, database: str) -> None:
    d = delivery("gitea")
    for name in ("X-Gitea-Signature", "X-Gitea-Event", "X-Gitea-Event-Type", "X-Gitea-Delivery"):
        del d.headers[name]
    d.headers.update({"X-Forgejo-Event": "push", "X-Forgejo-Delivery": d.delivery})
    response = post(app, d)
    assert response.status_code == 202, response.body
    assert stored(database)[0].headers["x-forgejo-event"] == "push"


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_a_form_encoded_payload_is_signed_and_decoded_as_sent(
    app: Faults, database: str, forge: str
) -> None:
    d = delivery(forge)
    body = urllib.parse.urlencode({"payload": d.body.decode()}).encode()
    signature = hex_hmac(SECRET, body)
    signed = {"X-Hub-Signature-256": f"sha256={signature}", "X-Gitea-Signature": signature}
    headers = {**signed, "Content-Type": "application/x-www-form-urlencoded"}
    response = post(app, d, body=body, headers=headers)
    assert response.status_code == 202, response.body
    assert stored(database)[0].payload == json.loads(d.body)


def test_a_chunked_body_within_the_limit_is_read(app: Faults, database: str) -> None:
    d = delivery("github")
    response = post(
        app, d, body=b"",
        **{"wsgi.input": io.BytesIO(d.body), "wsgi.input_terminated": True,
           "HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""},
    )  # fmt: skip
    assert response.status_code == 202, response.body


# -- refused deliveries: nothing stored -------------------------------------------------------


@pytest.mark.parametrize("forge", FORGES)
def test_a_missing_credential_is_401_before_the_body_is_read(
    app: Faults, database: str, forge: str
) -> None:
    d = delivery(forge)
    for name in (CREDENTIAL[forge], "X-Forgejo-Signature"):
        d.headers.pop(name, None)
    response = post(app, d, **{"wsgi.input": Untouchable()})
    assert response.status_code == 401
    SPEC.validate(PAYLOAD, response, "post")
    assert response.json["description"] == f"{CREDENTIAL[forge]} header missing"
    assert response.headers["WWW-Authenticate"] == f'{CREDENTIAL[forge]} realm="{forge}"'
    assert stored(database) == []


@pytest.mark.parametrize("forge", FORGES)
def test_the_wrong_secret_is_401(app: Faults, database: str, forge: str) -> None:
    response = post(app, delivery(forge, secret="not-the-secret"))
    assert response.status_code == 401
    assert response.content_type == "application/json"
    assert stored(database) == []


def test_a_wrong_gitlab_token_is_refused_without_reading_the_body(
    app: Faults, database: str
) -> None:
    d = delivery("gitlab", secret=SECRET + "x")
    response = post(app, d, **{"wsgi.input": Untouchable()})
    assert response.status_code == 401
    assert response.json["description"] == "X-Gitlab-Token does not match the webhook's secret"


@pytest.mark.parametrize("forge", ["github", "gitea"])
def test_a_body_changed_after_signing_is_401(app: Faults, database: str, forge: str) -> None:
    d = delivery(forge)
    response = post(app, d, body=d.body.replace(b"main", b"evil"))
    assert response.status_code == 401
    assert "does not match the payload" in response.json["description"]
    assert stored(database) == []


@pytest.mark.parametrize(
    "value", ["sha1=" + "0" * 40, "sha256=" + "z" * 64, "sha256=" + "0" * 63, "0" * 64, ""]
)
def test_a_malformed_github_signature_is_401_before_the_body_is_read(
    app: Faults, database: str, value: str
) -> None:
    d = delivery("github")
    d.headers["X-Hub-Signature-256"] = value
    response = post(app, d, **{"wsgi.input": Untouchable()})
    assert response.status_code == 401
    assert response.json["description"] == (
        "X-Hub-Signature-256 must be sha256=<64 hexadecimal digits>"
    )


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    app: Faults, database: str
) -> None:
    d = delivery("github")
    response = post(app, d, "small", **{"wsgi.input": Untouchable(), "CONTENT_LENGTH": "1025"})
    assert response.status_code == 413
    SPEC.validate(PAYLOAD, response, "post")
    assert response.json["description"] == "the payload is larger than 1024 bytes"
    assert stored(database) == []


def test_a_chunked_body_over_the_limit_is_413(app: Faults, database: str) -> None:
    big = b'{"pad": "' + b"x" * 4096 + b'"}'
    d = delivery("github")
    d.headers["X-Hub-Signature-256"] = "sha256=" + hex_hmac(SECRET, big)
    stream = io.BytesIO(big)
    response = post(
        app, d, "small", body=b"",
        **{"wsgi.input": stream, "wsgi.input_terminated": True,
           "HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""},
    )  # fmt: skip
    assert response.status_code == 413
    assert stream.tell() <= 1025 + 65536  # never much more than the limit
    assert stored(database) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"ref": ', "body"),
        (b"[1, 2]", "body"),
        (b'{"a": 1, "a": 2}', "a"),
        (b"\xff\xfe", "body"),
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_400_naming_the_field(
    app: Faults, database: str, body: bytes, field: str
) -> None:
    d = delivery("github")
    d.headers["X-Hub-Signature-256"] = "sha256=" + hex_hmac(SECRET, body)
    response = post(app, d, body=body)
    assert response.status_code == 400
    SPEC.validate(PAYLOAD, response, "post")
    assert response.json["field"] == field
    assert stored(database) == []


def test_another_media_type_is_415(app: Faults, database: str) -> None:
    response = post(app, delivery("github"), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert stored(database) == []


def test_a_form_without_exactly_one_payload_field_is_400(app: Faults, database: str) -> None:
    body = b"payload=%7B%7D&other=1"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Hub-Signature-256": "sha256=" + hex_hmac(SECRET, body),
    }
    response = post(app, delivery("github"), body=body, headers=headers)
    assert response.status_code == 400
    assert stored(database) == []


def test_a_signed_delivery_without_its_event_header_is_400(app: Faults, database: str) -> None:
    d = delivery("github")
    del d.headers["X-GitHub-Event"]
    response = post(app, d)
    assert response.status_code == 400
    assert response.json["field"] == "X-GitHub-Event"
    assert stored(database) == []


def test_a_delivery_id_with_control_characters_is_400(app: Faults, database: str) -> None:
    response = post(app, delivery("github"), headers={"X-GitHub-Delivery": "a\tb"})
    assert response.status_code == 400
    assert response.json["field"] == "X-GitHub-Delivery"


def test_an_unknown_connection_is_404_and_a_get_405(app: Faults) -> None:
    response = post(app, delivery("github"), "bitbucket")
    assert response.status_code == 404
    assert response.content_type == "application/json"
    wrong = get(app, "/api/connection/github/payload")
    assert wrong.status_code == 405
    # The router answers a bare OPTIONS on every route, as zuul-web does.
    assert wrong.headers["Allow"] == "POST, OPTIONS"


def test_the_connections_are_listed_in_zuuls_shape(app: Faults) -> None:
    response = get(app, "/api/connections")
    SPEC.validate("/api/connections", response)
    names = [c["name"] for c in response.json]
    assert names == ["gitea", "github", "gitlab", "open", "small"]


def test_reported_connections_follow_the_configured_ones_unless_a_name_is_taken(
    app: Faults, database: str
) -> None:
    from ciweb.ci import documents

    engine = make_engine(database)
    try:
        documents.replace_connections(
            Store(engine),
            [
                {"name": "gerrit", "driver": "gerrit", "port": 29418},
                {"name": "github", "driver": "github", "baseurl": "https://shadowed.example"},
            ],
        )
    finally:
        engine.dispose()
    response = get(app, "/api/connections")
    SPEC.validate("/api/connections", response)
    names = [c["name"] for c in response.json]
    assert names == ["gitea", "github", "gitlab", "open", "small", "gerrit"]
    github = response.json[1]
    assert github["driver"] == "github" and github.get("baseurl") != "https://shadowed.example"
    assert response.json[-1] == {"name": "gerrit", "driver": "gerrit", "port": 29418}


def test_the_document_describes_the_connection_paths(app: Faults) -> None:
    document = yaml.safe_load(get(app, "/api/openapi.yaml").body)
    for path in (PAYLOAD, FEED, ACK):
        assert path in document["paths"]


# -- the feed ---------------------------------------------------------------------------------


def test_the_backend_reads_and_acknowledges_a_connections_events(app: Faults) -> None:
    ids = [post(app, delivery("github", kind)).json["id"] for kind in ("push", "change")]
    post(app, delivery("gitlab"))
    reporter = token(report=["t"])
    listed = get(app, FEED.format(connection="github"), **reporter)
    assert listed.status_code == 200
    SPEC.validate(FEED, listed)
    assert [e["id"] for e in listed.json] == ids
    assert listed.json[1]["payload"]["pull_request"]["number"] == 1347
    acked = get(app, ACK.format(connection="github", id=ids[0]), "POST", **reporter)
    SPEC.validate(ACK, acked, "post")
    assert acked.json["acknowledged"] is not None
    pending = get(app, FEED.format(connection="github"), **reporter).json
    assert [e["id"] for e in pending] == ids[1:]
    everything = get(app, FEED.format(connection="github") + "?pending=false", **reporter).json
    assert [e["acknowledged"] is None for e in everything] == [False, True]


def test_the_feed_needs_a_token_with_the_report_right_on_a_tenant_of_the_connection(
    app: Faults,
) -> None:
    path = FEED.format(connection="github")
    missing = get(app, path)
    assert missing.status_code == 401
    SPEC.validate(FEED, missing)
    elsewhere = get(app, path, **token(report=["other"]))
    assert elsewhere.status_code == 403
    assert get(app, path, **token(admin=["t"], read=["t"])).status_code == 403
    assert get(app, path, **token(report="*")).status_code == 200


def test_a_connection_without_tenants_is_read_with_the_report_right_everywhere(app: Faults) -> None:
    path = FEED.format(connection="open")
    assert get(app, path, **token(report=["t"])).status_code == 403
    assert get(app, path, **token(report="*")).status_code == 200


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (FEED.format(connection="nope"), 404),
        (FEED.format(connection="github") + "?color=red", 400),
        (FEED.format(connection="github") + "?limit=x", 400),
    ],
)
def test_bad_feed_requests(app: Faults, path: str, status: int) -> None:
    response = get(app, path, **token(report="*"))
    assert response.status_code == status
    SPEC.validate(FEED, response)


@pytest.mark.parametrize(("event_id", "status"), [("abc", 400), ("999", 404)])
def test_acknowledging_a_bad_or_unknown_event(app: Faults, event_id: str, status: int) -> None:
    response = get(app, ACK.format(connection="github", id=event_id), "POST", **token(report="*"))
    assert response.status_code == status
    SPEC.validate(ACK, response, "post")


def test_another_connections_event_cannot_be_acknowledged_here(app: Faults) -> None:
    event_id = post(app, delivery("gitlab")).json["id"]
    path = ACK.format(connection="github", id=event_id)
    assert get(app, path, "POST", **token(report="*")).status_code == 404
    pending = get(app, FEED.format(connection="gitlab"), **token(report="*")).json
    assert [e["id"] for e in pending] == [event_id]
