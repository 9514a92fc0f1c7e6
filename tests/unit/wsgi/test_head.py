"""Unit tests of the strict request-head parsing in :mod:`ciweb.wsgi.head`."""

from __future__ import annotations

from typing import Any

import pytest

from ciweb.wsgi import head
from ciweb.wsgi.head import Refuse


def status_of(func: Any, *args: Any) -> str:
    with pytest.raises(Refuse) as info:
        func(*args)
    return info.value.status


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"GET / HTTP/1.1\r\n", ("GET", "/", "HTTP/1.1")),
        (b"POST /a?b=c HTTP/1.0\r\n", ("POST", "/a?b=c", "HTTP/1.0")),
        (b"GET / HTTP/1.1\n", ("GET", "/", "HTTP/1.1")),
        # RFC 9110 §2.5: a later 1.x is answered as 1.1.
        (b"GET / HTTP/1.2\r\n", ("GET", "/", "HTTP/1.1")),
    ],
)
def test_a_well_formed_request_line_is_split(line: bytes, expected: tuple[str, ...]) -> None:
    assert tuple(head.parse_request_line(line)) == expected


@pytest.mark.parametrize(
    "line",
    [b"GET / HTTP/2.0\r\n", b"GET / HTTP/3.0\r\n", b"GET / HTTP/0.9\r\n", b"GET / HTTP/10.1\r\n"],
)
def test_other_major_versions_get_505(line: bytes) -> None:
    assert status_of(head.parse_request_line, line) == "505 HTTP Version Not Supported"


@pytest.mark.parametrize(
    "line",
    [
        b"GET /\r\n",  # HTTP/0.9
        b"garbage\r\n",
        b"GET  / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\r\n",
        b"GET /a\rb HTTP/1.1\r\n",
        b"GET /a\x00 HTTP/1.1\r\n",
        b"GET /\xe9 HTTP/1.1\r\n",
        b"G(T / HTTP/1.1\r\n",
        b"GET / http/1.1\r\n",
        b"GET / HTTP/1.1",
    ],
)
def test_malformed_request_lines_get_400(line: bytes) -> None:
    assert status_of(head.parse_request_line, line) == "400 Bad Request"


def test_a_field_line_value_is_trimmed_of_ows() -> None:
    assert head.parse_field_line(b"X-A: \t a b \t\r\n") == ("X-A", "a b")
    assert head.parse_field_line(b"X-Empty:\r\n") == ("X-Empty", "")
    assert head.parse_field_line(b"X-Latin: caf\xe9\r\n") == ("X-Latin", "caf\xe9")


@pytest.mark.parametrize(
    "line",
    [
        b"X-A : b\r\n",  # RFC 9112 §5.1
        b"X-A\t: b\r\n",
        b" folded\r\n",  # RFC 9112 §5.2 obs-fold
        b"\tfolded\r\n",
        b"X-A: a\rb\r\n",  # bare CR
        b"X-A: a\x00b\r\n",
        b"X-A: a\x01b\r\n",
        b"X-A: a\x7fb\r\n",
        b"X A: b\r\n",
        b": b\r\n",
        b"X-A b\r\n",
    ],
)
def test_malformed_field_lines_get_400(line: bytes) -> None:
    assert status_of(head.parse_field_line, line) == "400 Bad Request"


def test_the_target_is_split_and_decoded() -> None:
    environ: dict[str, Any] = {}
    head.set_target(environ, "/a%20b?x=%20", "GET")
    assert environ == {"RAW_PATH_INFO": "/a%20b", "PATH_INFO": "/a b", "QUERY_STRING": "x=%20"}


def test_an_absolute_form_target_supplies_the_host() -> None:
    environ: dict[str, Any] = {}
    head.set_target(environ, "http://example.org:81/p?q", "GET")
    assert environ["ciweb.target_host"] == "example.org:81"
    assert (environ["PATH_INFO"], environ["QUERY_STRING"]) == ("/p", "q")


@pytest.mark.parametrize(
    "target", ["/a%00", "/a%0d%0aX", "/%7f", "/%0A", "a", "*", "http://", "http://[abc/"]
)
def test_unusable_targets_get_400(target: str) -> None:
    assert status_of(head.set_target, {}, target, "GET") == "400 Bad Request"


def test_options_asterisk_is_accepted() -> None:
    environ: dict[str, Any] = {}
    head.set_target(environ, "*", "OPTIONS")
    assert environ["PATH_INFO"] == "*"


def apply(fields: list[tuple[str, str]], version: str = "HTTP/1.1", limit: int = 0) -> Any:
    environ: dict[str, Any] = {}
    keep = head.apply_fields(environ, [("Host", "h"), *fields], version, limit)
    return environ, keep


def test_fields_become_cgi_keys_and_repeats_combine() -> None:
    environ, keep = apply([("Content-Type", "a/b"), ("X-A", "1"), ("x-a", "2"), ("X_B", "no")])
    assert environ["CONTENT_TYPE"] == "a/b"
    assert environ["HTTP_X_A"] == "1,2"
    assert "HTTP_X_B" not in environ
    assert keep is True


@pytest.mark.parametrize(
    ("version", "connection", "keep"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Upgrade, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "Keep-Alive", True),
    ],
)
def test_keep_alive_follows_version_and_connection(
    version: str, connection: str | None, keep: bool
) -> None:
    fields = [("Connection", connection)] if connection else []
    assert apply(fields, version)[1] is keep


def test_host_is_required_once_in_http_1_1() -> None:
    environ: dict[str, Any] = {}
    assert status_of(head.apply_fields, environ, [], "HTTP/1.1", 0) == "400 Bad Request"
    two = [("Host", "a"), ("Host", "a")]
    assert status_of(head.apply_fields, {}, two, "HTTP/1.0", 0) == "400 Bad Request"
    assert head.apply_fields({}, [], "HTTP/1.0", 0) is False


def test_an_unmet_expectation_gets_417() -> None:
    fields = [("Host", "h"), ("Expect", "teapot")]
    assert status_of(head.apply_fields, {}, fields, "HTTP/1.1", 0) == "417 Expectation Failed"


@pytest.mark.parametrize("value", ["0", "5", "005", "123456789012345678"])
def test_plain_digit_content_lengths_pass(value: str) -> None:
    environ, _ = apply([("Content-Length", value)])
    assert environ["CONTENT_LENGTH"] == value


@pytest.mark.parametrize(
    "values",
    [["5", "5"], ["5", "6"], ["+5"], ["-1"], ["5,5"], ["0x10"], ["1e3"], ["\u0665"], [""], ["5 5"]],
)
def test_other_content_lengths_get_400(values: list[str]) -> None:
    fields = [("Host", "h")] + [("Content-Length", v) for v in values]
    assert status_of(head.apply_fields, {}, fields, "HTTP/1.1", 0) == "400 Bad Request"


def test_a_content_length_of_more_than_18_digits_gets_413_even_without_a_limit() -> None:
    fields = [("Host", "h"), ("Content-Length", "1" * 19)]
    assert status_of(head.apply_fields, {}, fields, "HTTP/1.1", 0) == "413 Content Too Large"
    fields = [("Host", "h"), ("Content-Length", "1" * 5000)]
    assert status_of(head.apply_fields, {}, fields, "HTTP/1.1", 0) == "413 Content Too Large"


def test_a_content_length_at_the_body_limit_gets_413() -> None:
    assert apply([("Content-Length", "99")], limit=100)[0]["CONTENT_LENGTH"] == "99"
    fields = [("Host", "h"), ("Content-Length", "100")]
    assert status_of(head.apply_fields, {}, fields, "HTTP/1.1", 100) == "413 Content Too Large"


def test_chunked_drops_content_length_from_the_environ() -> None:
    environ, _ = apply([("Transfer-Encoding", "Chunked")])
    assert "CONTENT_LENGTH" not in environ


@pytest.mark.parametrize(
    ("codings", "lengths", "version", "status"),
    [
        (["chunked"], ["5"], "HTTP/1.1", "400 Bad Request"),
        (["chunked"], [], "HTTP/1.0", "400 Bad Request"),
        (["gzip, chunked"], [], "HTTP/1.1", "501 Not Implemented"),
        (["chunked, gzip"], [], "HTTP/1.1", "501 Not Implemented"),
        (["xchunked"], [], "HTTP/1.1", "501 Not Implemented"),
        (["chunked, chunked"], [], "HTTP/1.1", "400 Bad Request"),
        (["chunked", "chunked"], [], "HTTP/1.1", "400 Bad Request"),
        (["chunked,"], [], "HTTP/1.1", "400 Bad Request"),
        (["chunked;q=1"], [], "HTTP/1.1", "400 Bad Request"),
    ],
)
def test_faulty_transfer_encodings_are_refused(
    codings: list[str], lengths: list[str], version: str, status: str
) -> None:
    got = status_of(head.check_framing, {}, lengths, codings, version, 0)
    assert got == status


@pytest.mark.parametrize(
    ("line", "size"),
    [
        (b"0\r\n", 0),
        (b"1a\r\n", 26),
        (b"FF\r\n", 255),
        (b"5;name=value\r\n", 5),
        (b'5 ; a="q s" ;b\r\n', 5),  # BWS around the semicolon and the equals sign
        (b'5;a="q\\"s"\r\n', 5),  # a quoted-pair
        (b"ffffffffffffffff\r\n", 2**64 - 1),
    ],
)
def test_hex_chunk_sizes_parse(line: bytes, size: int) -> None:
    assert head.parse_chunk_size(line) == size


@pytest.mark.parametrize(
    "line",
    [
        b"0x5\r\n",
        b"+5\r\n",
        b" 5\r\n",
        b"1_0\r\n",
        b"g\r\n",
        b"\r\n",
        b"5\n",
        b"5;\r\n",
        b"5\x00\r\n",
        b"1" * 17 + b"\r\n",
        # RFC 9112 §7.1: whitespace only before an extension's semicolon, never before CRLF.
        b"5 \r\n",
        b"5\t\r\n",
        b"5;a=b \r\n",
        # RFC 9110 §5.6.4: no control character in a quoted string, nothing after it.
        b'5;a="b\x01"\r\n',
        b'5;a="b"c\r\n',
    ],
)
def test_other_chunk_size_lines_are_malformed(line: bytes) -> None:
    assert head.parse_chunk_size(line) is None


@pytest.mark.parametrize(
    ("line", "path"),
    [
        (b"GET /api/x?q=1 HTTP/1.1\r\n", "/api/x"),
        (b"GET /api%2Fx%00 HTTP/1.1\r\n", "/api/x\x00"),
        (b"GET /api/" + b"a" * 50, "/api/" + "a" * 50),  # cut short (a 414)
        (b"GET /api/a\x01b HTTP/1.1\r\n", "/api/a"),  # up to a control character
        (b"GET http://h:1/api/x HTTP/1.1\r\n", "/api/x"),
        (b"GET https://h HTTP/1.1\r\n", "/"),
        (b"OPTIONS * HTTP/1.1\r\n", None),
        (b"NONSENSE\r\n", None),
        (b"", None),
    ],
)
def test_target_path_finds_what_arrived_of_the_path(line: bytes, path: str | None) -> None:
    assert head.target_path(line) == path
