"""The server's own error answers are JSON under ``json_error_prefixes``, plain text elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.functional.apps import SECRET, ServerProcess
from tests.functional.wsgi.client import Connection, Response, get, refused

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """A server whose errors under /api and /fail are JSON."""
    limits = {"max_request_line": 256, "header_timeout": 0.5}
    with ServerProcess(limits=limits, json_error_prefixes=["/api", "/fail/"]) as proc:
        yield proc


def error(response: Response) -> dict[str, str]:
    assert response.header("Content-Type") == JSON
    body: dict[str, str] = json.loads(response.body)
    return body


@pytest.mark.parametrize(
    "target",
    ["/api/tenant/a%01b", "/api%2Fx%00", "/api/%00", "http://example.com/api/%7f?q=1"],
)
def test_a_refused_target_under_a_prefix_is_answered_with_json(
    server: ServerProcess, target: str
) -> None:
    response = refused(server.port, get(target), "HTTP/1.1 400 Bad Request")
    assert error(response) == {
        "error": "Bad Request",
        "description": "control character in request target",
    }


@pytest.mark.parametrize("target", ["/x%01", "/apix%01", "/ap%01"])
def test_a_refused_target_elsewhere_is_answered_with_plain_text(
    server: ServerProcess, target: str
) -> None:
    response = refused(server.port, get(target), "HTTP/1.1 400 Bad Request")
    assert response.header("Content-Type") == TEXT
    assert response.body == b"control character in request target\n"


def test_a_bad_header_of_an_api_request_is_answered_with_json(server: ServerProcess) -> None:
    response = refused(server.port, get("/api/info", "Bad Name: x\r\n"), "HTTP/1.1 400 Bad Request")
    assert error(response)["description"] == "malformed header field"


def test_a_request_line_too_long_under_a_prefix_is_a_json_414(server: ServerProcess) -> None:
    response = refused(server.port, get("/api/" + "a" * 300), "HTTP/1.1 414 URI Too Long")
    assert error(response) == {"error": "URI Too Long", "description": "request line too long"}


def test_a_request_line_naming_no_path_is_answered_with_plain_text(
    server: ServerProcess,
) -> None:
    response = refused(server.port, b"NONSENSE\r\n\r\n", "HTTP/1.1 400 Bad Request")
    assert response.header("Content-Type") == TEXT


def test_a_slow_api_head_gets_a_json_408(server: ServerProcess) -> None:
    with Connection(server.port) as conn:
        conn.send(b"GET /api/info HTTP/1.1\r\nHost: t\r\n")
        response = conn.read_response()
        conn.assert_closed()
    assert response.status == 408
    assert error(response)["error"] == "Request Timeout"


def test_an_application_failure_under_a_prefix_is_a_json_500_without_details(
    server: ServerProcess,
) -> None:
    response = refused(server.port, get("/fail/now"), "HTTP/1.1 500 Internal Server Error")
    assert error(response) == {
        "error": "Internal Server Error",
        "description": "Internal Server Error",
    }
    assert SECRET.encode() not in response.body
