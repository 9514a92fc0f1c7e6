"""Tests of ciweb.ci.documents: reported labels, nodes, semaphores... stored as Zuul serves
them, each report all or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ciweb.ci import admin, documents
from ciweb.ci.errors import Conflict, NotFound, ValidationError
from ciweb.ci.models import ReportedDocument

NODE = {"uuid": "n1", "label": "ubuntu-noble", "state": "ready", "provider": "p",
        "comment": "kept"}  # fmt: skip
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKCA6jfObA3MUOqoC0+HJo1w0BdvgGYgXdvNhpRudgT8 t"


def _count(store) -> int:
    with store.read() as session:
        return int(session.scalar(select(func.count(ReportedDocument.id))) or 0)


def test_a_list_is_stored_in_order_and_replaced_whole(store) -> None:
    assert documents.replace_list(store, "t", "labels", [{"name": "b"}, {"name": "a"}]) == 2
    assert documents.list_documents(store, "t", "labels") == [{"name": "b"}, {"name": "a"}]
    documents.replace_list(store, "t", "labels", [{"name": "c", "description": None}])
    assert documents.list_documents(store, "t", "labels") == [{"name": "c", "description": None}]
    assert documents.list_documents(store, "other", "labels") == []


def test_a_bad_item_writes_nothing(store) -> None:
    documents.replace_list(store, "t", "labels", [{"name": "a"}])
    with pytest.raises(ValidationError) as caught:
        documents.replace_list(store, "t", "labels", [{"name": "b"}, {"name": ""}])
    assert caught.value.field == "labels[1].name"
    with pytest.raises(ValidationError, match=r"labels\[1\].name: appears twice"):
        documents.replace_list(store, "t", "labels", [{"name": "b"}, {"name": "b"}])
    assert documents.list_documents(store, "t", "labels") == [{"name": "a"}]


def test_a_node_gets_zuuls_id_type_and_defaults(store) -> None:
    documents.replace_list(store, "t", "nodes", [NODE])
    [node] = documents.list_documents(store, "t", "nodes")
    assert node["id"] == "n1" and node["type"] == ["ubuntu-noble"]
    assert node["next_state"] is None and node["quota"] == {} and node["is_locked"] is False


def test_a_semaphore_counts_its_holders_and_refuses_a_wrong_count(store) -> None:
    holder = {"buildset_uuid": "b" * 32, "job_name": "j"}
    semaphore = {"name": "s", "max": 2, "holders": {"this_tenant": [holder], "other_tenants": 1}}
    documents.replace_list(store, "t", "semaphores", [semaphore])
    [stored] = documents.list_documents(store, "t", "semaphores")
    assert stored["holders"]["count"] == 2 and stored["global"] is False
    wrong = {**semaphore, "holders": {**semaphore["holders"], "count": 5}}
    with pytest.raises(ValidationError) as caught:
        documents.replace_list(store, "t", "semaphores", [wrong])
    assert caught.value.field == "semaphores[0].holders.count"


def test_an_unknown_tenant_is_not_found(store) -> None:
    with pytest.raises(NotFound, match="Unknown tenant"):
        documents.replace_list(store, "nope", "labels", [])
    with pytest.raises(NotFound, match="Unknown tenant"):
        documents.list_documents(store, "nope", "labels")


def test_components_and_connections_belong_to_the_root(store) -> None:
    assert documents.components(store) == {}
    documents.put_components(store, {"executor": [{"hostname": "ze01", "state": "running"}]})
    documents.put_components(store, {"scheduler": [{"hostname": "zs01", "state": "paused"}]})
    assert documents.components(store) == {
        "scheduler": [{"hostname": "zs01", "state": "paused", "version": None}]
    }
    documents.replace_connections(store, [{"name": "gerrit", "driver": "gerrit", "port": 29418}])
    assert documents.connections(store) == [{"name": "gerrit", "driver": "gerrit", "port": 29418}]
    with pytest.raises(ValidationError) as caught:
        documents.replace_connections(store, [{"name": "x", "driver": "y", "deep": {"a": 1}}])
    assert caught.value.field == "connections[0].deep"
    assert _count(store) == 2


def test_the_tenant_ssh_key_must_be_an_openssh_key(store) -> None:
    with pytest.raises(NotFound, match="Tenant has no key"):
        documents.tenant_ssh_key(store, "t")
    documents.put_tenant_ssh_key(store, "t", {"public_key": ED25519 + "\n"})
    assert documents.tenant_ssh_key(store, "t") == ED25519 + "\n"
    for bad in ("ssh-rsa nonsense", "-----BEGIN PUBLIC KEY-----", "ssh-ed25519 é"):
        with pytest.raises(ValidationError, match="public_key"):
            documents.put_tenant_ssh_key(store, "t", {"public_key": bad})
    assert documents.tenant_ssh_key(store, "t") == ED25519 + "\n"


def test_system_events_are_newest_first_and_filtered(store) -> None:
    events = [
        {"event_id": f"e{i}", "event_type": "reconfigure" if i % 2 else "smart-reconfigure",
         "event_time": f"2025-03-01T08:0{i}:00", "description": f"event {i}"}
        for i in range(4)
    ]  # fmt: skip
    assert documents.add_system_events(store, "t", events) == 4
    listed = documents.system_events(store, "t", {})
    assert [e["event_id"] for e in listed] == ["e3", "e2", "e1", "e0"]
    odd = documents.system_events(store, "t", {"event_type": ["reconfigure"], "limit": "1"})
    assert [e["event_id"] for e in odd] == ["e3"]
    assert [e["event_id"] for e in documents.system_events(store, "t", {"skip": "3"})] == ["e0"]
    with pytest.raises(Conflict, match="e1"):
        documents.add_system_events(store, "t", [events[1]])
    with pytest.raises(ValidationError) as caught:
        documents.system_events(store, "t", {"idx_min": "x"})
    assert caught.value.field == "idx_min"
    with pytest.raises(ValidationError):
        documents.system_events(store, "t", {"colour": "red"})


def test_setting_a_nodes_state_records_an_event_and_the_next_state(store) -> None:
    documents.replace_list(store, "t", "nodes", [NODE])
    documents.set_node_state(store, "t", "n1", {"state": "hold"})
    [node] = documents.list_documents(store, "t", "nodes")
    assert node["next_state"] == "hold" and node["comment"] == "kept"
    documents.set_node_state(store, "t", "n1", {"state": "hold", "comment": ""})
    assert documents.list_documents(store, "t", "nodes")[0]["comment"] is None
    event = documents.set_node_state(store, "t", "n1", {"state": "used", "comment": "x"})
    assert event["payload"] == {"node": "n1", "state": "used", "comment": None}
    assert [e["type"] for e in admin.list_events(store, "t")] == ["node-set-state"] * 3


@pytest.mark.parametrize(
    ("node", "body", "error"),
    [
        ("n1", {"state": "ready"}, ValidationError),
        ("n1", {"state": "hold", "x": 1}, ValidationError),
        ("n1", {}, ValidationError),
        ("n2", {"state": "hold"}, NotFound),
    ],
)
def test_a_bad_node_state_request_changes_nothing(store, node, body, error) -> None:
    documents.replace_list(store, "t", "nodes", [NODE])
    with pytest.raises(error):
        documents.set_node_state(store, "t", node, body)
    assert documents.list_documents(store, "t", "nodes")[0]["next_state"] is None
    assert admin.list_events(store, "t") == []


def test_deleting_a_nodeset_request_removes_it_and_records_an_event(store) -> None:
    request = {"uuid": "r1", "state": "requested", "labels": ["ubuntu-noble"]}
    documents.replace_list(store, "t", "nodeset-requests", [request])
    event = documents.delete_nodeset_request(store, "t", "r1")
    assert event["type"] == "nodeset-request-delete" and event["payload"] == {"uuid": "r1"}
    assert documents.list_documents(store, "t", "nodeset-requests") == []
    with pytest.raises(NotFound, match="Request not found"):
        documents.delete_nodeset_request(store, "t", "r1")
