"""The console_stream filter in process: which requests it takes, its answers before a
websocket upgrade, and the read protection of a stream's first message (the websocket
itself is tested against a live server in tests/functional/console)."""

from __future__ import annotations

import json
import os
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import eventlet
import pytest
import webob

from ciweb.api.auth import mint_token
from ciweb.api.console import ConsoleStream, filter_factory
from ciweb.api.console_session import _close_reason
from ciweb.conf import ConfigError

SECRET = "console-secret-" + "s" * 32
AUTH_CONF = f"""
[auth]
authenticators = ci
read_protected_tenants = secret
[auth_ci]
issuer_id = https://issuer.example
client_id = ciweb
secret = {SECRET}
"""

UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}


def api(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"api"]


@pytest.fixture
def stream(ciweb_conf: Path) -> ConsoleStream:
    return filter_factory({"config_file": str(ciweb_conf)}, tenant="white", max_streams="1")(api)


def call(app: ConsoleStream, path: str, **kw: object) -> webob.Response:
    return webob.Request.blank(path, **kw).get_response(app)  # type: ignore[arg-type]


def test_other_paths_go_to_the_api(stream: ConsoleStream) -> None:
    for path in ("/api/tenants", "/api/tenant/t/console-stream/x", "/api/tenant/t/builds"):
        assert call(stream, path).body == b"api", path


def test_a_plain_get_without_upgrade_is_a_json_400(stream: ConsoleStream) -> None:
    response = call(stream, "/api/tenant/t/console-stream")
    assert response.status_int == 400
    assert response.content_type == "application/json"
    assert "Upgrade: websocket" in response.json["description"]


def test_an_upgrade_outside_the_eventlet_server_is_a_json_501(stream: ConsoleStream) -> None:
    response = call(stream, "/api/tenant/t/console-stream", headers=UPGRADE)
    assert response.status_int == 501
    assert "eventlet" in response.json["description"]
    assert stream.active == 0


def test_the_whitelabel_path_is_taken_only_when_a_tenant_is_configured(
    stream: ConsoleStream, ciweb_conf: Path
) -> None:
    assert call(stream, "/api/console-stream").status_int == 400
    plain = filter_factory({"config_file": str(ciweb_conf)})(api)
    assert call(plain, "/api/console-stream").body == b"api"


def test_options_is_204_and_other_methods_are_405(stream: ConsoleStream) -> None:
    options = call(stream, "/api/tenant/t/console-stream", method="OPTIONS")
    assert options.status_int == 204
    assert options.headers["Allow"] == "GET, OPTIONS"
    post = call(stream, "/api/tenant/t/console-stream", method="POST")
    assert post.status_int == 405


def test_bad_options_are_refused_naming_the_option(ciweb_conf: Path) -> None:
    with pytest.raises(ConfigError, match="max_streams"):
        filter_factory({"config_file": str(ciweb_conf)}, max_streams="0")
    with pytest.raises(ConfigError, match="unknown option"):
        filter_factory({"config_file": str(ciweb_conf)}, max_stream="3")


# The read protection of the stream: the token of the first message.


class Viewer:
    """The client side of an upgraded websocket, as eventlet's WebSocket shows it to a handler.

    :param first: the first message the client sends; later reads wait until killed.
    """

    def __init__(self, first: dict[str, Any]) -> None:
        self.first: str | None = json.dumps(first)
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    def wait(self) -> str | None:
        if self.first is not None:
            message, self.first = self.first, None
            return message
        eventlet.event.Event().wait()  # a viewer that stays: the handler kills this reader
        return None

    def send(self, text: str, control_code: int | None = None) -> None:
        self.sent.append(text)

    def close(self, close_data: tuple[int, str]) -> None:
        self.closed = close_data


@pytest.fixture
def protected(ciweb_conf: Path) -> Iterator[ConsoleStream]:
    """A console filter whose ciweb.conf protects the tenant "secret" and leaves "open" open."""
    from ciweb.ci import writes

    with ciweb_conf.open("a") as conf:
        conf.write(AUTH_CONF)
    stream = filter_factory({"config_file": str(ciweb_conf)}, heartbeat="0")(api)
    for tenant in ("secret", "open"):
        writes.upsert_tenant(stream.store, tenant)
    yield stream
    stream.store.engine.dispose()


def finished_build(stream: ConsoleStream, tenant: str, text: str) -> str:
    """Record a started build of *tenant* whose whole console is *text*; return its uuid."""
    from ciweb.ci import admin

    build = started_build(stream, tenant)
    admin.append_console(stream.store, tenant, build, text, end=True)
    return build


def started_build(stream: ConsoleStream, tenant: str) -> str:
    """Record a started build of *tenant* without result nor console text; return its uuid."""
    from ciweb.ci import reporting

    buildset, build = uuidlib.uuid4().hex, uuidlib.uuid4().hex
    ref = {"project": "org/project", "ref": "refs/heads/main", "branch": "main"}
    reporting.create_buildset(
        stream.store, tenant, {"uuid": buildset, "pipeline": "check", "refs": [ref]}
    )
    reporting.create_build(
        stream.store,
        tenant,
        buildset,
        {"uuid": build, "job_name": "tox", "start_time": "2025-01-01T00:00:00"},
    )
    return build


def token(rights: dict[str, Any] | None = None, **kwargs: Any) -> str:
    return mint_token(
        issuer="https://issuer.example",
        audience="ciweb",
        subject="alice",
        key=SECRET,
        rights=rights if rights is not None else {"read": ["secret"]},
        **kwargs,
    )


def watch(stream: ConsoleStream, tenant: str, request: dict[str, Any]) -> Viewer:
    """Run one stream of *tenant* whose client sends *request*; return the viewer."""
    viewer = Viewer(request)
    stream.handler_for(tenant, "req-test")(viewer)
    return viewer


def test_a_protected_tenant_streams_to_a_token_with_the_read_right(
    protected: ConsoleStream,
) -> None:
    uuid = finished_build(protected, "secret", "secret log\n")
    viewer = watch(protected, "secret", {"uuid": uuid, "logfile": "console.log", "token": token()})
    assert (viewer.sent, viewer.closed) == (["secret log\n"], (1000, "No more data"))


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({}, "MissingAuthError"),
        ({"token": None}, "MissingAuthError"),
        ({"token": ""}, "MissingAuthError"),
        ({"token": "not-a-jwt"}, "AuthTokenUndecodedException"),
        ({"token": token(expires_in=-60)}, "TokenExpiredError"),
        ({"token": token({"read": ["open"]})}, "Authorization error"),
        ({"token": 42}, "'token' must be a string"),
    ],
)
def test_a_protected_tenant_closes_a_refused_token_with_4000_before_sending_anything(
    protected: ConsoleStream, extra: dict[str, Any], reason: str
) -> None:
    uuid = finished_build(protected, "secret", "secret log\n")
    viewer = watch(protected, "secret", {"uuid": uuid, "logfile": "console.log", **extra})
    assert (viewer.sent, viewer.closed) == ([], (4000, reason))


def test_a_refused_client_cannot_tell_an_unknown_build_from_a_real_one(
    protected: ConsoleStream,
) -> None:
    real = finished_build(protected, "secret", "secret log\n")
    for uuid in (real, "0" * 32):
        viewer = watch(protected, "secret", {"uuid": uuid, "logfile": "console.log"})
        assert viewer.closed == (4000, "MissingAuthError")
    viewer = watch(protected, "secret", {"uuid": "0" * 32, "logfile": "x", "token": token()})
    assert viewer.closed == (4011, "Build not found")


def test_an_open_tenant_ignores_the_token_even_a_bad_one(protected: ConsoleStream) -> None:
    uuid = finished_build(protected, "open", "open log\n")
    for extra in ({}, {"token": "not-a-jwt"}, {"token": token(expires_in=-60)}):
        viewer = watch(protected, "open", {"uuid": uuid, "logfile": "console.log", **extra})
        assert (viewer.sent, viewer.closed) == (["open log\n"], (1000, "No more data")), extra


def test_a_close_reason_is_cut_to_the_123_bytes_of_a_close_frame_on_a_character() -> None:
    # RFC 6455 §5.5: 125 bytes of control frame payload, 2 of them the close code.
    assert _close_reason("MissingAuthError") == "MissingAuthError"
    cut = _close_reason("é" * 100)  # 200 bytes of UTF-8
    assert cut == "é" * 61 and len(cut.encode()) == 122


def test_the_filter_reads_auth_from_every_config_file_as_the_api_does(
    ciweb_conf: Path, tmp_path: Path
) -> None:
    second = tmp_path / "auth.conf"
    second.write_text(AUTH_CONF)
    files = os.pathsep.join([str(ciweb_conf), str(second)])
    stream = filter_factory({"config_file": files})(api)
    assert stream.auth.read_protected("secret") and not stream.auth.read_protected("open")
    assert not filter_factory({"config_file": str(ciweb_conf)})(api).auth.read_protected("secret")


def test_a_bad_database_connection_fails_at_start_up_as_the_api_does(ciweb_conf: Path) -> None:
    bad = ciweb_conf.parent / "bad.conf"
    bad.write_text(ciweb_conf.read_text() + "[database]\nconnection = not a url\n")
    with pytest.raises(ConfigError, match=r"\[database\] connection"):
        filter_factory({"config_file": str(bad)})


def test_a_bad_auth_option_fails_at_start_up(ciweb_conf: Path) -> None:
    with ciweb_conf.open("a") as conf:
        conf.write("[auth]\nread_protected_tenants = secret\n")
    with pytest.raises(ConfigError, match="read_protected_tenants"):
        filter_factory({"config_file": str(ciweb_conf)})


def test_the_store_and_auth_are_built_once_per_filter_not_per_stream(
    protected: ConsoleStream,
) -> None:
    first, second = protected.handler_for("secret"), protected.handler_for("open")
    assert first.store is second.store is protected.store
    assert first.auth is second.auth is protected.auth


def test_a_followed_stream_resolves_the_build_once_then_makes_two_queries_per_idle_poll(
    ciweb_conf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event
    from sqlalchemy.sql.util import find_tables

    from ciweb.ci import writes
    from ciweb.ci.models import Tenant

    store = filter_factory({"config_file": str(ciweb_conf)})(api).store
    # Tighter than [console] allows, to see many polls in a short test.
    stream = ConsoleStream(api, store=store, heartbeat=0, poll_interval=0.01, idle_timeout=0.5)
    writes.upsert_tenant(stream.store, "open")
    build = started_build(stream, "open")
    # The queries of each poll, a poll being what runs between two of the stream's sleeps.
    polls: list[list[Any]] = [[]]
    sleep = eventlet.sleep

    def poll_ends(seconds: float = 0) -> None:
        polls.append([])
        sleep(seconds)

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if context.compiled is not None:  # a query, not SQLite's BEGIN of each transaction
            polls[-1].append(context.compiled.statement)

    monkeypatch.setattr(eventlet, "sleep", poll_ends)
    event.listen(stream.store.engine, "before_cursor_execute", record)
    try:
        viewer = watch(stream, "open", {"uuid": build, "logfile": "console.log"})
    finally:
        event.remove(stream.store.engine, "before_cursor_execute", record)
        stream.store.engine.dispose()
    assert viewer.closed == (1001, "Idle timeout")
    # The start: the build looked up by tenant and uuid (the only query that reads tenants),
    # then the first poll.
    first, *idle = polls
    reads_tenants = [q for poll in polls for q in poll if Tenant.__table__ in find_tables(q)]
    assert reads_tenants == [first[0]]
    assert len(first) == 3
    # Every later poll: the chunks after the last one sent, and the build's result. The
    # last one times out after its two queries, without a sleep.
    assert len(idle) >= 3
    assert [len(poll) for poll in idle] == [2] * len(idle)
