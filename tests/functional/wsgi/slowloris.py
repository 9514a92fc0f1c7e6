"""Load for the "pool is full" tests and ``bench/slowloris.py``: slow heads and fresh clients.

:class:`SlowHeads` keeps a number of connections sending a request head that never ends, one
byte per interval, and reconnects each one the server closes, as slowloris does.
:func:`fresh_request` times one fresh client from ``connect()`` to its whole response.
"""

from __future__ import annotations

import errno
import selectors
import socket
import threading
import time

HEAD = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: "


class SlowHeads:
    """Hold *count* connections to *port* that send one byte of a head every *interval* s.

    :param port: the server's port on 127.0.0.1.
    :param count: connections to keep open.
    :param interval: seconds between two bytes on one connection.
    """

    def __init__(self, port: int, count: int, interval: float = 1.0) -> None:
        self.address = ("127.0.0.1", port)
        self.count = count
        self.interval = interval
        self.connects = 0
        self.closed_by_server = 0
        self.answers: dict[bytes, int] = {}
        self._selector = selectors.DefaultSelector()
        self._due: dict[socket.socket, float] = {}
        self._sent: dict[socket.socket, int] = {}
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-heads", daemon=True)

    @property
    def open(self) -> int:
        """Return the number of connections currently open (connected or connecting)."""
        return len(self._due)

    def __enter__(self) -> SlowHeads:
        self._running.set()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._running.clear()
        self._thread.join(timeout=30)
        for sock in list(self._due):
            self._drop(sock)
        self._selector.close()

    def _connect(self, now: float) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        code = sock.connect_ex(self.address)
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            return
        self.connects += 1
        # Spread the bytes of the connections over the interval, as independent clients do.
        self._due[sock] = now + self.interval * (self.connects % 97) / 97
        self._sent[sock] = 0
        self._selector.register(sock, selectors.EVENT_READ)

    def _drop(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        del self._due[sock]
        del self._sent[sock]
        sock.close()

    def _on_readable(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        status = data.split(b"\r\n", 1)[0][9:12] if data else b"closed"
        self.answers[status] = self.answers.get(status, 0) + 1
        self.closed_by_server += 1
        self._drop(sock)

    def _send_due(self, now: float) -> None:
        for sock, due in list(self._due.items()):
            if due > now:
                continue
            sent = self._sent[sock]
            byte = HEAD[sent : sent + 1] or b"s"
            try:
                sock.send(byte)
            except BlockingIOError:
                pass  # still connecting: try again next interval
            except OSError:
                self.closed_by_server += 1
                self._drop(sock)
                continue
            else:
                self._sent[sock] = sent + 1
            self._due[sock] = due + self.interval

    def _run(self) -> None:
        while self._running.is_set():
            now = time.monotonic()
            while len(self._due) < self.count:
                self._connect(now)
            self._send_due(now)
            for key, _events in self._selector.select(timeout=0.02):
                self._on_readable(key.fileobj)  # type: ignore[arg-type]


def fresh_request(port: int, timeout: float = 30.0) -> float:
    """Connect, send a GET, read the whole response; return the seconds it all took.

    :raises AssertionError: when the answer is not a 200.
    """
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    return elapsed
