"""Strict parsing of an HTTP/1.1 request head, free of eventlet and of sockets.

The functions here check bytes already read; :mod:`ciweb.wsgi.protocol` reads them under
its limits and deadlines.  Each raises :class:`Refuse` with the status to answer:

- the request line (RFC 9112 §3) and the version (RFC 9110 §2.5, §15.6.6);
- field lines (RFC 9112 §5.1, §5.2; RFC 9110 §5.5): a token name directly followed by the
  colon, a value without NUL, CR or other control characters, no obs-fold;
- the request target (RFC 9112 §3.2), without percent-encoded control characters;
- message framing (RFC 9112 §6.1-6.3): one ``1*DIGIT`` Content-Length, ``chunked`` as the
  only transfer coding, never both;
- chunk size lines (RFC 9112 §7.1): hex digits only.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = [
    "FIELD_LINE",
    "Refuse",
    "RequestLine",
    "apply_fields",
    "check_framing",
    "parse_chunk_size",
    "parse_field_line",
    "parse_request_line",
    "set_target",
    "target_path",
]

# RFC 9110 §5.6.2: token = 1*tchar.
_TCHAR = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(rb"[" + _TCHAR + rb"]+")
# RFC 9112 §3: method SP request-target SP HTTP-version, then CRLF (a bare LF is tolerated,
# RFC 9112 §2.2; a bare CR is not).  The target is visible ASCII only: no NUL, CTL, space or
# 8-bit byte can reach PATH_INFO through it.
_REQUEST_LINE = re.compile(rb"([" + _TCHAR + rb"]+) ([\x21-\x7e]+) HTTP/([0-9])\.([0-9])\r?\n")
# The same line with any version number: only a well-formed line earns a 505.
_ANY_VERSION = re.compile(rb"[" + _TCHAR + rb"]+ [\x21-\x7e]+ HTTP/[0-9]+\.[0-9]+\r?\n")
# RFC 9112 §5: field-name ":" OWS field-value OWS; the name is a token directly followed by
# the colon; the value is VCHAR / obs-text with inner SP / HTAB (RFC 9110 §5.5).
FIELD_LINE = re.compile(
    rb"([" + _TCHAR + rb"]+):[ \t]*"
    rb"((?:[\x21-\x7e\x80-\xff]+[ \t]+)*[\x21-\x7e\x80-\xff]+)?[ \t]*\r?\n"
)
_DIGITS = re.compile(r"[0-9]+")
# No body is 10**18 bytes; refusing longer lengths also keeps int() away from thousands of
# digits, which it refuses (CVE-2020-10735's limit).
_MAX_LENGTH_DIGITS = 18
# RFC 9110 §5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE.
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# RFC 9112 §7.1: chunk-size = 1*HEXDIG, then chunk extensions (ignored, but well-formed):
# chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ), then CRLF
# directly: no whitespace after the size or the last extension.
_CHUNK_SIZE = re.compile(
    rb"([0-9A-Fa-f]{1,16})"
    rb"(?:[ \t]*;[ \t]*[" + _TCHAR + rb"]+(?:[ \t]*=[ \t]*(?:[" + _TCHAR + rb"]+|" + _QUOTED
    + rb"))?)*\r\n"
)  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The start of a request line, perhaps cut short: a method, then the target's visible part.
_LINE_START = re.compile(rb"[" + _TCHAR + rb"]+ ([\x21-\x7e]+)")

BAD_REQUEST = "400 Bad Request"
VERSION_NOT_SUPPORTED = "505 HTTP Version Not Supported"


class Refuse(Exception):
    """Refuse the request head with *status* and a short plain-text *reason*.

    :param status: the status line's code and phrase, e.g. ``400 Bad Request``.
    :param reason: one short sentence for the client (no request data in it).
    :param headers: extra response headers.
    """

    def __init__(self, status: str, reason: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class RequestLine(NamedTuple):
    """A checked request line."""

    method: str
    target: str
    version: str  # "HTTP/1.0" or "HTTP/1.1"


def parse_request_line(line: bytes) -> RequestLine:
    """Check a request line (with its line break) and return its parts.

    :param line: the line as read, ending in CRLF or LF.
    :raises Refuse: 400 when malformed, 505 for a major version other than 1.
    """
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        if _ANY_VERSION.fullmatch(line):
            raise Refuse(VERSION_NOT_SUPPORTED, "only HTTP/1.0 and 1.1 are served")
        raise Refuse(BAD_REQUEST, "malformed request line")
    method, target, major, minor = match.groups()
    if major != b"1":
        # RFC 9110 §15.6.6: the major version is not supported.
        raise Refuse(VERSION_NOT_SUPPORTED, "only HTTP/1.0 and 1.1 are served")
    # RFC 9110 §2.5: a higher minor version is answered as the highest one served (1.1).
    version = "HTTP/1.0" if minor == b"0" else "HTTP/1.1"
    return RequestLine(method.decode("ascii"), target.decode("ascii"), version)


def parse_field_line(line: bytes) -> tuple[str, str]:
    """Check one field line (with its line break); return its name and trimmed value.

    :raises Refuse: 400 for whitespace before the colon (RFC 9112 §5.1), obs-fold
        (RFC 9112 §5.2) or a control character in the value (RFC 9110 §5.5).
    """
    match = FIELD_LINE.fullmatch(line)
    if match is None:
        raise Refuse(BAD_REQUEST, "malformed header field")
    name, value = match.groups()
    return name.decode("latin-1"), (value or b"").decode("latin-1")


def set_target(environ: WSGIEnvironment, target: str, method: str) -> None:
    """Set PATH_INFO, RAW_PATH_INFO and QUERY_STRING of *environ* from the request target.

    :raises Refuse: 400 for an unusable target or a percent-encoded control character.
    """
    if target.startswith("/"):
        path, _, query = target.partition("?")
    elif target == "*" and method == "OPTIONS":
        path, query = "*", ""
    elif target.startswith(("http://", "https://")):
        # RFC 9112 §3.2.2: absolute-form; its authority replaces Host.
        try:
            split = urllib.parse.urlsplit(target)
        except ValueError:  # e.g. an unclosed "[" of an IPv6 authority
            raise Refuse(BAD_REQUEST, "malformed request target") from None
        if not split.netloc:
            raise Refuse(BAD_REQUEST, "malformed request target")
        environ["ciweb.target_host"] = split.netloc
        path, query = split.path or "/", split.query
    else:
        raise Refuse(BAD_REQUEST, "malformed request target")
    path_info = urllib.parse.unquote(path, encoding="latin-1")
    if _CONTROL.search(path_info):
        # Percent-encoded NUL or control characters never reach the application.
        raise Refuse(BAD_REQUEST, "control character in request target")
    environ["RAW_PATH_INFO"] = path
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query


def target_path(line: bytes) -> str | None:
    """Return the decoded path of a request line's target, None when it names none.

    For a refusal's choice of body only: the line may be malformed or cut short (a 414),
    and the path is then what arrived of it.

    :param line: the request line as read, maybe incomplete.
    """
    match = _LINE_START.match(line)
    if match is None:
        return None
    target = match.group(1).decode("ascii")
    if target.startswith(("http://", "https://")):
        # RFC 9112 §3.2.2 absolute-form: the path starts after the authority.
        authority_and_path = target.partition("://")[2]
        slash = authority_and_path.find("/")
        target = authority_and_path[slash:] if slash >= 0 else "/"
    if not target.startswith("/"):
        return None
    return urllib.parse.unquote(target.partition("?")[0], encoding="latin-1")


def apply_fields(
    environ: WSGIEnvironment, fields: list[tuple[str, str]], version: str, max_body_size: int
) -> bool:
    """Put *fields* into *environ* as CGI keys, check them; return whether to keep alive.

    :param environ: the environ being built (with ``ciweb.target_host`` for absolute-form).
    :param fields: (name, value) pairs in the order received.
    :param version: ``HTTP/1.0`` or ``HTTP/1.1``.
    :param max_body_size: smallest Content-Length refused with 413; 0 for none.
    :raises Refuse: for Host, framing or Expect problems.
    """
    framing: dict[str, list[str]] = {"host": [], "content-length": [], "transfer-encoding": []}
    for name, value in fields:
        lower = name.lower()
        if lower in framing:
            framing[lower].append(value)
        if "_" in name:
            # Header names with underscores would collide with dashes in environ keys.
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        # RFC 9110 §5.3: repeated fields combine into one comma-separated value.
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    # RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; never two in any version.
    if len(framing["host"]) > 1 or (version == "HTTP/1.1" and not framing["host"]):
        raise Refuse(BAD_REQUEST, "exactly one Host header field is required")
    if "ciweb.target_host" in environ:
        environ["HTTP_HOST"] = environ.pop("ciweb.target_host")
    check_framing(
        environ, framing["content-length"], framing["transfer-encoding"], version, max_body_size
    )
    expect = environ.get("HTTP_EXPECT")
    if expect is not None and expect.lower() != "100-continue" and version == "HTTP/1.1":
        # RFC 9110 §10.1.1: an expectation the server cannot meet.
        raise Refuse("417 Expectation Failed", "only 100-continue is supported")
    tokens = {t.strip().lower() for t in environ.get("HTTP_CONNECTION", "").split(",")}
    # RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    if version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens


def check_framing(
    environ: WSGIEnvironment,
    lengths: list[str],
    codings: list[str],
    version: str,
    max_body_size: int,
) -> None:
    """Check Content-Length and Transfer-Encoding (RFC 9112 §6.1-6.3).

    :param environ: the environ; CONTENT_LENGTH is removed for a chunked body.
    :param lengths: every Content-Length value received.
    :param codings: every Transfer-Encoding value received.
    :param version: ``HTTP/1.0`` or ``HTTP/1.1``.
    :param max_body_size: smallest Content-Length refused with 413; 0 for none.
    :raises Refuse: 400 for faulty framing, 501 for an unknown coding, 413 for a large body.
    """
    if codings:
        if version == "HTTP/1.0":
            # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
            raise Refuse(BAD_REQUEST, "Transfer-Encoding in an HTTP/1.0 request")
        if lengths:
            # RFC 9112 §6.1, §11.2: both headers are a smuggling attempt; refuse and close.
            raise Refuse(BAD_REQUEST, "both Content-Length and Transfer-Encoding")
        names = [c.strip().lower() for v in codings for c in v.split(",")]
        if any(not _TOKEN.fullmatch(n.encode("latin-1")) for n in names):
            raise Refuse(BAD_REQUEST, "malformed Transfer-Encoding")
        if any(n != "chunked" for n in names):
            # RFC 9112 §6.1: a transfer coding the server does not understand: 501.
            raise Refuse("501 Not Implemented", "only the chunked transfer coding is supported")
        if len(names) != 1:
            # RFC 9112 §6.1: chunked must not be applied more than once.
            raise Refuse(BAD_REQUEST, "chunked applied more than once")
        environ.pop("CONTENT_LENGTH", None)
        return
    if not lengths:
        return
    # RFC 9112 §6.3: one Content-Length, 1*DIGIT; anything else is unrecoverable framing.
    if len(lengths) != 1 or not _DIGITS.fullmatch(lengths[0]):
        raise Refuse(BAD_REQUEST, "invalid Content-Length")
    if len(lengths[0]) > _MAX_LENGTH_DIGITS or (max_body_size and int(lengths[0]) >= max_body_size):
        raise Refuse("413 Content Too Large", "request body too large")


def parse_chunk_size(line: bytes) -> int | None:
    """Return the size of a chunk size line (extensions ignored), None when malformed.

    RFC 9112 §7.1: sizes are hex digits only: no sign, no ``0x``, no spaces before them.
    """
    match = _CHUNK_SIZE.fullmatch(line)
    return None if match is None else int(match.group(1), 16)
