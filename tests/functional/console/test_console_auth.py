"""The console stream of a read-protected tenant over a real websocket: the token of the first
message decides, as the REST reads' Authorization header does (reference/zuul-api.md §2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from ciweb.api.auth import mint_token
from tests.functional.console.conftest import TENANT, Live, make_build, start_live
from tests.functional.console.test_console_stream import read_until_closed

pytestmark = pytest.mark.timeout(60)

SECRET = "functional-console-secret-" + "x" * 32
ISSUER = "https://issuer.example"
# TENANT is protected; "other-tenant" stays open.
AUTH_CONF = f"""
[auth]
authenticators = ci
read_protected_tenants = {TENANT}
[auth_ci]
issuer_id = {ISSUER}
client_id = ciweb
secret = {SECRET}
"""


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A live server whose ciweb.conf protects TENANT, also served on the whitelabel path."""
    yield from start_live(
        tmp_path_factory.mktemp("console-auth"),
        f"poll_interval = 0.05\nheartbeat = 0\ntenant = {TENANT}",
        AUTH_CONF,
    )


def token(rights: dict[str, Any] | None = None, expires_in: int = 600) -> str:
    return mint_token(
        issuer=ISSUER,
        audience="ciweb",
        subject="alice",
        key=SECRET,
        rights=rights if rights is not None else {"read": [TENANT]},
        expires_in=expires_in,
    )


def finished_build(live: Live, tenant: str = TENANT) -> str:
    from ciweb.ci import admin

    uuid = make_build(live.store, tenant=tenant)
    admin.append_console(live.store, tenant, uuid, f"log of {tenant}\n", end=True)
    return uuid


def stream(url: str, request: dict[str, Any]) -> tuple[str, int, str]:
    """Send *request* as the first message; return the text received, close code and reason."""
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps(request))
        return read_until_closed(ws)


def whitelabel(live: Live) -> str:
    return live.url.replace("http://", "ws://") + "/api/console-stream"


def test_a_token_with_the_read_right_streams_a_protected_tenant(protected: Live) -> None:
    uuid = finished_build(protected)
    request = {"uuid": uuid, "logfile": "console.log", "token": token()}
    expected = (f"log of {TENANT}\n", 1000, "No more data")
    assert stream(protected.ws_url, request) == expected
    assert stream(whitelabel(protected), request) == expected


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({}, "MissingAuthError"),
        ({"token": "not-a-token"}, "AuthTokenUndecodedException"),
        ({"token": token(expires_in=-60)}, "TokenExpiredError"),
        ({"token": token({"read": ["other-tenant"]})}, "Authorization error"),
    ],
)
def test_a_protected_tenant_closes_a_refused_stream_with_4000_and_zuuls_reason(
    protected: Live, extra: dict[str, Any], reason: str
) -> None:
    uuid = finished_build(protected)
    for url in (protected.ws_url, whitelabel(protected)):
        request = {"uuid": uuid, "logfile": "console.log", **extra}
        assert stream(url, request) == ("", 4000, reason), url


def test_an_open_tenant_streams_without_a_token_and_ignores_a_bad_one(protected: Live) -> None:
    uuid = finished_build(protected, "other-tenant")
    url = protected.url.replace("http://", "ws://") + "/api/tenant/other-tenant/console-stream"
    for extra in ({}, {"token": "not-a-token"}):
        request = {"uuid": uuid, "logfile": "console.log", **extra}
        assert stream(url, request) == ("log of other-tenant\n", 1000, "No more data")


def test_the_stream_and_the_rest_reads_are_protected_by_the_same_configuration(
    protected: Live,
) -> None:
    builds = f"{protected.url}/api/tenant/{TENANT}/builds"
    assert requests.get(builds, timeout=10).status_code == 401
    good = {"Authorization": f"Bearer {token()}"}
    assert requests.get(builds, headers=good, timeout=10).status_code == 200
    open_builds = f"{protected.url}/api/tenant/other-tenant/builds"
    assert requests.get(open_builds, timeout=10).status_code == 200
