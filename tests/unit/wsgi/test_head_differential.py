"""ciweb's request reader against llhttp (strict mode): generated requests read alike, and
every difference is one of :data:`~tests.unit.wsgi.differential.DIFFERENCES`, each checked
here on an example so that the table cannot go stale."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.services import in_ci
from tests.unit.wsgi.differential import (
    CLEAN,
    CLOSED,
    DIFFERENCES,
    INCOMPLETE,
    REFUSED,
    Outcome,
    Request,
    ciweb_read,
    llhttp_read,
    requests,
    unexplained,
)

# A few seconds on two busy cores; CI replays the same examples every run (derandomize),
# a developer's run explores new ones.
FUZZ = settings(
    max_examples=800,
    deadline=None,
    derandomize=in_ci(),
    database=None if in_ci() else settings.default.database,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(requests())
def test_generated_requests_are_read_alike_or_as_a_documented_difference(
    request: Request,
) -> None:
    raw = request.render()
    assert unexplained(request, ciweb_read(raw), llhttp_read(raw)) == [], raw


def head(*lines: str, body: bytes = b"") -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1") + b"\r\n" + body


CHUNKED = "Transfer-Encoding: chunked"
EXAMPLES = {
    "unknown method": head("BREW /pot HTTP/1.1", "Host: t"),
    "bare LF": b"GET / HTTP/1.1\nHost: t\n\n",
    "Host count": head("GET / HTTP/1.1"),
    "higher minor version": head("GET / HTTP/1.2", "Host: t"),
    "other major version": head("GET / HTTP/2.0", "Host: t"),
    "request line whitespace": head("GET  / HTTP/1.1", "Host: t"),
    "Transfer-Encoding in HTTP/1.0": head("POST / HTTP/1.0", CHUNKED, body=b"0\r\n\r\n"),
    "transfer coding other than chunked": head(
        "POST / HTTP/1.1", "Host: t", "Transfer-Encoding: gzip, chunked", body=b"0\r\n\r\n"
    ),
    "empty transfer coding": head(
        "POST / HTTP/1.1", "Host: t", "Transfer-Encoding: ,chunked", body=b"0\r\n\r\n"
    ),
    "chunk extension after whitespace": head(
        "POST / HTTP/1.1", "Host: t", CHUNKED, body=b"1 ;a=b\r\nx\r\n0\r\n\r\n"
    ),
    "chunk size of more than 16 digits": head(
        "POST / HTTP/1.1", "Host: t", CHUNKED, body=b"0" * 17 + b"1\r\nx\r\n0\r\n\r\n"
    ),
    "percent-encoded control character": head("GET /a%00b HTTP/1.1", "Host: t"),
    "asterisk-form outside OPTIONS": head("GET * HTTP/1.1", "Host: t"),
    "absolute-form of another scheme": head("GET ftp://t/p HTTP/1.1", "Host: t"),
}


def test_every_documented_difference_has_an_example() -> None:
    assert sorted(EXAMPLES) == sorted(DIFFERENCES)


@pytest.mark.parametrize("name", sorted(DIFFERENCES))
def test_a_documented_difference_is_one_parser_refusing_what_the_other_reads(name: str) -> None:
    difference = DIFFERENCES[name]
    outcomes = {"ciweb": ciweb_read(EXAMPLES[name]), "llhttp": llhttp_read(EXAMPLES[name])}
    reader = "llhttp" if difference.refuser == "ciweb" else "ciweb"
    assert outcomes[difference.refuser] == Outcome((), REFUSED)
    assert len(outcomes[reader].messages) == 1
    assert outcomes[reader].end in (CLEAN, CLOSED)


# Request smuggling and framing faults (RFC 9112 §6.1-6.3, §11.2): both refuse, always.
SMUGGLING = {
    "Content-Length and Transfer-Encoding": head(
        "POST / HTTP/1.1", "Host: t", "Content-Length: 5", CHUNKED, body=b"0\r\n\r\nGET /x"
    ),
    "two Content-Length values": head(
        "POST / HTTP/1.1", "Host: t", "Content-Length: 1", "Content-Length: 2", body=b"xx"
    ),
    "one Content-Length twice": head(
        "POST / HTTP/1.1", "Host: t", "Content-Length: 1", "Content-Length: 1", body=b"x"
    ),
    "a list as Content-Length": head("POST / HTTP/1.1", "Host: t", "Content-Length: 1,1"),
    "a signed Content-Length": head("POST / HTTP/1.1", "Host: t", "Content-Length: +1"),
    "chunked twice": head(
        "POST / HTTP/1.1", "Host: t", CHUNKED, CHUNKED, body=b"0\r\n\r\n"
    ),
    "chunked not last": head(
        "POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n"
    ),
    "whitespace before a colon": head("POST / HTTP/1.1", "Host: t", "Transfer-Encoding : chunked"),
    "obs-fold": head("GET / HTTP/1.1", "Host: t", "X-A: a", " b"),
    "a NUL in a value": head("GET / HTTP/1.1", "Host: t", "X-A: a\x00b"),
    "a bare CR in a value": head("GET / HTTP/1.1", "Host: t", "X-A: a\rb"),
    "a 0x chunk size": head("POST / HTTP/1.1", "Host: t", CHUNKED, body=b"0x1\r\nx\r\n0\r\n\r\n"),
    "whitespace after a chunk size": head(
        "POST / HTTP/1.1", "Host: t", CHUNKED, body=b"1 \r\nx\r\n0\r\n\r\n"
    ),
    "chunk data longer than its size": head(
        "POST / HTTP/1.1", "Host: t", CHUNKED, body=b"1\r\nxx\r\n0\r\n\r\n"
    ),
    "a bare LF after chunk data": head(
        "POST / HTTP/1.1", "Host: t", CHUNKED, body=b"1\r\nx\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_framing_faults_are_refused_by_both(name: str) -> None:
    raw = SMUGGLING[name]
    assert ciweb_read(raw) == llhttp_read(raw) == Outcome((), REFUSED)


def test_a_body_of_the_wrong_length_starts_the_next_request_at_the_same_byte() -> None:
    # One byte too many: both read it as the start of the next request line.
    raw = head("POST / HTTP/1.1", "Host: t", "Content-Length: 1", body=b"xGET / HTTP/1.1\r\n")
    ciweb, llhttp = ciweb_read(raw), llhttp_read(raw)
    assert [m.body for m in ciweb.messages] == [m.body for m in llhttp.messages] == [b"x"]
    assert ciweb.end == llhttp.end == INCOMPLETE
