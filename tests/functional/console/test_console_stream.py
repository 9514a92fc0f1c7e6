"""The console-stream websocket against a live ciweb-api: Zuul's protocol, both sources, bounds."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from tests.functional.console.conftest import (
    TENANT,
    FingerStreamer,
    Live,
    make_build,
    start_live,
)

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def open_stream(url: str, uuid: str) -> Iterator[ClientConnection]:
    """Connect and send the dashboard's first message."""
    with connect(url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps({"uuid": uuid, "logfile": "console.log"}))
        yield ws


def stalled_viewer(url: str, uuid: str) -> socket.socket:
    """Open a stream with a tiny receive buffer, send the request, then never read."""
    protocol = ClientProtocol(parse_uri(url))
    host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, port))
    protocol.send_request(protocol.connect())
    for data in protocol.data_to_send():
        sock.sendall(data)
    while not protocol.events_received():  # the first event is the handshake's response
        protocol.receive_data(sock.recv(4096))
    if protocol.handshake_exc is not None:
        raise protocol.handshake_exc
    protocol.send_text(json.dumps({"uuid": uuid, "logfile": "console.log"}).encode())
    for data in protocol.data_to_send():
        sock.sendall(data)
    return sock


def read_until_closed(ws: ClientConnection, timeout: float = 10) -> tuple[str, int, str]:
    """Return all the text received, then the close code and reason."""
    text, deadline = [], time.monotonic() + timeout
    while True:
        try:
            text.append(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return "".join(text), closed.rcvd.code, closed.rcvd.reason


def read_until(ws: ClientConnection, expected: str, timeout: float = 10) -> str:
    text, deadline = "", time.monotonic() + timeout
    while expected not in text:
        text += ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    return text


def test_a_late_viewer_gets_the_whole_log_then_follows_until_the_end_marker(live: Live) -> None:
    from ciweb.ci import admin

    uuid = make_build(live.store)
    admin.append_console(live.store, TENANT, uuid, "line 1\n")
    admin.append_console(live.store, TENANT, uuid, "line 2\n")
    with open_stream(live.ws_url, uuid) as ws:
        assert read_until(ws, "line 2\n") == "line 1\nline 2\n"
        admin.append_console(live.store, TENANT, uuid, "line 3\n")
        assert read_until(ws, "line 3\n") == "line 3\n"
        admin.append_console(live.store, TENANT, uuid, "bye\n", end=True)
        assert read_until_closed(ws) == ("bye\n", 1000, "No more data")


def test_the_stream_ends_when_the_build_gets_a_result_after_its_last_text(live: Live) -> None:
    from ciweb.ci import admin, reporting

    uuid = make_build(live.store)
    with open_stream(live.ws_url, uuid) as ws:
        admin.append_console(live.store, TENANT, uuid, "tests passed\n")
        reporting.update_build(live.store, TENANT, uuid, {"result": "SUCCESS"})
        assert read_until_closed(ws) == ("tests passed\n", 1000, "No more data")


def test_a_large_chunk_arrives_whole_in_several_frames(live: Live) -> None:
    from ciweb.ci import admin

    uuid = make_build(live.store)
    big = "".join(f"{i:06d} é\n" for i in range(20000))  # 180,000 characters
    admin.append_console(live.store, TENANT, uuid, big, end=True)
    with open_stream(live.ws_url, uuid) as ws:
        assert read_until_closed(ws) == (big, 1000, "No more data")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"uuid": "x"}, "'logfile' missing from request payload"),
        ({"logfile": "console.log"}, "'uuid' missing from request payload"),
        ("not json", "Invalid request payload"),
        ([1, 2], "Invalid request payload"),
    ],
)
def test_a_bad_first_message_is_closed_with_4000(live: Live, payload: object, reason: str) -> None:
    with connect(live.ws_url, open_timeout=10) as ws:
        ws.send(payload if isinstance(payload, str) else json.dumps(payload))
        assert read_until_closed(ws) == ("", 4000, reason)


def test_an_unknown_build_and_a_build_of_another_tenant_are_closed_with_4011(live: Live) -> None:
    other = make_build(live.store, tenant="other-tenant")
    for uuid in ("0" * 32, other):
        with open_stream(live.ws_url, uuid) as ws:
            assert read_until_closed(ws) == ("", 4011, "Build not found")


def test_a_build_that_did_not_start_is_closed_with_4011(live: Live) -> None:
    uuid = make_build(live.store, started=False)
    with open_stream(live.ws_url, uuid) as ws:
        assert read_until_closed(ws) == ("", 4011, "Build did not start yet")


def test_a_finger_streamer_is_relayed_in_frames_of_at_most_1024_bytes(live: Live) -> None:
    log = "".join(f"finger line {i}\n" for i in range(400)).encode()

    def script(conn: socket.socket, uuid: str) -> None:
        for start in range(0, len(log), 3000):
            conn.sendall(log[start : start + 3000])

    with FingerStreamer(script) as streamer:
        uuid = make_build(
            live.store,
            artifacts=[{"name": "console", "url": f"finger://127.0.0.1:{streamer.port}/x"}],
        )
        with open_stream(live.ws_url, uuid) as ws:
            frames = []
            try:
                while True:
                    frames.append(ws.recv(timeout=10))
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                assert (closed.rcvd.code, closed.rcvd.reason) == (1000, "No more data")
    assert "".join(frames).encode() == log
    assert max(len(f.encode()) for f in frames) <= 1024
    assert streamer.requests == [uuid]


def test_an_unreachable_finger_streamer_is_closed_with_4011(live: Live) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    uuid = make_build(live.store, artifacts=[{"name": "c", "url": f"finger://127.0.0.1:{port}"}])
    with open_stream(live.ws_url, uuid) as ws:
        assert read_until_closed(ws) == ("", 4011, "Error with log streaming")


def test_a_slow_viewer_stalls_the_finger_streamer_instead_of_growing_the_server(
    tmp_path: Path,
) -> None:
    sent = {"bytes": 0, "stalled": False}
    block = b"x" * 65536

    def script(conn: socket.socket, uuid: str) -> None:
        conn.settimeout(3)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                conn.sendall(block)
                sent["bytes"] += len(block)
        except TimeoutError:
            sent["stalled"] = True
        except OSError:
            pass

    gen = start_live(tmp_path, "send_timeout = 30\nheartbeat = 0")
    live = next(gen)
    try:
        with FingerStreamer(script) as streamer:
            url = f"finger://127.0.0.1:{streamer.port}"
            uuid = make_build(live.store, artifacts=[{"name": "c", "url": url}])
            with stalled_viewer(live.ws_url, uuid):
                streamer.thread.join(40)  # the viewer reads nothing meanwhile
    finally:
        gen.close()
    # Only socket buffers hold data (a few MiB at most); an unbounded relay never stalls.
    assert sent["stalled"], sent
    assert sent["bytes"] < 32 * 1024 * 1024, sent


@pytest.fixture
def tight(tmp_path: Path) -> Iterator[Live]:
    """A live server with one stream at most, a whitelabel tenant and a 1 s idle timeout."""
    yield from start_live(
        tmp_path, f"tenant = {TENANT}\nmax_streams = 1\nidle_timeout = 1\npoll_interval = 0.05"
    )


def test_one_stream_more_than_max_streams_is_refused_with_503_before_the_upgrade(
    tight: Live,
) -> None:
    uuid = make_build(tight.store)
    with open_stream(tight.ws_url, uuid):
        with pytest.raises(InvalidStatus) as refused, connect(tight.ws_url, open_timeout=10):
            pass
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "5"
    # The slot is free again once the first stream has ended.
    deadline = time.monotonic() + 10
    while True:
        try:
            with connect(tight.ws_url, open_timeout=10):
                break
        except InvalidStatus:
            assert time.monotonic() < deadline, "the stream slot was never released"
            time.sleep(0.1)


def test_a_stream_without_new_text_is_closed_after_the_idle_timeout(tight: Live) -> None:
    from ciweb.ci import admin

    uuid = make_build(tight.store)
    admin.append_console(tight.store, TENANT, uuid, "started\n")
    with open_stream(tight.ws_url, uuid) as ws:
        assert read_until_closed(ws, timeout=10) == ("started\n", 1001, "Idle timeout")


def test_the_whitelabel_path_streams_the_configured_tenant(tight: Live) -> None:
    from ciweb.ci import admin

    uuid = make_build(tight.store)
    admin.append_console(tight.store, TENANT, uuid, "white\n", end=True)
    url = tight.url.replace("http://", "ws://") + "/api/console-stream"
    with open_stream(url, uuid) as ws:
        assert read_until_closed(ws) == ("white\n", 1000, "No more data")


def test_a_plain_get_of_the_stream_path_is_a_json_400_and_other_paths_reach_the_api(
    live: Live,
) -> None:
    response = requests.get(live.ws_url.replace("ws://", "http://"), timeout=10)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "websocket" in response.json()["description"]
    assert requests.get(live.url + "/api/tenants", timeout=10).status_code == 200
