"""Registration of running servers in a real ZooKeeper, and their discovery."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

import ciweb
from ciweb.conf import ConfigError, load
from ciweb.discovery.address import format_name, parse_name
from ciweb.discovery.zookeeper import (
    Registration,
    conf_options,
    discover,
    paste_registration_options,
)
from tests.functional.zookeeper_server import ZooKeeperServer, free_port

Factory = Callable[..., Registration]
WILDCARDS = ("0.0.0.0", "::", "")


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll *predicate* until it is true; fail naming *what* after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except KazooException:
            pass  # the inspecting client is reconnecting too
        time.sleep(0.02)
    pytest.fail(f"not within {timeout} s: {what}")


def owner(client: KazooClient, path: str) -> int | None:
    """Return the session owning the ephemeral node at *path*, or None if it is absent."""
    stat = client.exists(path)
    return stat.ephemeralOwner if stat is not None else None


# Addresses


@pytest.mark.parametrize("host", WILDCARDS)
def test_a_registration_refuses_a_wildcard_address(host: str) -> None:
    with pytest.raises(ValueError, match="unspecified"):
        Registration("127.0.0.1:2181", "/x", (host, 9000), session_timeout=2)


def test_from_options_advertises_a_wildcard_monitor_at_the_servers_own_host() -> None:
    registration = Registration.from_options(
        ("0.0.0.0", 9000), hosts="127.0.0.1:2181", monitor=("", 9001), session_timeout=2
    )
    host, port = parse_name(registration.name)
    assert host not in WILDCARDS and port == 9000
    assert registration.data["monitor"] == format_name(host, 9001)


# Options


def test_paste_keys_in_zc_zkzopeserver_style_become_registration_options() -> None:
    options = paste_registration_options(
        {
            "zookeeper": "zk1:2181,zk2:2181",
            "path": "/fooservice/providers",
            "monitor_server": "127.0.0.1:9001",
            "session_timeout": "4",
            "host": "0.0.0.0",  # the runner's own key, not ours
        }
    )
    assert options["hosts"] == "zk1:2181,zk2:2181"
    assert options["path"] == "/fooservice/providers"
    assert options["monitor"] == ("127.0.0.1", 9001)
    assert options["session_timeout"] == 4.0
    registration = Registration.from_options(("127.0.0.1", 9000), **options)
    assert registration.node_path == "/fooservice/providers/127.0.0.1:9000"


def test_a_bad_paste_value_names_its_key() -> None:
    with pytest.raises(ConfigError, match="session_timeout"):
        paste_registration_options({"zookeeper": "zk:2181", "session_timeout": "0.01"})
    with pytest.raises(ConfigError, match="monitor_server"):
        paste_registration_options({"zookeeper": "zk:2181", "monitor_server": "nowhere"})


def test_registration_is_off_by_default_in_ciweb_conf() -> None:
    options = conf_options(load([]))
    assert options["hosts"] == ""
    assert options["path"] == "/ciweb/servers"


# Registration against a real ZooKeeper


def test_the_node_is_present_with_the_server_data_while_registered(
    zookeeper: ZooKeeperServer, zk_client: KazooClient, zk_path: str, registrations: Factory
) -> None:
    registration = registrations(
        zookeeper.hosts, zk_path, ("127.0.0.1", 8080), {"monitor": "127.0.0.1:8081"}
    )
    before = time.time()
    registration.start()
    wait_until(lambda: registration.is_registered, 10, "registered")

    value, stat = zk_client.get(f"{zk_path}/127.0.0.1:8080")
    data = json.loads(value)
    assert data["pid"] == os.getpid()
    assert data["version"] == ciweb.__version__
    assert data["monitor"] == "127.0.0.1:8081"
    assert (data["host"], data["port"]) == ("127.0.0.1", 8080)
    assert before <= data["start_time"] <= time.time()
    assert stat.ephemeralOwner != 0  # ephemeral: it goes with the server's session


def test_the_node_is_gone_within_a_second_of_stop(
    zookeeper: ZooKeeperServer, zk_client: KazooClient, zk_path: str, registrations: Factory
) -> None:
    registration = registrations(zookeeper.hosts, zk_path, ("::1", 8080))
    node = f"{zk_path}/[::1]:8080"
    registration.start()
    wait_until(lambda: registration.is_registered and zk_client.exists(node), 10, "registered")

    began = time.monotonic()
    registration.stop()
    wait_until(lambda: zk_client.exists(node) is None, 1.0 - (time.monotonic() - began), "gone")
    assert not registration.is_registered


def test_the_node_is_back_after_zookeeper_freezes_past_the_session_timeout(
    zookeeper: ZooKeeperServer, zk_client: KazooClient, zk_path: str, registrations: Factory
) -> None:
    registration = registrations(zookeeper.hosts, zk_path, ("127.0.0.1", 8082))
    node = f"{zk_path}/127.0.0.1:8082"
    registration.start()
    wait_until(lambda: registration.is_registered, 10, "registered")

    zookeeper.freeze()
    try:
        wait_until(lambda: not registration.is_registered, 5, "connection loss noticed")
        # The stimulus, not a hope: stay frozen well past the 2 s session timeout.
        time.sleep(3.5)
    finally:
        zookeeper.resume()

    # On resume ZooKeeper usually expires the session first (the node is then re-created
    # by a new session), but a reconnection queued during the freeze may revive the old
    # session instead (node kept).  Either way the node must be back, held by the
    # registration's live session; the next test forces the expiry path.
    wait_until(
        lambda: registration.is_registered and owner(zk_client, node) == registration.session_id,
        15,
        "node held by the registration's live session",
    )


def test_the_node_is_recreated_by_a_new_session_after_the_session_is_lost(
    zk_path: str, registrations: Factory
) -> None:
    with ZooKeeperServer() as private:
        registration = registrations(private.hosts, zk_path, ("127.0.0.1", 8086))
        registration.start()
        wait_until(lambda: registration.is_registered, 10, "registered")
        first_session = registration.session_id

        private.restart_empty()  # the session and its node are forgotten: LOST on reconnect

        def recreated() -> bool:
            names = [name for name, _ in discover(private.hosts, zk_path, 5)]
            return registration.is_registered and names == ["127.0.0.1:8086"]

        wait_until(recreated, 15, "node re-created")
        assert registration.session_id != first_session
        registration.stop()


def test_a_registration_started_while_zookeeper_is_down_succeeds_once_it_comes_up(
    zk_path: str, registrations: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ciweb.discovery.zookeeper")
    late = ZooKeeperServer(port=free_port())
    registration = registrations(late.hosts, zk_path, ("127.0.0.1", 8083), connect_timeout=0.3)
    try:
        began = time.monotonic()
        registration.start()
        assert time.monotonic() - began < 0.5  # serving is never held up by ZooKeeper
        wait_until(lambda: "unreachable" in caplog.text, 5, "the outage is logged")
        assert not registration.is_registered

        late.start()
        wait_until(lambda: registration.is_registered, 15, "registered once ZooKeeper is up")
        assert [name for name, _ in discover(late.hosts, zk_path, 5)] == ["127.0.0.1:8083"]
    finally:
        registration.stop()
        late.close()


def test_a_stale_node_of_another_session_is_replaced(
    zookeeper: ZooKeeperServer, zk_client: KazooClient, zk_path: str, registrations: Factory
) -> None:
    node = f"{zk_path}/127.0.0.1:8084"
    zk_client.create(node, b'{"pid": 1}', ephemeral=True, makepath=True)
    stale_owner = owner(zk_client, node)

    registration = registrations(zookeeper.hosts, zk_path, ("127.0.0.1", 8084))
    registration.start()
    wait_until(lambda: registration.is_registered, 10, "registered")

    assert owner(zk_client, node) not in (None, stale_owner)
    assert json.loads(zk_client.get(node)[0])["pid"] == os.getpid()


def test_discover_lists_the_live_instances_sorted_by_name(
    zookeeper: ZooKeeperServer, zk_path: str, registrations: Factory
) -> None:
    assert discover(zookeeper.hosts, zk_path, 5) == []  # no path yet: nobody registered
    second = registrations(zookeeper.hosts, zk_path, ("127.0.0.2", 9000), {"monitor": None})
    first = registrations(zookeeper.hosts, zk_path, ("127.0.0.1", 9000))
    second.start()
    first.start()
    wait_until(lambda: first.is_registered and second.is_registered, 10, "both registered")

    instances = discover(zookeeper.hosts, zk_path, 5)
    assert [name for name, _ in instances] == ["127.0.0.1:9000", "127.0.0.2:9000"]
    assert all(data["pid"] == os.getpid() for _, data in instances)

    second.stop()
    assert [name for name, _ in discover(zookeeper.hosts, zk_path, 5)] == ["127.0.0.1:9000"]


def test_discover_gives_up_with_timeout_error_when_zookeeper_is_unreachable() -> None:
    began = time.monotonic()
    with pytest.raises(TimeoutError, match="unreachable"):
        discover(f"127.0.0.1:{free_port()}", "/ciweb/servers", 0.5)
    assert time.monotonic() - began < 3


EVENTLET_SERVER = textwrap.dedent(
    """
    import eventlet
    eventlet.monkey_patch()
    import sys
    import time
    from ciweb.discovery.zookeeper import Registration, make_handler

    registration = Registration(
        sys.argv[1], sys.argv[2], ("127.0.0.1", 8085),
        session_timeout=2, handler=make_handler("eventlet"),
    )
    registration.start()
    deadline = time.monotonic() + 20
    while not registration.is_registered:
        if time.monotonic() > deadline:
            sys.exit("not registered within 20 s")
        eventlet.sleep(0.02)
    print("registered", flush=True)
    sys.stdin.readline()
    registration.stop()
    print("stopped", flush=True)
    """
)


@pytest.mark.slow
def test_registration_works_under_eventlet_with_the_green_handler(
    zookeeper: ZooKeeperServer, zk_client: KazooClient, zk_path: str
) -> None:
    node = f"{zk_path}/127.0.0.1:8085"
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(
        [sys.executable, "-c", EVENTLET_SERVER, zookeeper.hosts, zk_path],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdin is not None
            assert proc.stdout.readline().strip() == "registered"
            assert json.loads(zk_client.get(node)[0])["pid"] == proc.pid
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "stopped"
            assert zk_client.exists(node) is None
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_stop_returns_promptly_while_zookeeper_is_unreachable(
    zk_path: str, registrations: Factory
) -> None:
    registration = registrations(f"127.0.0.1:{free_port()}", zk_path, ("127.0.0.1", 8087))
    registration.start()
    began = time.monotonic()
    registration.stop()
    assert time.monotonic() - began < 2
    assert not registration.is_registered
