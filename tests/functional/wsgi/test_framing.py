"""Message framing (RFC 9112 §6, §7.1) and head syntax (RFC 9112 §2.2, §3, §5) over raw sockets."""

from __future__ import annotations

import pytest

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection, get, refused, request

BAD = "HTTP/1.1 400 Bad Request"


def post(path: str, headers: str, body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    return f"POST {path} {version}\r\nHost: t\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    "lengths",
    [
        ["5", "5"],
        ["5", "6"],
        ["+5"],
        ["5,5"],
        ["-1"],
        ["0x10"],
        ["1e3"],
        ["\u0665"],
    ],
)
def test_a_content_length_that_is_not_one_plain_number_gets_400(
    server: ServerProcess, lengths: list[str]
) -> None:
    headers = "".join(f"Content-Length: {v}\r\n" for v in lengths)
    refused(server.port, post("/body", headers, b"hello"), BAD)


def test_an_absolute_target_python_cannot_split_gets_400(server: ServerProcess) -> None:
    refused(server.port, get("http://[abc/"), BAD)


def test_ows_around_a_content_length_is_stripped(server: ServerProcess) -> None:
    response, conn = request(server.port, post("/body", "Content-Length:  5 \r\n", b"hello"))
    with conn:
        assert (response.status, response.body) == (200, b"5:hello")


@pytest.mark.parametrize(
    ("coding", "status"),
    [
        ("gzip, chunked", "HTTP/1.1 501 Not Implemented"),
        ("chunked, gzip", "HTTP/1.1 501 Not Implemented"),
        ("xchunked", "HTTP/1.1 501 Not Implemented"),
        ("chunked, chunked", BAD),
    ],
)
def test_transfer_codings_other_than_one_final_chunked_are_refused(
    server: ServerProcess, coding: str, status: str
) -> None:
    refused(server.port, post("/body", f"Transfer-Encoding: {coding}\r\n", b"0\r\n\r\n"), status)


def test_transfer_encoding_with_content_length_gets_400(server: ServerProcess) -> None:
    headers = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"
    refused(server.port, post("/body", headers, b"0\r\n\r\n"), BAD)


def test_transfer_encoding_in_http_1_0_gets_400(server: ServerProcess) -> None:
    data = post("/body", "Transfer-Encoding: chunked\r\n", b"0\r\n\r\n", "HTTP/1.0")
    refused(server.port, data, BAD)


def test_a_smuggled_request_in_the_body_never_gets_a_response(server: ServerProcess) -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    for headers in (
        f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n",
        f"Transfer-Encoding: chunked\r\nContent-Length: {len(body)}\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
    ):
        with Connection(server.port) as conn:
            conn.send(post("/ignore", headers, body))
            everything = conn.read_all()
        assert everything.count(b"HTTP/1.1 ") == 1, everything
        assert everything.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 501 "))


def test_a_valid_chunked_body_reaches_the_app_intact(server: ServerProcess) -> None:
    body = b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n"
    response, conn = request(server.port, post("/body", "Transfer-Encoding: chunked\r\n", body))
    with conn:
        assert (response.status, response.body) == (200, b"16:hello 0123456789")


def test_trailers_are_accepted_and_discarded(server: ServerProcess) -> None:
    body = b"2\r\nhi\r\n0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"
    with Connection(server.port) as conn:
        conn.send(post("/echo", "Transfer-Encoding: chunked\r\n", body))
        response = conn.read_response()
        assert response.status == 200
        assert b"X_TRAILER" not in response.body
        assert b'"body": "hi"' in response.body
        # The connection is still in step: the next request is served.
        conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.read_response().body == b"hello"


@pytest.mark.parametrize(
    "size_line", [b"0x5", b"+5", b" 5", b"1_0", b"zz", b"5\x00", b"-5", b"5\r5"]
)
def test_a_malformed_chunk_size_gets_400_and_a_close(
    server: ServerProcess, size_line: bytes
) -> None:
    body = size_line + b"\r\nhello\r\n0\r\n\r\n"
    refused(server.port, post("/body", "Transfer-Encoding: chunked\r\n", body), BAD)


def test_chunk_data_not_followed_by_crlf_gets_400(server: ServerProcess) -> None:
    body = b"5\r\nhelloXX0\r\n\r\n"
    refused(server.port, post("/body", "Transfer-Encoding: chunked\r\n", body), BAD)


@pytest.mark.parametrize(
    "data",
    [
        b"GET /a\rb HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\rHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: a\x1bb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A : b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX-A: b\r\n folded\r\n\r\n",
        b"GET /a%00b HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /a%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /a\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    ],
    ids=[
        "bare-cr-in-target",
        "bare-cr-ending-request-line",
        "bare-cr-in-value",
        "nul-in-value",
        "esc-in-value",
        "space-before-colon",
        "obs-fold",
        "encoded-nul",
        "encoded-crlf",
        "raw-nul-in-target",
        "no-host",
        "two-hosts",
    ],
)
def test_malformed_heads_get_400_and_never_reach_the_app(
    server: ServerProcess, data: bytes
) -> None:
    response = refused(server.port, data, BAD)
    assert b"hello" not in response.body


def test_http_1_0_needs_no_host(server: ServerProcess) -> None:
    response, conn = request(server.port, b"GET / HTTP/1.0\r\n\r\n")
    with conn:
        assert (response.status, response.body) == (200, b"hello")
        conn.assert_closed()
