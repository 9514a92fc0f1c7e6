"""Request limits with exact boundaries: a size of limit - 1 passes, the limit is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.functional.apps import REPO, ServerProcess
from tests.functional.wsgi.client import refused, request
from tests.functional.wsgi.conftest import LIMITS

TOO_LARGE = "HTTP/1.1 431 Request Header Fields Too Large"


def served(port: int, data: bytes) -> bytes:
    response, conn = request(port, data)
    with conn:
        assert response.status == 200, response
        return response.body


def request_line_of(size: int) -> bytes:
    # "GET " + path + " HTTP/1.1\r\n" is 15 bytes besides the path.
    return b"GET /" + b"a" * (size - 16) + b" HTTP/1.1\r\n"


def field_of(size: int, name: bytes = b"X-A") -> bytes:
    line = name + b": " + b"v" * (size - len(name) - 4) + b"\r\n"
    assert len(line) == size
    return line


def test_a_request_line_one_byte_under_the_limit_passes(server: ServerProcess) -> None:
    line = request_line_of(LIMITS["max_request_line"] - 1)
    assert len(line) == 255
    assert served(server.port, line + b"Host: t\r\n\r\n") == b"hello"


def test_a_request_line_at_the_limit_gets_414(server: ServerProcess) -> None:
    line = request_line_of(LIMITS["max_request_line"])
    refused(server.port, line + b"Host: t\r\n\r\n", "HTTP/1.1 414 URI Too Long")


def test_a_field_line_one_byte_under_the_limit_passes(server: ServerProcess) -> None:
    data = b"GET / HTTP/1.1\r\nHost: t\r\n" + field_of(LIMITS["max_header_line"] - 1) + b"\r\n"
    assert served(server.port, data) == b"hello"


def test_a_field_line_at_the_limit_gets_431(server: ServerProcess) -> None:
    data = b"GET / HTTP/1.1\r\nHost: t\r\n" + field_of(LIMITS["max_header_line"]) + b"\r\n"
    refused(server.port, data, TOO_LARGE)


def fields_totalling(total: int) -> bytes:
    host = b"Host: t\r\n"
    rest = total - len(host)
    big = LIMITS["max_header_line"] - 1
    lines = [field_of(big, b"X-%d" % i) for i in range(rest // big)]
    lines.append(field_of(rest - big * len(lines), b"X-Last"))
    data = host + b"".join(lines)
    assert len(data) == total
    return data


def test_a_header_section_one_byte_under_the_limit_passes(server: ServerProcess) -> None:
    data = b"GET / HTTP/1.1\r\n" + fields_totalling(LIMITS["max_header_size"] - 1) + b"\r\n"
    assert served(server.port, data) == b"hello"


def test_a_header_section_at_the_limit_gets_431(server: ServerProcess) -> None:
    data = b"GET / HTTP/1.1\r\n" + fields_totalling(LIMITS["max_header_size"]) + b"\r\n"
    refused(server.port, data, TOO_LARGE)


def fields_counting(count: int) -> bytes:
    return b"Host: t\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(count - 1))


def test_one_field_under_the_count_limit_passes(server: ServerProcess) -> None:
    data = b"GET / HTTP/1.1\r\n" + fields_counting(LIMITS["max_header_fields"] - 1) + b"\r\n"
    assert served(server.port, data) == b"hello"


def test_fields_at_the_count_limit_get_431(server: ServerProcess) -> None:
    data = b"GET / HTTP/1.1\r\n" + fields_counting(LIMITS["max_header_fields"]) + b"\r\n"
    refused(server.port, data, TOO_LARGE)


def post_length(size: int) -> bytes:
    return b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size + b"b" * size


def test_a_body_one_byte_under_the_limit_passes(server: ServerProcess) -> None:
    size = LIMITS["max_body_size"] - 1
    assert served(server.port, post_length(size)) == b"999:" + b"b" * size


def test_a_content_length_at_the_body_limit_gets_413(server: ServerProcess) -> None:
    refused(server.port, post_length(LIMITS["max_body_size"]), "HTTP/1.1 413 Content Too Large")


def post_chunked(size: int) -> bytes:
    chunks = b"".join(b"64\r\n" + b"c" * 100 + b"\r\n" for _ in range(size // 100))
    last = size % 100
    chunks += b"%x\r\n" % last + b"c" * last + b"\r\n" if last else b""
    return b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks


def test_a_chunked_body_one_byte_under_the_limit_passes(server: ServerProcess) -> None:
    size = LIMITS["max_body_size"] - 1
    assert served(server.port, post_chunked(size) + b"0\r\n\r\n") == b"999:" + b"c" * size


def test_a_chunked_body_growing_to_the_limit_gets_413_and_a_close(server: ServerProcess) -> None:
    data = post_chunked(LIMITS["max_body_size"]) + b"0\r\n\r\n"
    refused(server.port, data, "HTTP/1.1 413 Content Too Large")


SCRIPT = textwrap.dedent(
    """
    import json, socket
    import eventlet
    from ciweb.wsgi import server as s
    eventlet.monkey_patch()
    import eventlet.wsgi as ew
    before = (ew.MAX_REQUEST_LINE, ew.MAX_HEADER_LINE, ew.MAX_TOTAL_HEADER_SIZE)
    app = lambda e, sr: (sr("200 OK", [("Content-Length", "2")]), [b"ok"])[1]
    small = s.Server(app, limits=s.Limits(max_request_line=100))
    large = s.Server(app, limits=s.Limits(max_request_line=1000))
    small.start(); large.start()
    line = b"GET /" + b"a" * 200 + b" HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
    out = {}
    for name, srv in (("small", small), ("large", large)):
        c = socket.create_connection(srv.address)
        c.sendall(line)
        out[name] = c.recv(100).split(b"\\r\\n")[0].decode()
        c.close()
    small.stop(1); large.stop(1)
    after = (ew.MAX_REQUEST_LINE, ew.MAX_HEADER_LINE, ew.MAX_TOTAL_HEADER_SIZE)
    out["globals_unchanged"] = before == after
    print(json.dumps(out))
    """
)


def test_two_servers_in_one_process_keep_their_own_limits() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, env=env
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {
        "small": "HTTP/1.1 414 URI Too Long",
        "large": "HTTP/1.1 200 OK",
        "globals_unchanged": True,
    }
