"""Versions, errors, keep-alive, bodyless responses, access log and PEP 3333 over raw sockets."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests.functional.apps import SECRET, ServerProcess
from tests.functional.wsgi.client import Connection, get, refused, request

VERSION = "HTTP/1.1 505 HTTP Version Not Supported"


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.0", "HTTP/0.9"])
def test_other_major_versions_get_505_with_a_status_line(
    server: ServerProcess, version: str
) -> None:
    refused(server.port, get(version=version), VERSION)


def test_http_1_2_is_answered_as_http_1_1(server: ServerProcess) -> None:
    response, conn = request(server.port, get("/echo", version="HTTP/1.2"))
    with conn:
        assert response.status_line == "HTTP/1.1 200 OK"
        assert b'"SERVER_PROTOCOL": "HTTP/1.1"' in response.body


@pytest.mark.parametrize(
    "data", [b"garbage\r\n\r\n", b"GET /\r\n\r\n", b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n"]
)
def test_garbage_and_http_0_9_request_lines_get_400(server: ServerProcess, data: bytes) -> None:
    refused(server.port, data, "HTTP/1.1 400 Bad Request")


def test_an_app_that_raises_gets_a_500_without_traceback(server: ServerProcess) -> None:
    response = refused(server.port, get("/fail"), "HTTP/1.1 500 Internal Server Error")
    assert b"Traceback" not in response.body
    assert SECRET.encode() not in response.body


def test_an_app_that_raises_after_starting_the_body_gets_the_connection_closed(
    server: ServerProcess,
) -> None:
    with Connection(server.port) as conn:
        conn.send(get("/fail-late"))
        everything = conn.read_all()
    assert everything.startswith(b"HTTP/1.1 200 OK\r\n")
    assert everything.count(b"HTTP/1.1") == 1
    assert b"partial" in everything
    # The chunked body is never terminated: the client sees a truncated response.
    assert not everything.endswith(b"0\r\n\r\n")
    assert SECRET.encode() not in everything


def test_a_webob_exception_without_a_faults_filter_keeps_its_status(
    server: ServerProcess,
) -> None:
    response, conn = request(server.port, get("/notfound"))
    with conn:
        assert response.status_line == "HTTP/1.1 404 Not Found"


def test_a_response_header_with_crlf_gets_500_and_is_not_split(server: ServerProcess) -> None:
    response = refused(server.port, get("/badheader"), "HTTP/1.1 500 Internal Server Error")
    assert response.header("X-Injected") is None
    assert response.header("X-Bad") is None


def test_the_500_after_a_failed_chunked_head_is_framed_by_its_own_length(
    server: ServerProcess,
) -> None:
    response = refused(server.port, get("/badheader?chunked"), "HTTP/1.1 500 Internal Server Error")
    assert response.header("Transfer-Encoding") is None
    assert response.body == b"Internal Server Error\n"


def test_expect_is_ignored_in_http_1_0(server: ServerProcess) -> None:
    # RFC 9110 §10.1.1: no "100 Continue" for an HTTP/1.0 client.
    with Connection(server.port) as conn:
        conn.send(b"POST /body HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello")
        response = conn.read_response()
    assert (response.status_line, response.body) == ("HTTP/1.1 200 OK", b"5:hello")


def test_two_requests_share_one_keep_alive_connection(server: ServerProcess) -> None:
    with Connection(server.port) as conn:
        conn.send(get("/echo"))
        first = conn.read_response()
        conn.send(get("/stream"))
        second = conn.read_response()
    assert first.header("Connection") is None
    assert second.header("Transfer-Encoding") == "chunked"
    assert second.body == b"one,two,three"
    assert b'"REMOTE_PORT"' in first.body


def test_keepalive_off_closes_after_each_response(no_keepalive: ServerProcess) -> None:
    response, conn = request(no_keepalive.port, get())
    with conn:
        assert response.header("Connection") == "close"
        conn.assert_closed()


def test_http_1_0_closes_unless_keep_alive_is_asked(server: ServerProcess) -> None:
    response, conn = request(server.port, b"GET / HTTP/1.0\r\n\r\n")
    with conn:
        assert response.header("Connection") == "close"
        conn.assert_closed()
    with Connection(server.port) as conn:
        for _ in range(2):
            conn.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            response = conn.read_response()
            assert response.header("Connection") == "keep-alive"
            assert response.body == b"hello"


def test_http_1_0_without_a_length_ends_the_body_with_the_connection(
    server: ServerProcess,
) -> None:
    response, conn = request(server.port, b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    with conn:
        assert response.header("Connection") == "close"
        assert response.header("Transfer-Encoding") is None
        assert response.body == b"one,two,three"


def test_expect_100_continue_is_answered_before_the_body_is_read(server: ServerProcess) -> None:
    with Connection(server.port) as conn:
        conn.send(
            b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = conn.read_response()
        assert interim.status_line == "HTTP/1.1 100 Continue"
        conn.send(b"hello")
        response = conn.read_response()
    assert (response.status, response.body) == (200, b"5:hello")


def test_a_small_unread_body_is_drained_and_the_connection_reused(
    validating: ServerProcess,
) -> None:
    body = b"x" * 60000
    with Connection(validating.port) as conn:
        conn.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\n" + body)
        assert conn.read_response().body == b"ignored"
        conn.send(get())
        assert conn.read_response().body == b"hello"


def test_a_large_unread_body_closes_the_connection(validating: ServerProcess) -> None:
    body = b"x" * 70000
    with Connection(validating.port) as conn:
        conn.send(b"POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n" + body)
        assert conn.read_response().body == b"ignored"
        conn.assert_closed()


@pytest.mark.parametrize("path", ["/status/204", "/status/204?length=1", "/status/304"])
def test_204_and_304_carry_no_body_and_no_transfer_encoding(
    server: ServerProcess, path: str
) -> None:
    with Connection(server.port) as conn:
        conn.send(get(path))
        response = conn.read_response(head_only=True)
        assert response.header("Transfer-Encoding") is None
        if response.status == 204:
            # RFC 9110 §8.6: no Content-Length in a 204.
            assert response.header("Content-Length") is None
        # No stray body bytes: the next response follows at once.
        conn.send(get())
        assert conn.read_response().status_line == "HTTP/1.1 200 OK"


def test_an_app_answering_1xx_as_final_gets_500(server: ServerProcess) -> None:
    refused(server.port, get("/status/103"), "HTTP/1.1 500 Internal Server Error")


@pytest.mark.parametrize("path", ["/status/200?length=1", "/stream"])
def test_head_gets_the_headers_and_no_body(server: ServerProcess, path: str) -> None:
    with Connection(server.port) as conn:
        conn.send(f"HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        response = conn.read_response(head_only=True)
        assert response.status == 200
        if "length" in path:
            assert response.header("Content-Length") == "4"
        conn.send(get())
        assert conn.read_response().status_line == "HTTP/1.1 200 OK"


def wait_for_line(path: Path, needle: str, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        found = [line for line in lines if needle in line]
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{needle!r} not logged in {path}")


def test_the_access_log_has_one_line_per_request_in_the_configured_format(
    server: ServerProcess, access_log: Path
) -> None:
    marker = uuid.uuid4().hex
    response, conn = request(server.port, get(f"/{marker}"))
    conn.close()
    assert response.status == 200
    assert wait_for_line(access_log, marker) == [f"ACCESS 127.0.0.1 GET /{marker} HTTP/1.1 200 5"]


def test_the_access_log_skips_requests_the_app_logged(
    server: ServerProcess, access_log: Path
) -> None:
    marker = uuid.uuid4().hex
    with Connection(server.port) as conn:
        conn.send(get(f"/nolog/{marker}"))
        assert conn.read_response().body == b"unlogged"
        conn.send(get(f"/after/{marker}"))
        assert conn.read_response().status == 200
    wait_for_line(access_log, f"/after/{marker}")
    assert f"/nolog/{marker}" not in access_log.read_text()


@pytest.mark.parametrize(
    ("data", "status", "body"),
    [
        (get("/echo"), 200, None),
        (b"HEAD /status/200?length=1 HTTP/1.1\r\nHost: t\r\n\r\n", 200, b""),
        (b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", 200, b"5:hello"),
        (
            b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            200,
            b"3:abc",
        ),
        (get("/notfound"), 404, None),
        (get("/fail"), 500, b"Internal Server Error\n"),
    ],
)
def test_the_environ_and_responses_pass_wsgiref_validate(
    validating: ServerProcess, data: bytes, status: int, body: bytes | None
) -> None:
    with Connection(validating.port) as conn:
        conn.send(data)
        response = conn.read_response(head_only=data.startswith(b"HEAD"))
    assert response.status == status, response
    if body is not None:
        assert response.body == body
