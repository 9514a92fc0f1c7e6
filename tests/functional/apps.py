"""Tiny WSGI applications and a server runner for the functional tests of ciweb's server.

:func:`test_app` dispatches on the first path segment (``/echo``, ``/body``, ``/slow``, ...);
:func:`app_factory` is its paste factory.  ``python -m tests.functional.apps '<json>'`` serves
it with :class:`ciweb.wsgi.server.Server` in a monkey-patched process, prints one JSON line
``{"port": N}`` on stdout, and stops gracefully on SIGTERM.  :class:`ServerProcess` runs that
from pytest, so eventlet never patches the test process.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REPO = Path(__file__).resolve().parents[2]

SECRET = "secret-message-do-not-leak"


def _query(environ: WSGIEnvironment) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))


def _text(start_response: StartResponse, body: bytes, status: str = "200 OK") -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _sleep(seconds: float) -> None:
    # time.sleep is green in the monkey-patched server process.
    time.sleep(seconds)


def echo(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Return the environ's string values and the body as JSON."""
    parts = []
    while data := environ["wsgi.input"].read(1024):
        parts.append(data)
    body = b"".join(parts)
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    out = json.dumps({"environ": seen, "body": body.decode("latin-1")}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
    )
    return [out]


def body(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Read the body in 1 KiB pieces; return its length and the bytes."""
    parts = []
    while data := environ["wsgi.input"].read(1024):
        parts.append(data)
    data = b"".join(parts)
    return _text(start_response, b"%d:" % len(data) + data)


def slow(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    """Send ``first``, sleep ``?seconds``, then send ``last`` (Content-Length framed)."""
    seconds = float(_query(environ).get("seconds", "1"))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "20")])
    yield b"slow-first|"
    _sleep(seconds)
    yield b"slow-last"


def stream(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    """Send three pieces without a Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield from (b"one,", b"two,", b"three")


def fail(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Raise an exception whose message must never reach the client."""
    raise RuntimeError(SECRET)


def fail_late(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    """Start a chunked body, then raise."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"partial"
    raise RuntimeError(SECRET)


def not_found(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Raise webob's 404 with no faults filter around."""
    import webob.exc

    raise webob.exc.HTTPNotFound()


def bad_header(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer with a header value that would split the response (``?chunked`` drops the
    Content-Length, so the failed head had chosen chunked framing)."""
    headers = [("X-Bad", "a\r\nX-Injected: yes")]
    if "chunked" not in environ.get("QUERY_STRING", ""):
        headers.append(("Content-Length", "2"))
    start_response("200 OK", headers)
    return [b"ok"]


def status(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer ``/status/<code>`` with a body (``?length=1`` adds a Content-Length)."""
    code = int(environ["PATH_INFO"].split("/")[2])
    headers = [("Content-Type", "text/plain")]
    if _query(environ).get("length"):
        headers.append(("Content-Length", "4"))
    start_response(f"{code} Whatever", headers)
    return [b"body"]


def sockopt(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Return the keepalive and Nagle socket options of the connection as JSON."""
    import socket

    sock = environ["eventlet.input"].get_socket()
    values = {"SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)}
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_NODELAY"):
        values[name] = sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name))
    return _text(start_response, json.dumps(values).encode())


def no_log(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Mark the request as logged already (the access log must skip it)."""
    environ["ciweb.access_logged"] = True
    return _text(start_response, b"unlogged")


def ignore_body(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer without reading the body."""
    return _text(start_response, b"ignored")


def takeover(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Take the connection over as eventlet.websocket does: echo raw lines until "bye"."""
    environ["eventlet.set_idle"]()
    sock = environ["eventlet.input"].get_socket()
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
    )
    reader = sock.makefile("rb")
    for line in iter(reader.readline, b""):
        sock.sendall(line)
        if line.strip() == b"bye":
            break
    return []


_SERVED = itertools.count(1)


def order(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    """Answer the rank of this request among those this process served on this route."""
    return _text(start_response, str(next(_SERVED)).encode())


ROUTES: dict[str, WSGIApplication] = {
    "echo": echo,
    "body": body,
    "slow": slow,  # type: ignore[dict-item]
    "stream": stream,  # type: ignore[dict-item]
    "fail": fail,
    "fail-late": fail_late,  # type: ignore[dict-item]
    "notfound": not_found,
    "badheader": bad_header,
    "status": status,
    "sockopt": sockopt,
    "nolog": no_log,
    "ignore": ignore_body,
    "takeover": takeover,
    "order": order,
}


def test_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Dispatch on the first path segment to one of :data:`ROUTES`; 200 ``hello`` otherwise."""
    name = environ["PATH_INFO"].split("/")[1] if environ["PATH_INFO"].startswith("/") else ""
    route = ROUTES.get(name)
    if route is None:
        return _text(start_response, b"hello")
    return route(environ, start_response)


test_app.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def app_factory(global_conf: dict[str, str], **local_conf: str) -> WSGIApplication:
    """Paste factory of :func:`test_app`."""
    return test_app  # type: ignore[return-value]


# -- the server process -------------------------------------------------------------------


def wait_for_signal(signals: Sequence[signal.Signals]) -> signal.Signals:
    """Block the calling green thread until one of *signals* arrives; return it.

    The signal is delivered through ``signal.set_wakeup_fd``: the C-level handler writes
    the signal number to a pipe that eventlet's hub watches, so the hub wakes at once
    (a Python handler alone would only run when the hub next wakes by itself).
    """
    from eventlet import hubs

    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous = {signum: signal.signal(signum, lambda *_: None) for signum in signals}
    old_wakeup = signal.set_wakeup_fd(write_fd)
    try:
        while True:
            hubs.trampoline(read_fd, read=True)
            for number in os.read(read_fd, 64):
                if number in previous:
                    return signal.Signals(number)
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(read_fd)
        os.close(write_fd)


def _serve(options: dict[str, Any]) -> int:
    import eventlet

    from ciweb.wsgi import server as server_module  # imports eventlet quietly

    eventlet.monkey_patch()
    import logging

    from ciweb.wsgi.protocol import Limits

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    access_file = options.pop("access_log_file", None)
    if access_file:
        handler = logging.FileHandler(access_file)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("ciweb.access").addHandler(handler)
    app: Any = test_app
    if options.pop("validate", False):
        import wsgiref.validate

        app = wsgiref.validate.validator(app)
    tls = options.pop("tls", None)
    if tls:
        options["ssl_context"] = server_module.make_ssl_context(**tls)
    if "tcp_keepalive" in options and options["tcp_keepalive"] is not None:
        options["tcp_keepalive"] = tuple(options["tcp_keepalive"])
    options["limits"] = Limits(**options.pop("limits", {}))
    server = server_module.Server(app, **options)
    server.start()
    host, port = server.address
    print(json.dumps({"host": host, "port": port}), flush=True)
    wait_for_signal([signal.SIGTERM])
    server.stop()
    print(json.dumps({"stopped": True}), flush=True)
    return 0


class ServerProcess:
    """A test server in a child process; ``with ServerProcess(...) as srv: srv.port``.

    :param options: keyword arguments of :class:`ciweb.wsgi.server.Server` (``limits`` a
        dict of :class:`Limits` fields; ``tls`` a dict for ``make_ssl_context``;
        ``validate`` wraps the app in ``wsgiref.validate``; ``access_log_file`` a path).
    """

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.proc: subprocess.Popen[str] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.stderr_path: Path | None = None

    def start(self, stderr_path: Path | None = None, timeout: float = 20.0) -> ServerProcess:
        """Start the child and wait for its port."""
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.stderr_path = stderr_path
        stderr = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.functional.apps", json.dumps(self.options)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        if stderr_path:
            stderr.close()  # type: ignore[union-attr]
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout)
            raise RuntimeError(f"test server exited with {self.proc.returncode}")
        info = json.loads(line)
        self.host, self.port = info["host"], info["port"]
        return self

    def terminate(self) -> None:
        """Send SIGTERM (a graceful stop)."""
        assert self.proc is not None
        self.proc.terminate()

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit; return its status."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def close(self) -> None:
        """Stop the child, killing it if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(_serve(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
