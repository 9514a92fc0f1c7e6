"""A raw-socket HTTP/1.1 client for the server tests: bytes in, parsed responses out."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time


@dataclasses.dataclass
class Response:
    """One parsed response."""

    status_line: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status(self) -> int:
        """Return the status code."""
        return int(self.status_line.split(" ")[1])

    def header(self, name: str) -> str | None:
        """Return the value of the first header *name* (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Connection:
    """A blocking client connection with a per-operation deadline.

    :param port: the server's port on *host*.
    :param timeout: seconds any one call may wait.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buffer = b""

    def send(self, data: bytes) -> None:
        """Send *data*."""
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the server before the deadline")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        self.buffer += data
        return bool(data)

    def read_response(self, head_only: bool = False) -> Response:
        """Read one response (a body framed by Content-Length, chunks, or the close)."""
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill(deadline):
                raise ConnectionError(f"closed before a full response head: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        response = Response(lines[0], headers, b"")  # type: ignore[arg-type]
        if head_only or response.status in (100, 204, 304) or response.status < 200:
            return response
        if response.header("Transfer-Encoding") == "chunked":
            response.body = self._read_chunked(deadline)
        elif response.header("Content-Length") is not None:
            length = int(response.header("Content-Length") or 0)
            while len(self.buffer) < length:
                if not self._fill(deadline):
                    raise ConnectionError(f"closed inside a body: {self.buffer!r}")
            response.body, self.buffer = self.buffer[:length], self.buffer[length:]
        else:
            while self._fill(deadline):
                pass
            response.body, self.buffer = self.buffer, b""
        return response

    def _read_chunked(self, deadline: float) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                if not self._fill(deadline):
                    raise ConnectionError(f"closed inside chunks: {body!r}")
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(self.buffer) < size + 2:
                if not self._fill(deadline):
                    raise ConnectionError(f"closed inside a chunk: {body!r}")
            if size == 0:
                self.buffer = self.buffer[2:]
                return body
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2 :]

    def read_all(self) -> bytes:
        """Read until the server closes; raise TimeoutError if it does not in time."""
        deadline = time.monotonic() + self.timeout
        while self._fill(deadline):
            pass
        data, self.buffer = self.buffer, b""
        return data

    def assert_closed(self) -> None:
        """Assert the server closed the connection with nothing more to say."""
        rest = self.read_all()
        assert rest == b"", f"unexpected bytes after the response: {rest!r}"

    def close(self) -> None:
        """Close the client side."""
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request(
    port: int, data: bytes, *, timeout: float = 5.0, host: str = "127.0.0.1"
) -> tuple[Response, Connection]:
    """Send *data* on a new connection and read one response; return it and the connection."""
    conn = Connection(port, host=host, timeout=timeout)
    conn.send(data)
    return conn.read_response(), conn


def refused(port: int, data: bytes, status_line: str, *, timeout: float = 5.0) -> Response:
    """Send *data*, assert the answer is *status_line* with a short body, then a close."""
    response, conn = request(port, data, timeout=timeout)
    with conn:
        assert response.status_line == status_line, (response, data)
        assert 0 < len(response.body) < 200
        assert response.header("Connection") == "close"
        conn.assert_closed()
    return response


def get(path: str = "/", extra: str = "", version: str = "HTTP/1.1") -> bytes:
    """Return the bytes of a simple GET with a Host header and *extra* header lines."""
    return f"GET {path} {version}\r\nHost: t\r\n{extra}\r\n".encode("latin-1")


def handshake(port: int, version: str, group: str) -> subprocess.CompletedProcess[str]:
    """Run ``openssl s_client`` offering only the key exchange *group*; return it finished.

    :param version: ``-tls1_2`` or ``-tls1_3``.
    """
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", version, "-groups", group],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
