"""Tests of ciweb.api.controllers.resources: the demo's reported resources, served in
zuul-web 14.3's shapes; empty lists before a report; 404 for an unknown tenant."""

from __future__ import annotations

import pytest

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import OTHER, T, error_of, get

LISTS = ["labels", "nodes", "semaphores", "nodeset-requests", "providers", "images", "flavors"]


@pytest.mark.parametrize("suffix", [*LISTS, "system-events"])
def test_every_list_has_the_demos_data_and_another_tenant_has_none(app: Faults, suffix) -> None:
    response = get(app, f"{T}/{suffix}")
    assert response.status_code == 200
    assert response.json
    assert get(app, f"/api/tenant/{OTHER}/{suffix}").json == []
    assert error_of(get(app, f"/api/tenant/nope/{suffix}")) == "Unknown tenant"


@pytest.mark.parametrize("suffix", LISTS)
def test_lists_tell_their_length(app: Faults, suffix) -> None:
    response = get(app, f"{T}/{suffix}")
    assert response.headers["X-Total-Count"] == str(len(response.json))


def test_nodes_have_the_keys_the_dashboard_and_zuul_client_read(app: Faults) -> None:
    nodes = get(app, f"{T}/nodes").json
    for node in nodes:
        assert node["id"] == node["uuid"] and node["type"] == [node["label"]]
        assert {"connection_type", "provider", "state", "state_time", "comment",
                "lock_holder", "main_node_id", "next_state"} <= set(node)  # fmt: skip
    assert {n["state"] for n in nodes} >= {"in-use", "ready", "hold"}


def test_a_semaphore_counts_its_holders(app: Faults) -> None:
    semaphores = {s["name"]: s for s in get(app, f"{T}/semaphores").json}
    lab = semaphores["integration-lab"]
    assert lab["holders"]["count"] == len(lab["holders"]["this_tenant"]) == 1
    assert semaphores["pypi-upload"]["global"] is True


def test_system_events_are_newest_first_and_filtered_as_zuul(app: Faults) -> None:
    events = get(app, f"{T}/system-events").json
    assert [e["event_time"] for e in events] == sorted((e["event_time"] for e in events),
                                                       reverse=True)  # fmt: skip
    kind = events[0]["event_type"]
    only = get(app, f"{T}/system-events?event_type={kind}&limit=1").json
    assert len(only) == 1 and only[0]["event_type"] == kind
    bad = get(app, f"{T}/system-events?idx_min=x")
    assert bad.status_code == 400 and error_of(bad) == "idx_min, idx_max must be integers"


def test_the_tenant_ssh_key_is_text(app: Faults) -> None:
    response = get(app, f"{T}/tenant-ssh-key/ssh.pub")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain"
    assert response.text.startswith("ssh-ed25519 ") and response.text.endswith("\n")
    missing = get(app, f"/api/tenant/{OTHER}/tenant-ssh-key/ssh.pub")
    assert missing.status_code == 404 and error_of(missing) == "Tenant has no key"


def test_components_and_connections_are_the_roots(app: Faults) -> None:
    components = get(app, "/api/components").json
    assert components["scheduler"][0] == {
        "hostname": "zs01.example.org", "state": "running", "version": "14.3.0"}  # fmt: skip
    connections = get(app, "/api/connections").json
    assert {"name": "timer", "driver": "timer"} in connections


def test_whitelabel_paths_serve_the_same(whitelabel_app: Faults, app: Faults) -> None:
    for suffix in ("nodes", "labels", "tenant-ssh-key/ssh.pub"):
        assert get(whitelabel_app, f"/api/{suffix}").body == get(app, f"{T}/{suffix}").body
