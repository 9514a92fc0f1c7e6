"""Tests of Zuul's admin API: the exact answers zuul-client and the dashboard rely on, the
management events recorded, rights per tenant, whitelabel paths and read protection."""

from __future__ import annotations

from typing import Any

import pytest

from ciweb.api import auth
from ciweb.ci import admin, queries
from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from tests.unit.api import test_reporting as base

# The fixtures and helpers of the reporting tests: one app, one store, one token issuer.
store = base.store
app = base.app
call, make_app, token = base.call, base.make_app, base.token

ADMIN = token(admin=["t"])
HOLD = {
    "job": "tox",
    "count": 1,
    "change": "",
    "ref": "",
    "reason": "debug (zuul-client)",
    "node_hold_expiration": None,
}


def events(store: Store) -> list[dict[str, Any]]:
    return admin.list_events(store, "t")


def test_enqueue_answers_true_and_records_an_event(app: Faults, store: Store) -> None:
    body = {"change": "1,2", "pipeline": "check"}
    response = call(app, "POST", "/api/tenant/t/project/org/project/enqueue", body, bearer=ADMIN)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.body == b"true"
    [event] = events(store)
    assert event["type"] == "enqueue"
    assert event["payload"]["project"] == "review.example.org/org/project"
    assert event["payload"]["change"] == "1,2"


def test_enqueue_ref_takes_parameters_only_for_branches_and_tags(app: Faults) -> None:
    path = "/api/tenant/t/project/org/project/enqueue"
    body = {"ref": "refs/heads/main", "oldrev": None, "newrev": "abc", "pipeline": "check"}
    with_params = {**body, "parameters": {"x": "1"}}
    assert call(app, "POST", path, with_params, bearer=ADMIN).body == b"true"
    bad = {**with_params, "ref": "refs/changes/01/1/1"}
    response = call(app, "POST", path, bad, bearer=ADMIN)
    assert response.status_code == 400 and response.json["field"] == "parameters"
    # Found by Schemathesis: a ref that is not a string was a 500.
    response = call(app, "POST", path, {**with_params, "ref": -3128}, bearer=ADMIN)
    assert response.status_code == 400 and response.json["field"] == "ref"


def test_dequeue_and_promote_answer_true(app: Faults, store: Store) -> None:
    dequeue = {"pipeline": "check", "change": "1,2"}
    path = "/api/tenant/t/project/org/project/dequeue"
    assert call(app, "POST", path, dequeue, bearer=ADMIN).body == b"true"
    promote = {"pipeline": "gate", "changes": ["1,2", "3,4"]}
    assert call(app, "POST", "/api/tenant/t/promote", promote, bearer=ADMIN).body == b"true"
    assert [e["type"] for e in events(store)] == ["dequeue", "promote"]


@pytest.mark.parametrize(
    ("path", "body", "status", "description"),
    [
        ("project/org/nope/enqueue", {"change": "1,2", "pipeline": "check"}, 404,
         "Unknown project"),
        ("project/org/project/enqueue", {"change": "1,2", "pipeline": "nope"}, 400,
         "pipeline: Unknown pipeline"),
        ("project/org/project/enqueue", {"pipeline": "check"}, 400, "change"),
        ("project/org/project/enqueue", {"change": "1,2", "ref": "r", "pipeline": "check"}, 400,
         "change"),
        ("project/org/project/enqueue", {"change": "1,2", "pipeline": "check", "x": 1}, 400, "x"),
        ("project/org/project/dequeue", {"change": "1,2"}, 400, "pipeline"),
        ("promote", {"pipeline": "gate", "changes": []}, 400, "changes"),
        ("promote", {"pipeline": "gate", "changes": "1,2"}, 400, "changes"),
        ("state", {"reason": 5}, 400, "reason"),
        ("state", {"paused": True}, 400, "paused"),
    ],
)  # fmt: skip
def test_a_bad_action_is_refused_and_records_nothing(
    app: Faults, store: Store, path: str, body: Any, status: int, description: str
) -> None:
    response = call(app, "POST", f"/api/tenant/t/{path}", body, bearer=ADMIN)
    assert response.status_code == status, response.text
    assert description in response.json["description"]
    assert events(store) == []


def test_autohold_answers_true_and_is_listed(app: Faults, store: Store) -> None:
    path = "/api/tenant/t/project/org/project/autohold"
    response = call(app, "POST", path, HOLD, bearer=ADMIN)
    assert response.status_code == 200 and response.body == b"true"
    [hold] = call(app, "GET", path, bearer=None).json
    assert hold["project"] == "review.example.org/org/project"
    assert hold["job"] == "tox" and hold["max_count"] == 1 and hold["ref_filter"] == ".*"
    assert [e["type"] for e in events(store)] == ["autohold"]
    for_change = {**HOLD, "change": "1234"}
    assert call(app, "POST", path, for_change, bearer=ADMIN).body == b"true"
    filters = {h["ref_filter"] for h in queries.autoholds(store, "t")}
    assert "refs/changes/34/1234/.*" in filters


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"count": -1}, "count"),
        ({"change": "12", "ref": "refs/heads/main"}, "change"),
        ({"ref": "("}, "ref"),
        ({"count": "1"}, "count"),
    ],
)
def test_a_bad_autohold_is_400_and_holds_nothing(
    app: Faults, store: Store, change: dict[str, Any], field: str
) -> None:
    path = "/api/tenant/t/project/org/project/autohold"
    response = call(app, "POST", path, {**HOLD, **change}, bearer=ADMIN)
    assert response.status_code == 400 and response.json["field"] == field
    assert queries.autoholds(store, "t") == [] and events(store) == []


@pytest.mark.parametrize("key", sorted(HOLD))
def test_every_autohold_key_must_be_present(app: Faults, store: Store, key: str) -> None:
    body = {k: v for k, v in HOLD.items() if k != key}
    response = call(app, "POST", "/api/tenant/t/project/org/project/autohold", body, bearer=ADMIN)
    assert response.status_code == 400 and response.json["field"] == key
    assert queries.autoholds(store, "t") == []


def test_deleting_an_autohold_is_204_with_no_body(app: Faults, store: Store) -> None:
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    response = call(app, "DELETE", f"/api/tenant/t/autohold/{hold['id']}", bearer=ADMIN)
    assert response.status_code == 204 and response.body == b""
    assert queries.autoholds(store, "t") == []
    again = call(app, "DELETE", f"/api/tenant/t/autohold/{hold['id']}", bearer=ADMIN)
    assert again.status_code == 404
    assert again.json["description"] == f"Hold request {hold['id']} not found."


def test_deleting_without_a_token_is_401_even_for_a_bogus_id(app: Faults) -> None:
    response = call(app, "DELETE", "/api/tenant/t/autohold/123456", bearer=None)
    assert response.status_code == 401
    assert response.json["error"] == "MissingAuthError"


def test_the_dashboards_double_slash_path_deletes_too(app: Faults, store: Store) -> None:
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    response = call(app, "DELETE", f"/api/tenant/t//autohold/{hold['id']}", bearer=ADMIN)
    assert response.status_code == 204


def test_another_tenants_autohold_is_not_found(app: Faults, store: Store) -> None:
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    response = call(
        app, "DELETE", f"/api/tenant/other/autohold/{hold['id']}", bearer=token(admin=["other"])
    )
    assert response.status_code == 404
    assert len(queries.autoholds(store, "t")) == 1


def test_state_answers_null(app: Faults, store: Store) -> None:
    body = {
        "trigger_queue_discarding": False,
        "trigger_queue_paused": True,
        "result_queue_paused": False,
        "reason": "maintenance",
    }
    response = call(app, "POST", "/api/tenant/t/state", body, bearer=ADMIN)
    assert response.status_code == 200 and response.body == b"null"
    assert events(store)[0]["payload"]["trigger_queue_paused"] is True


@pytest.mark.parametrize(
    ("bearer", "status"),
    [
        (None, 401),
        (token(report=["t"]), 403),
        (token(admin=["other"]), 403),
        (token(read=["t"]), 403),
    ],
)
def test_actions_need_the_admin_right_on_the_tenant(
    app: Faults, store: Store, bearer: str | None, status: int
) -> None:
    response = call(app, "POST", "/api/tenant/t/promote", {"pipeline": "gate"}, bearer=bearer)
    assert response.status_code == status
    assert "WWW-Authenticate" in response.headers
    assert events(store) == []


def test_zuuls_admin_claim_and_star_are_honoured(app: Faults) -> None:
    from ciweb.api import auth

    zuul_claim = auth.mint_token(
        issuer="https://issuer.example.org", audience="ciweb", subject="op",
        key="k" * 32, rights=None,
    )  # fmt: skip
    assert call(app, "POST", "/api/tenant/t/state", {}, bearer=zuul_claim).status_code == 403
    star = token(admin="*")
    assert call(app, "POST", "/api/tenant/t/state", {}, bearer=star).body == b"null"


def test_authorizations_give_zuuls_shape(app: Faults) -> None:
    response = call(app, "GET", "/api/tenant/t/authorizations", bearer=ADMIN)
    assert response.json == {
        "zuul": {"admin": True, "permissions": {"read": True, "admin": True}, "scope": ["t"]}
    }
    reader = call(app, "GET", "/api/tenant/t/authorizations", bearer=token(read=["t"])).json
    assert reader == {"zuul": {"admin": False, "permissions": {"read": True}, "scope": ["t"]}}
    # "other" is read-protected: a token without a right on it may not ask.
    assert call(app, "GET", "/api/tenant/other/authorizations", bearer=ADMIN).status_code == 403
    assert call(app, "GET", "/api/tenant/nope/authorizations", bearer=ADMIN).status_code == 404


def test_root_authorizations_have_zuuls_star_scope(app: Faults) -> None:
    # zuul-web's root scope is "*", and only an admin of every tenant is admin there.
    every = call(app, "GET", "/api/authorizations", bearer=token(admin="*")).json
    assert every == {
        "zuul": {"admin": True, "permissions": {"read": True, "admin": True}, "scope": ["*"]}
    }
    one = call(app, "GET", "/api/authorizations", bearer=ADMIN).json
    assert one == {"zuul": {"admin": False, "permissions": {"read": True}, "scope": ["*"]}}


def test_authorizations_without_a_header_are_401_json(app: Faults) -> None:
    for path in ("/api/authorizations", "/api/tenant/t/authorizations"):
        response = call(app, "GET", path, bearer=None)
        assert response.status_code == 401
        assert response.json["error"] == "MissingAuthError"
        assert response.json["realm"] == "ci"


def test_whitelabel_paths_drop_the_tenant_prefix(store: Store) -> None:
    app = make_app(store, tenant="t")
    promote = {"pipeline": "gate", "changes": ["1,2"]}
    assert call(app, "POST", "/api/promote", promote, bearer=ADMIN).body == b"true"
    hold = call(app, "POST", "/api/project/org/project/autohold", HOLD, bearer=ADMIN)
    assert hold.body == b"true"
    shape = call(app, "GET", "/api/authorizations", bearer=ADMIN).json
    assert shape["zuul"]["scope"] == ["t"]
    assert [e["type"] for e in events(store)] == ["promote", "autohold"]


def test_a_protected_tenant_needs_a_read_token(app: Faults) -> None:
    # "other" is read-protected in these tests: reads need a token, info says so.
    missing = call(app, "GET", "/api/tenant/other/builds", bearer=None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="ci"'
    denied = call(app, "GET", "/api/tenant/other/builds", bearer=token(read=["t"]))
    assert denied.status_code == 403
    allowed = call(app, "GET", "/api/tenant/other/builds", bearer=token(read=["other"]))
    assert allowed.status_code == 200
    assert call(app, "GET", "/api/tenant/t/builds", bearer=None).status_code == 200
    info = call(app, "GET", "/api/tenant/other/info", bearer=None).json["info"]
    assert info["capabilities"]["auth"]["read_protected"] is True
    assert info["capabilities"]["auth"]["default_realm"] == "ci"
    root = call(app, "GET", "/api/info", bearer=None).json["info"]
    assert root["capabilities"]["auth"]["realms"]["ci"]["driver"] == "HS256"
    assert root["capabilities"]["auth"]["read_protected"] is False


def test_without_authenticators_zuuls_auth_routes_do_not_exist(store: Store) -> None:
    # zuul-web connects enqueue, dequeue, promote, autohold (POST), state and the
    # authorizations only when an authenticator is configured; info then lists no realm.
    open_app = make_app(store, checker=auth.Auth())
    info = call(open_app, "GET", "/api/info", bearer=None).json["info"]["capabilities"]["auth"]
    assert info["realms"] == {} and info["default_realm"] is None
    for method, path in [
        ("GET", "/api/authorizations"),
        ("GET", "/api/tenant/t/authorizations"),
        ("POST", "/api/tenant/t/promote"),
        ("POST", "/api/tenant/t/state"),
    ]:
        assert call(open_app, method, path, {}, bearer=ADMIN).status_code == 404, path
    # project/{p}/enqueue is then a path under the (GET) project route, as in Zuul.
    enqueue = call(open_app, "POST", "/api/tenant/t/project/org/project/enqueue", {}, bearer=ADMIN)
    assert enqueue.status_code == 405
    assert events(store) == []


def test_without_authenticators_the_remaining_admin_routes_are_401_with_no_realm(
    store: Store,
) -> None:
    open_app = make_app(store, checker=auth.Auth())
    hold = admin.create_autohold(store, "t", "org/project", HOLD)
    for bearer in (None, ADMIN):
        response = call(open_app, "DELETE", f"/api/tenant/t/autohold/{hold['id']}", bearer=bearer)
        assert response.status_code == 401
        assert response.json["realm"] is None
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "realm" not in response.headers["WWW-Authenticate"]
    assert queries.autohold(store, "t", hold["id"])["id"] == hold["id"]


def _node_and_request(store: Store) -> None:
    from ciweb.ci import documents

    node = {"uuid": "n1", "label": "ubuntu-noble", "state": "ready", "comment": "old"}
    documents.replace_list(store, "t", "nodes", [node])
    request = {"uuid": "r1", "state": "requested", "labels": ["ubuntu-noble"]}
    documents.replace_list(store, "t", "nodeset-requests", [request])


def test_setting_a_nodes_state_answers_201_null_as_zuul(app: Faults, store: Store) -> None:
    _node_and_request(store)
    body = {"state": "hold", "comment": "debugging"}
    response = call(app, "PUT", "/api/tenant/t/nodes/n1", body, bearer=ADMIN)
    assert response.status_code == 201
    assert response.body == b"null"  # zuul-client node-set-state needs a falsy body
    [node] = call(app, "GET", "/api/tenant/t/nodes", bearer=None).json
    assert node["next_state"] == "hold" and node["comment"] == "debugging"
    [event] = events(store)
    assert event["type"] == "node-set-state"
    assert event["payload"] == {"node": "n1", "state": "hold", "comment": "debugging"}


def test_deleting_a_nodeset_request_answers_204(app: Faults, store: Store) -> None:
    _node_and_request(store)
    response = call(app, "DELETE", "/api/tenant/t/nodeset-requests/r1", bearer=ADMIN)
    assert response.status_code == 204 and response.body == b""
    assert call(app, "GET", "/api/tenant/t/nodeset-requests", bearer=None).json == []
    again = call(app, "DELETE", "/api/tenant/t/nodeset-requests/r1", bearer=ADMIN)
    assert again.status_code == 404 and again.json["description"] == "Request not found"
    assert [e["type"] for e in events(store)] == ["nodeset-request-delete"]


@pytest.mark.parametrize(
    ("method", "path", "body", "bearer", "status"),
    [
        ("PUT", "nodes/n1", {"state": "ready"}, ADMIN, 400),
        ("PUT", "nodes/n1", {"state": "hold", "comment": "x" * 2000}, ADMIN, 400),
        ("PUT", "nodes/nope", {"state": "hold"}, ADMIN, 404),
        ("PUT", "nodes/n1", {"state": "hold"}, None, 401),
        ("PUT", "nodes/n1", {"state": "hold"}, token(read=["t"]), 403),
        ("DELETE", "nodeset-requests/r1", None, token(admin=["other"]), 403),
    ],
)
def test_a_refused_node_action_changes_nothing(
    app: Faults, store: Store, method, path, body, bearer, status
) -> None:
    _node_and_request(store)
    response = call(app, method, f"/api/tenant/t/{path}", body, bearer=bearer)
    assert response.status_code == status
    assert events(store) == []
    [node] = call(app, "GET", "/api/tenant/t/nodes", bearer=None).json
    assert node["next_state"] is None and node["comment"] == "old"
    assert len(call(app, "GET", "/api/tenant/t/nodeset-requests", bearer=None).json) == 1
