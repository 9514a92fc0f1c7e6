"""Forges' webhooks against a live ciweb-api (two workers, the shipped pipeline), over HTTP,
on SQLite and on PostgreSQL.

Real signed payloads of each forge's push and pull/merge request events are posted to
``/api/connection/<name>/payload``; the CI backend's side reads and acknowledges them through
``/api/report/connection/<name>/events``.  Every answer is checked against the OpenAPI
document the server itself serves.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import webob
import yaml

from ciweb.api.auth import mint_token
from tests.functional.ciweb_process import BIN, LISTENING, ROOT, ciweb_api
from tests.unit.api.helpers import OpenApi
from tests.webhooks import CREDENTIAL, FORGES, SECRET, Delivery, conf_text, delivery

JWT_SECRET = "0123456789abcdef0123456789abcdef"
ISSUER = "https://ci.example.org"
PAYLOAD = "/api/connection/{connection}/payload"
FEED = "/api/report/connection/{connection}/events"
ACK = FEED + "/{id}/ack"


@dataclass
class Deployment:
    """A running ciweb-api, the document it serves and a backend token."""

    url: str
    spec: OpenApi
    backend: dict[str, str]

    def post(self, d: Delivery, connection: str | None = None, **kwargs: Any) -> requests.Response:
        return requests.post(
            f"{self.url}/api/connection/{connection or d.forge}/payload",
            data=kwargs.pop("data", d.body),
            headers=kwargs.pop("headers", d.headers),
            timeout=30,
            **kwargs,
        )

    def events(self, connection: str, delivery_id: str) -> list[dict[str, Any]]:
        """Every event (acknowledged or not) of *connection* with *delivery_id*."""
        response = requests.get(
            f"{self.url}{FEED.format(connection=connection)}?pending=false&limit=1000",
            headers=self.backend,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return [e for e in response.json() if e["delivery"] == delivery_id]


def as_webob(response: requests.Response) -> webob.Response:
    """Return *response* as the webob response OpenApi.validate reads (body decoded)."""
    dropped = {"content-encoding", "content-length", "transfer-encoding"}
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in dropped]
    return webob.Response(status=response.status_code, headerlist=headers, body=response.content)


def write_conf(directory: Path, connection: str) -> Path:
    secret_file = directory / "gitlab-secret"
    secret_file.write_text(SECRET + "\n")
    path = directory / "ciweb.conf"
    path.write_text(
        f"[api]\npaste_config = {ROOT / 'etc' / 'api-paste.ini'}\n"
        "[server]\nbind_port = 0\n"
        "[process]\nworkers = 2\n"
        f"[database]\nstate_dir = {directory / 'state'}\nconnection = {connection}\n"
        "[auth]\nauthenticators = ci\n"
        f"[auth_ci]\nissuer_id = {ISSUER}\nclient_id = ciweb\nsecret = {JWT_SECRET}\n"
        + conf_text(
            connection_small=f"driver = github\nwebhook_token = {SECRET}\n"
            "max_body_size = 1024\ntenants = t\n"
        ).replace(
            f"driver = gitlab\nwebhook_token = {SECRET}\n",
            f"driver = gitlab\nwebhook_token_file = {secret_file}\n",
        )
    )
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("webhooks")
    connection = ""
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres")
        connection = str(postgres.create_database(f"webhooks_{os.getpid()}"))
    conf = write_conf(directory, connection)
    migrate = subprocess.run(
        [str(BIN / "ciweb-manage"), "--config-file", str(conf), "db", "upgrade"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    backend = mint_token(
        issuer=ISSUER, audience="ciweb", subject="zuul", key=JWT_SECRET, rights={"report": ["t"]}
    )
    with ciweb_api(conf) as server:
        url = server.wait_for(LISTENING, timeout=90).group(1)
        document = requests.get(f"{url}/api/openapi.yaml", timeout=30)
        yield Deployment(
            url=url,
            spec=OpenApi(yaml.safe_load(document.content)),
            backend={"Authorization": f"Bearer {backend}"},
        )


@pytest.mark.parametrize("kind", ["push", "change"])
@pytest.mark.parametrize("forge", FORGES)
def test_a_signed_delivery_is_stored_once_and_a_redelivery_deduplicated(
    deployment: Deployment, forge: str, kind: str
) -> None:
    d = delivery(forge, kind)
    first = deployment.post(d)
    assert first.status_code == 202, first.text
    deployment.spec.validate(PAYLOAD, as_webob(first), "post")
    assert first.json()["duplicate"] is False
    again = deployment.post(d)
    assert again.status_code == 202
    assert again.json() == {**first.json(), "duplicate": True}
    [event] = deployment.events(forge, d.delivery)
    assert event["event"] == d.event
    assert event["payload"] == json.loads(d.body)
    assert CREDENTIAL[forge].lower() not in event["headers"]


def test_copies_of_one_delivery_arriving_at_once_on_two_workers_make_one_event(
    deployment: Deployment,
) -> None:
    d = delivery("github")
    copies = 8
    barrier = threading.Barrier(copies)
    answers: list[requests.Response] = []

    def send() -> None:
        barrier.wait(timeout=30)
        answers.append(deployment.post(d))

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert [a.status_code for a in answers] == [202] * copies
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * (copies - 1)
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(deployment.events("github", d.delivery)) == 1


@pytest.mark.parametrize("forge", FORGES)
@pytest.mark.parametrize("secret", [None, "not-the-secret"])
def test_a_missing_or_bad_signature_is_401_and_stores_nothing(
    deployment: Deployment, forge: str, secret: str | None
) -> None:
    d = delivery(forge, secret=secret or SECRET)
    if secret is None:
        for name in (CREDENTIAL[forge], "X-Forgejo-Signature"):
            d.headers.pop(name, None)
    response = deployment.post(d)
    assert response.status_code == 401
    deployment.spec.validate(PAYLOAD, as_webob(response), "post")
    assert response.headers["WWW-Authenticate"].startswith(CREDENTIAL[forge])
    assert deployment.events(forge, d.delivery) == []


def test_an_oversized_body_is_413_and_stores_nothing(deployment: Deployment) -> None:
    d = delivery("github")  # about 1.6 kB against max_body_size = 1024
    response = deployment.post(d, "small")
    assert response.status_code == 413
    deployment.spec.validate(PAYLOAD, as_webob(response), "post")
    assert deployment.events("small", d.delivery) == []


def test_an_oversized_body_is_refused_before_the_client_sends_it(deployment: Deployment) -> None:
    """With ``Expect: 100-continue`` the client waits for a go-ahead that never comes."""
    d = delivery("github")
    address = urlsplit(deployment.url)
    head = [
        "POST /api/connection/small/payload HTTP/1.1",
        f"Host: {address.netloc}",
        "Content-Length: 2048",  # over the connection's 1024, under the pipeline's 1 MiB
        "Expect: 100-continue",
        *(f"{k}: {v}" for k, v in d.headers.items()),
        "",
        "",
    ]
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall("\r\n".join(head).encode("latin-1"))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    assert b"100 Continue" not in received


def test_an_unknown_connection_is_404(deployment: Deployment) -> None:
    response = deployment.post(delivery("github"), "bitbucket")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == "Not Found"


def test_the_backend_reads_and_acknowledges_events_through_the_feed(
    deployment: Deployment,
) -> None:
    mine = [delivery("gitlab", kind) for kind in ("push", "change")]
    ids = [deployment.post(d).json()["id"] for d in mine]
    feed = f"{deployment.url}{FEED.format(connection='gitlab')}"
    pending = requests.get(feed, headers=deployment.backend, timeout=30)
    deployment.spec.validate(FEED, as_webob(pending))
    assert set(ids) <= {e["id"] for e in pending.json()}
    for event_id in ids:
        ack = requests.post(
            f"{deployment.url}{ACK.format(connection='gitlab', id=event_id)}",
            headers=deployment.backend,
            timeout=30,
        )
        assert ack.status_code == 200
        deployment.spec.validate(ACK, as_webob(ack), "post")
    left = requests.get(feed, headers=deployment.backend, timeout=30).json()
    assert not set(ids) & {e["id"] for e in left}
    assert all(e["acknowledged"] for e in deployment.events("gitlab", mine[0].delivery))
    anonymous = requests.get(feed, timeout=30)
    assert anonymous.status_code == 401


def test_the_connections_are_listed(deployment: Deployment) -> None:
    response = requests.get(f"{deployment.url}/api/connections", timeout=30)
    deployment.spec.validate("/api/connections", as_webob(response))
    assert [c["name"] for c in response.json()] == ["gitea", "github", "gitlab", "small"]


def test_a_connection_without_a_secret_stops_start_up_naming_the_option(tmp_path: Path) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text(
        f"[api]\npaste_config = {ROOT / 'etc' / 'api-paste.ini'}\n"
        f"[database]\nstate_dir = {tmp_path}\n"
        "[connection github]\ndriver = github\n"
    )
    subprocess.run(
        [str(BIN / "ciweb-manage"), "--config-file", str(conf), "db", "upgrade"],
        capture_output=True, timeout=120, cwd=ROOT, check=True,
    )  # fmt: skip
    result = subprocess.run(
        [str(BIN / "ciweb-api"), "--config-file", str(conf)],
        capture_output=True, text=True, timeout=90, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert "[connection github] webhook_token: is required" in result.stderr
    assert "Traceback" not in result.stderr
