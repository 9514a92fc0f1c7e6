"""Differential testing of ciweb's request reader against llhttp (``httptools``, strict mode).

Hypothesis builds requests from parts (method, target, version, line breaks, framing and
other fields, chunked bodies, a pipelined second request), with the faults that matter for
request smuggling mixed in: repeated or malformed Content-Length, Transfer-Encoding with
Content-Length or with other codings, odd chunk sizes and extensions, control bytes, obs-fold,
whitespace before a colon.  Both parsers read the same bytes; each outcome is the list of
requests read (method, target, fields, body) and how the bytes ended.

llhttp is a test oracle only: ciweb never imports it.  Where the two disagree on purpose,
:data:`DIFFERENCES` says which side refuses and why, citing the RFC.
"""

from __future__ import annotations

import dataclasses
import io
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import httptools
from hypothesis import strategies as st

from ciweb.wsgi.head import Refuse
from ciweb.wsgi.protocol import BadChunk, BodyTooLarge, HttpProtocol, Limits, Site

# How a parser's reading of the bytes ended.
CLEAN = "clean"  # every byte read as complete requests
CLOSED = "closed"  # a request asked to close the connection: later bytes are not read
INCOMPLETE = "incomplete"  # the bytes stopped inside a request
REFUSED = "refused"  # a request was refused

LLHTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE")


@dataclasses.dataclass(frozen=True)
class Message:
    """One request as a parser read it."""

    method: str
    target: str
    fields: tuple[tuple[str, str], ...]
    body: bytes


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The requests read from some bytes, and how the reading ended."""

    messages: tuple[Message, ...]
    end: str


# -- ciweb, in process ------------------------------------------------------------------


class _Incomplete(Exception):
    """The bytes ran out inside a request: a socket would wait for more."""


class _Bytes(io.BufferedReader):
    """The client's bytes; reading past their end inside a request raises _Incomplete."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.in_request = False

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        if self.in_request and not line.endswith(b"\n") and (size is None or len(line) < size):
            raise _Incomplete
        return line

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if self.in_request and size is not None and 0 <= len(data) < size:
            raise _Incomplete
        return data


def _site() -> Site:
    return Site(
        app=lambda environ, start_response: [],
        limits=Limits(),
        keepalive=True,
        url_scheme="http",
        server_name="127.0.0.1",
        server_port=80,
        ssl_context=None,
        access_log=False,
        access_log_format="",
        pool_free=lambda: 1,
    )


def _reader(data: _Bytes) -> HttpProtocol:
    # The real request reader of a connection, minus its socket: HttpProtocol.__init__ would
    # serve a connection, so the instance is made without it and given what _read_head uses.
    protocol = HttpProtocol.__new__(HttpProtocol)
    protocol.server = _site()
    protocol.rfile = data
    protocol.wfile = io.BytesIO()
    protocol.request = None
    protocol.client_address = ("127.0.0.1", 40000)
    protocol.requests = 0
    protocol.close_connection = False
    protocol.close_connection_forced = False
    return protocol


def ciweb_read(raw: bytes) -> Outcome:
    """Read *raw* as ciweb's server reads a connection's bytes; return the outcome."""
    data = _Bytes(raw)
    protocol = _reader(data)
    messages: list[Message] = []
    while True:
        if not data.peek(1):
            return Outcome(tuple(messages), CLEAN)
        data.in_request = True
        try:
            environ = protocol._read_head()
            if environ is None:  # only blank lines were left
                return Outcome(tuple(messages), CLEAN)
            body = environ["wsgi.input"].read()
        except _Incomplete:
            return Outcome(tuple(messages), INCOMPLETE)
        except (Refuse, BadChunk, BodyTooLarge, ValueError):
            # ValueError: what the protocol answers with a 400 as an unusable head.
            return Outcome(tuple(messages), REFUSED)
        finally:
            data.in_request = False
        messages.append(_ciweb_message(environ, protocol.path, body))
        protocol.requests += 1
        if not protocol.keep_alive_requested:
            return Outcome(tuple(messages), CLOSED if data.peek(1) else CLEAN)


def _ciweb_message(environ: dict[str, Any], target: str, body: bytes) -> Message:
    fields = [
        (key.removeprefix("HTTP_").replace("_", "-").lower(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    ]
    return Message(environ["REQUEST_METHOD"], target, tuple(sorted(fields)), body)


# -- llhttp -----------------------------------------------------------------------------


class _Recorder:
    """httptools callbacks collecting each message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.current: dict[str, Any] | None = None
        self.parser: Any = None

    def on_message_begin(self) -> None:
        self.current = {"url": b"", "fields": [], "body": b"", "complete": False}

    def on_url(self, url: bytes) -> None:
        assert self.current is not None
        self.current["url"] += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        if not self.current["complete"]:  # trailer fields are read and dropped, as ciweb does
            self.current["fields"].append((name, value))

    def on_headers_complete(self) -> None:
        assert self.current is not None
        self.current["complete"] = True

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current["body"] += body

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.messages.append(self._message(self.current))
        self.current = None

    def _message(self, current: dict[str, Any]) -> Message:
        combined: dict[str, str] = {}
        for raw_name, raw_value in current["fields"]:
            name = raw_name.decode("latin-1").lower()
            if "_" in name:
                continue  # ciweb drops them (they would collide with dashes in environ keys)
            # llhttp keeps a value's trailing whitespace; RFC 9112 §5 excludes it.
            value = raw_value.decode("latin-1").strip(" \t")
            combined[name] = f"{combined[name]},{value}" if name in combined else value
        if "transfer-encoding" in combined:
            combined.pop("content-length", None)
        method = self.parser.get_method().decode("latin-1")
        url = current["url"].decode("latin-1")
        if url.startswith(("http://", "https://")):
            # RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
            combined["host"] = urllib.parse.urlsplit(url).netloc
        return Message(method, url, tuple(sorted(combined.items())), current["body"])


def llhttp_read(raw: bytes) -> Outcome:
    """Read *raw* with llhttp in its default (strict) mode; return the outcome."""
    recorder = _Recorder()
    parser = recorder.parser = httptools.HttpRequestParser(recorder)
    try:
        parser.feed_data(raw)
    except httptools.HttpParserUpgrade:
        return Outcome(tuple(recorder.messages), CLOSED)
    except httptools.HttpParserError as exc:
        if "Data after `Connection: close`" in str(exc):
            return Outcome(tuple(recorder.messages), CLOSED)
        return Outcome(tuple(recorder.messages), REFUSED)
    if recorder.current is not None:
        return Outcome(tuple(recorder.messages), INCOMPLETE)
    return Outcome(tuple(recorder.messages), CLEAN)


# -- the requests -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    """A generated request, kept in parts so that the differences can be told apart."""

    method: str
    target: str
    version: str
    separator: str
    eol: bytes
    fields: tuple[tuple[str, bytes], ...]  # (name as written, raw line without eol)
    body: bytes
    chunk_lines: tuple[bytes, ...] = ()  # the chunk size lines of a chunked body
    then: bytes = b""  # a second request pipelined after this one

    def head(self) -> bytes:
        """Return the bytes of the head, up to and with the empty line."""
        line = self.separator.join((self.method, self.target, self.version)).encode("latin-1")
        return self.eol.join([line, *(raw for _name, raw in self.fields), b""]) + self.eol

    def render(self) -> bytes:
        """Return the bytes on the wire."""
        return self.head() + self.body + self.then

    def values(self, name: str) -> list[bytes]:
        """Return the raw values of the fields named *name* (case-insensitive)."""
        out = []
        for field_name, raw in self.fields:
            if field_name.lower() == name:
                out.append(raw.partition(b":")[2].strip(b" \t"))
        return out


_VALUE_PIECES = [b"a", b"value", b"1", b" ", b"\t", b"\xe9", b"\xff", b"\x00", b"\x01", b"\x1f",
                 b"\x7f", b"\r", b"\n", b",", b";", b'"', b"=", b"chunked"]  # fmt: skip
CONTENT_LENGTHS = ["05", " 3", "3 ", "+3", "-1", "3,3", "3 3", "0x3", "3.0", "",
                   "99999999999999999999"]  # fmt: skip
CODINGS = ["Chunked", " chunked", "chunked ", "gzip, chunked", "chunked, gzip", "identity",
           ",chunked", "chunked,", "chunked, chunked", "x-chunked", "chunked;q=1", '"chunked"',
           "chunk", ""]  # fmt: skip
CHUNK_FORMS = ["{:X}", "{:03x}", "0x{:x}", "{:x} ", "{:x}\t", " {:x}", "-{:x}", "{:x};a=b",
               '{:x};a="b c"', "{:x} ;a=b", "{:x};a", "{:x};a=b ", "{:x};",
               "00000000000000000{:x}", '{:x};a="b\x01"', '{:x};a="b\\"c"',
               '{:x};a="b"c']  # fmt: skip
SECOND = b"GET /second HTTP/1.1\r\nHost: example.org\r\n\r\n"


class _Faults:
    """Draw each part well-formed, or now and then (at the request's fault rate) faulty."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.rate = draw(st.sampled_from([0, 1, 1, 2, 4]))  # in twentieths

    def pick(self, good: Any, bad: list[Any]) -> Any:
        """Return *good*, or one of *bad* at the fault rate."""
        if self.rate and self.draw(st.integers(0, 19)) < self.rate:
            return self.draw(st.sampled_from(bad))
        return good


def _chunked_body(faults: _Faults, eol: bytes) -> tuple[bytes, tuple[bytes, ...]]:
    draw = faults.draw
    body, lines = b"", []
    for size in [*draw(st.lists(st.integers(1, 6), max_size=3)), 0]:
        line = faults.pick("{:x}", CHUNK_FORMS).format(size).encode("latin-1")
        lines.append(line)
        if size:
            sent = size + faults.pick(0, [-1, 1])  # data that does not match its size line
            body += line + b"\r\n" + b"x" * sent + b"\r\n"
    trailers = faults.pick([], [[b"T: v"], [b"T: v", b"U: w"], [b"T : v"], [b"T: \x01"],
                                [b"T: v", b" folded"]])  # fmt: skip
    body += lines[-1] + b"\r\n" + b"".join(t + b"\r\n" for t in trailers)
    return body + faults.pick(b"\r\n", [eol, b""]), tuple(lines)


def _field(name: str, value: bytes, before_colon: str = "") -> tuple[str, bytes]:
    return name, name.encode("latin-1") + before_colon.encode("latin-1") + b": " + value


def _framing(
    faults: _Faults, eol: bytes
) -> tuple[list[tuple[str, bytes]], bytes, tuple[bytes, ...]]:
    draw = faults.draw
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    framing = faults.pick(framing, ["both", "lengths", "codings"])
    fields, body, chunk_lines = [], b"", ()
    if framing in ("length", "both", "lengths"):
        length = faults.pick(str(draw(st.integers(0, 5))), CONTENT_LENGTHS)
        fields.append(_field("Content-Length", length.encode()))
        if framing == "lengths":
            again = faults.pick(length, CONTENT_LENGTHS)
            fields.append(_field("Content-Length", again.encode()))
        digits = "".join(c for c in length if c.isdigit())[:3] or "0"
        body = b"y" * max(0, int(digits) + faults.pick(0, [-1, 1]))
    if framing in ("chunked", "both", "codings"):
        fields.append(_field("Transfer-Encoding", faults.pick("chunked", CODINGS).encode()))
        if framing == "codings":
            fields.append(_field("Transfer-Encoding", draw(st.sampled_from(CODINGS)).encode()))
        body, chunk_lines = _chunked_body(faults, eol)
    return fields, body, chunk_lines


def _other_fields(faults: _Faults) -> list[tuple[str, bytes]]:
    draw = faults.draw
    fields = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["X-A", "Accept", "Connection"]))
        name = faults.pick(name, ["X_Under", "X A", ""])
        if name == "Connection":
            value = draw(st.sampled_from([b"keep-alive", b"close", b"Close", b"upgrade"]))
        else:
            value = b"".join(draw(st.lists(st.sampled_from(_VALUE_PIECES[:3]), max_size=3)))
            value = faults.pick(value, [value + piece + value for piece in _VALUE_PIECES])
        fields.append(_field(name, value, faults.pick("", [" ", "\t"])))
        fields += faults.pick([], [[("", b" folded")], [("", b"\tfolded")]])  # obs-fold
    return fields


@st.composite
def requests(draw: Any) -> Request:
    """Draw one request, faults included (see :data:`DIFFERENCES` for the known ones)."""
    faults = _Faults(draw)
    eol = faults.pick(b"\r\n", [b"\n"])
    method = faults.pick(draw(st.sampled_from(LLHTTP_METHODS)), ["FOO", "get", "G\x00T"])
    target = draw(st.sampled_from(["/", "/a/b?c=d", "/x%20y", "/{a}|`", "http://example.org/p"]))
    target = faults.pick(target, ["/a%00b", "/a%0Db", "*", "ftp://example.org/p", "/a b",
                                  "/\xff", "/a\x01"])  # fmt: skip
    version = faults.pick(
        draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"])),
        ["HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1", "HTTP/1.1 "],
    )
    separator = faults.pick(" ", ["  ", "\t"])
    hosts = faults.pick(1, [0, 2])
    fields = [_field("Host", b"example.org") for _ in range(hosts)]
    framing, body, chunk_lines = _framing(faults, eol)
    fields = draw(st.permutations(fields + framing + _other_fields(faults)))
    then = draw(st.sampled_from([b"", SECOND]))
    return Request(method, target, version, separator, eol, tuple(fields), body,
                   chunk_lines, then)  # fmt: skip


# -- the differences on purpose -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Difference:
    """Requests that ciweb and llhttp read differently on purpose.

    :param refuser: ``ciweb`` or ``llhttp``: the one that refuses such a request.
    :param applies: whether a generated request has the trait.
    :param reason: why, with the RFC section.
    """

    refuser: str
    applies: Callable[[Request], bool]
    reason: str


def _codings(request: Request) -> list[list[str]]:
    return [[c.strip().lower() for c in v.decode("latin-1").split(",")]
            for v in request.values("transfer-encoding")]  # fmt: skip


DIFFERENCES: dict[str, Difference] = {
    "unknown method": Difference(
        "llhttp", lambda r: r.method not in LLHTTP_METHODS,
        "RFC 9110 §9.1: a method is any token; the application answers 501 or 405 to one it "
        "does not serve. llhttp parses only the methods it knows (and is case-sensitive).",
    ),
    "bare LF": Difference(
        "llhttp", lambda r: re.search(rb"(?<!\r)\n", r.head()) is not None,
        "RFC 9112 §2.2: a recipient MAY recognise a single LF as a line terminator in the "
        "head (ciweb does; never in chunked framing). llhttp's strict mode requires CRLF.",
    ),
    "Host count": Difference(
        "ciweb",
        lambda r: len(r.values("host")) > 1 or (r.version == "HTTP/1.1" and not r.values("host")),
        "RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host or with "
        "more than one. llhttp does not look at Host.",
    ),
    "higher minor version": Difference(
        "llhttp", lambda r: r.version == "HTTP/1.2",
        "RFC 9110 §2.5: a message of a higher minor version is read as the highest one the "
        "recipient supports (1.1). llhttp refuses versions it does not know.",
    ),
    "other major version": Difference(
        "ciweb", lambda r: r.version in ("HTTP/2.0", "HTTP/0.9"),
        "RFC 9110 §15.6.6: 505 for a major version the server does not support. llhttp "
        "parses 0.9 and 2.0 request lines.",
    ),
    "request line whitespace": Difference(
        "ciweb", lambda r: r.separator != " ",
        "RFC 9112 §3: exactly one SP between the parts; an invalid request line SHOULD get "
        "400. llhttp skips repeated spaces.",
    ),
    "Transfer-Encoding in HTTP/1.0": Difference(
        "ciweb", lambda r: r.version == "HTTP/1.0" and bool(r.values("transfer-encoding")),
        "RFC 9112 §6.1: a server MUST treat an HTTP/1.0 message with Transfer-Encoding as "
        "faulty framing. llhttp frames it as chunked.",
    ),
    "transfer coding other than chunked": Difference(
        "ciweb", lambda r: any(c not in ("chunked", "") for v in _codings(r) for c in v),
        "RFC 9112 §6.1: a server SHOULD answer 501 to a transfer coding it does not "
        "understand; ciweb decodes none but chunked. llhttp frames any list ending in chunked.",
    ),
    "empty transfer coding": Difference(
        "ciweb", lambda r: any("" in v for v in _codings(r)),
        "RFC 9112 §11.2 (request smuggling): an empty list element in Transfer-Encoding is "
        "framing a front end may read otherwise; ciweb refuses it, which can never desync. "
        "llhttp accepts a leading empty element.",
    ),
    "chunk extension after whitespace": Difference(
        "llhttp", lambda r: any(b" ;" in line or b"\t;" in line for line in r.chunk_lines),
        "RFC 9112 §7.1.1: chunk-ext = *( BWS \";\" BWS ext-name ...), whitespace before the "
        "semicolon is allowed (RFC 9110 §5.6.3 BWS). llhttp's strict mode refuses it.",
    ),
    "chunk size of more than 16 digits": Difference(
        "ciweb", lambda r: any(len(line.split(b";")[0].strip()) > 16 for line in r.chunk_lines),
        "RFC 9112 §7.1: recipients MUST prevent integer overflow of chunk sizes; ciweb refuses "
        "more than 16 hex digits (2^64), leading zeros included. llhttp counts the value.",
    ),
    "percent-encoded control character": Difference(
        "ciweb", lambda r: "%00" in r.target or "%0D" in r.target,
        "RFC 9112 §3.2 and RFC 3986 §2.1: ciweb decodes the path for PATH_INFO and refuses "
        "control characters there, so none reaches the application. llhttp does not decode.",
    ),
    "asterisk-form outside OPTIONS": Difference(
        "ciweb", lambda r: r.target == "*" and r.method != "OPTIONS",
        "RFC 9112 §3.2.4: the asterisk-form is only for OPTIONS. llhttp accepts it for any "
        "method.",
    ),
    "absolute-form of another scheme": Difference(
        "ciweb", lambda r: r.target.startswith("ftp:"),
        "RFC 9112 §3.2.2: an origin server serves http and https URIs only. llhttp parses "
        "any scheme.",
    ),
}


def unexplained(request: Request, ciweb: Outcome, llhttp: Outcome) -> list[str]:
    """Return what in the two outcomes no :data:`DIFFERENCES` entry explains ([] if none).

    The requests both parsers read must be the same.  After them, the outcomes may differ
    only where the parser an entry names refused the next request at once; for the
    generated request the entry's trait decides, for a later one (the rest of a body whose
    length was off) only an unknown method can.  One more difference is harmless: llhttp
    refuses a request line at its first bad byte, ciweb at its end (INCOMPLETE until then).
    """
    if ciweb == llhttp:
        return []
    problem = [f"ciweb: {ciweb}", f"llhttp: {llhttp}"]
    agreed = 0
    while (
        agreed < min(len(ciweb.messages), len(llhttp.messages))
        and ciweb.messages[agreed] == llhttp.messages[agreed]
    ):
        agreed += 1
    prefix = ciweb.messages[:agreed]
    if {ciweb.end, llhttp.end} == {INCOMPLETE, REFUSED} and ciweb.messages == llhttp.messages:
        return []
    outcomes = {"ciweb": ciweb, "llhttp": llhttp}
    for difference in DIFFERENCES.values():
        if outcomes[difference.refuser] != Outcome(prefix, REFUSED):
            continue
        if agreed == 0 and difference.applies(request):
            return []
        other = outcomes["ciweb" if difference.refuser == "llhttp" else "llhttp"]
        unknown = agreed < len(other.messages) and other.messages[agreed].method not in (
            LLHTTP_METHODS
        )
        if agreed > 0 and difference is DIFFERENCES["unknown method"] and unknown:
            return []
    return problem
