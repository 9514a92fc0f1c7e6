"""The console_stream filter in process: which requests it takes, and its answers before a
websocket upgrade (the websocket itself is tested against a live server in
tests/functional/console)."""

from __future__ import annotations

from pathlib import Path

import pytest
import webob

from ciweb.api.console import ConsoleStream, filter_factory
from ciweb.conf import ConfigError

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
