"""Tests of ciweb.api.routes: the route table, its order, the route map and whitelabel."""

from __future__ import annotations

import routes

from ciweb.api.routes import (
    ROOT_ROUTES,
    TENANT_ROUTES,
    connect_tenant_route,
    connect_write_routes,
    route_map,
)
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import get


def _mapper() -> routes.Mapper:
    mapper = routes.Mapper()
    mapper.explicit = True
    mapper.minimization = False
    return mapper


def test_the_route_map_gives_zuul_names_and_templates(app: Faults) -> None:
    body = get(app, "/api").json
    assert body["info"] == "/api/info"
    assert body["tenants"] == "/api/tenants"
    assert body["status"] == "/api/tenant/{tenant}/status"
    assert body["builds"] == "/api/tenant/{tenant}/builds"
    assert body["project"] == "/api/tenant/{tenant}/project/{project:.+}"
    assert body["autohold_list"] == "/api/tenant/{tenant}/autohold"


def test_every_read_route_is_in_the_route_map(app: Faults) -> None:
    body = get(app, "/api").json
    for name, *_ in (*ROOT_ROUTES, *TENANT_ROUTES):
        assert name in body


def test_whitelabel_routes_are_listed_once(whitelabel_app: Faults) -> None:
    body = get(whitelabel_app, "/api").json
    assert body["builds"] == "/api/tenant/{tenant}/builds"
    assert "/api/builds" not in body.values()


def test_project_autohold_is_matched_before_the_greedy_project_route(app: Faults) -> None:
    body = get(app, "/api/tenant/example-tenant/project/example/project1/autohold").json
    assert isinstance(body, list)
    assert body[0]["project"] == "review.example.org/example/project1"


def test_connect_tenant_route_adds_an_unnamed_whitelabel_form() -> None:
    mapper = _mapper()
    connect_tenant_route(
        mapper, "things", "things", controller="c", action="a", methods=["GET"], whitelabel="w"
    )
    mapper.create_regs()
    assert mapper.routematch("/api/things", {"REQUEST_METHOD": "GET"})[0]["tenant"] == "w"
    assert mapper.routematch("/api/tenant/t/things", {"REQUEST_METHOD": "GET"})[0]["tenant"] == "t"
    assert route_map(mapper) == {"things": "/api/tenant/{tenant}/things"}


def test_the_whitelabel_tenant_info_is_the_root_info() -> None:
    mapper = _mapper()
    connect_tenant_route(
        mapper, "tenant_info", "info", controller="c", action="a", methods=["GET"], whitelabel="w"
    )
    assert len(mapper.matchlist) == 1


def test_connect_write_routes_without_controllers_adds_nothing() -> None:
    mapper = _mapper()
    connect_write_routes(mapper, None)
    assert mapper.matchlist == []
