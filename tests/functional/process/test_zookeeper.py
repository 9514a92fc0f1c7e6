"""ciweb-api registers its listening address in a real ZooKeeper."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

from kazoo.client import KazooClient

from tests.functional.process.conftest import Api, wait_for
from tests.functional.zookeeper_server import ZooKeeperServer

PATH = "/ciweb-test/api"


def test_ciweb_api_registers_and_unregisters_on_sigterm(
    api: Callable[..., Api], zookeeper: ZooKeeperServer, zk_client: KazooClient
) -> None:
    server = api("zk", workers=1)
    server.conf.write_text(
        server.conf.read_text()
        + f"[zookeeper]\nhosts = {zookeeper.hosts}\npath = {PATH}\nsession_timeout = 2\n"
        "connect_timeout = 1\nretry_max_delay = 0.5\n"
    )
    server.start()
    node = f"{PATH}/127.0.0.1:{server.port}"
    wait_for(lambda: zk_client.exists(node), "the registration")
    data = json.loads(zk_client.get(node)[0])
    assert data["pid"] == server.proc.pid  # type: ignore[union-attr]
    assert data["monitor"] == f"127.0.0.1:{server.monitor_port}"
    assert data["version"] == "0.1.0" and data["start_time"] > 0
    assert server.get("/")[0] == 200

    # Frozen past the session timeout: the session expires, the node is re-created.
    zookeeper.freeze()
    time.sleep(3.5)  # the frozen server cannot be polled; 3.5 s > the 2 s session
    zookeeper.resume()
    wait_for(
        lambda: (stat := zk_client.exists(node)) is not None and stat.ephemeralOwner != 0,
        "the node after the freeze",
    )
    wait_for(lambda: "session expired" in server.text(), "the session expiry")
    wait_for(lambda: "registered " + node in server.text().split("session expired")[-1],
             "the re-registration after the expiry")  # fmt: skip

    server.signal(signal.SIGTERM)
    began = time.monotonic()
    wait_for(lambda: zk_client.exists(node) is None, "the node's removal", deadline=3.0)
    assert time.monotonic() - began < 3.0
    assert server.proc.wait(timeout=20) == 0  # type: ignore[union-attr]
