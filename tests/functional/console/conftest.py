"""Fixtures of the console-stream tests: a live ciweb-api with the console filter, and builds."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.functional.ciweb_process import LISTENING, ciweb_api
from tests.functional.console import stack

TENANT = "console-tenant"


@dataclass
class Live:
    """A running ciweb-api and a store on its database."""

    url: str
    store: Any

    @property
    def ws_url(self) -> str:
        """Return the websocket URL of the tenant's console stream."""
        return self.url.replace("http://", "ws://") + f"/api/tenant/{TENANT}/console-stream"


def start_live(tmp_path: Path, console_options: str, conf_extra: str = "") -> Iterator[Live]:
    """Start ciweb-api with the console filter configured by *console_options*.

    :param conf_extra: more ciweb.conf text, e.g. ``[auth]`` sections.
    """
    from ciweb.ci import writes

    paste = stack.paste_ini(tmp_path, None, console_options)
    conf = stack.ciweb_conf(tmp_path, paste, extra=conf_extra)
    store = stack.store_for(conf)
    writes.upsert_tenant(store, TENANT)
    writes.upsert_tenant(store, "other-tenant")
    try:
        with ciweb_api(conf) as server:
            url = server.wait_for(LISTENING).group(1)
            yield Live(url, store)
    finally:
        store.engine.dispose()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """Yield a live server whose console filter polls every 50 ms."""
    yield from start_live(tmp_path, "poll_interval = 0.05\nheartbeat = 0")


def make_build(
    store: Any, *, tenant: str = TENANT, started: bool = True, artifacts: list[Any] | None = None
) -> str:
    """Record a buildset and one running build in *tenant*; return the build's uuid."""
    from ciweb.ci import reporting

    ref = {"project": "org/project", "ref": "refs/heads/main", "branch": "main"}
    buildset = uuidlib.uuid4().hex
    reporting.create_buildset(store, tenant, {"uuid": buildset, "pipeline": "check", "refs": [ref]})
    build = uuidlib.uuid4().hex
    data: dict[str, Any] = {"uuid": build, "job_name": "tox-py312"}
    if started:
        data["start_time"] = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
    if artifacts is not None:
        data["artifacts"] = artifacts
    reporting.create_build(store, tenant, buildset, data)
    return build


class FingerStreamer:
    """A tiny Zuul finger log streamer on 127.0.0.1: reads "<uuid>\\n", sends the script.

    :param script: called with the connected socket and the uuid read.
    """

    def __init__(self, script: Callable[[socket.socket, str], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FingerStreamer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()
        self.thread.join(5)

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            line = b""
            while not line.endswith(b"\n"):
                data = conn.recv(100)
                if not data:
                    return
                line += data
            uuid = line.decode().strip()
            self.requests.append(uuid)
            self.script(conn, uuid)
