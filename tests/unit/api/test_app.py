"""Tests of ciweb.api.app: the factory, the store check, slashes, 404s, HEAD and whitelabel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ciweb.api.app import ApiApplication, app_factory
from ciweb.conf import ConfigError
from ciweb.middleware.faults import Faults
from ciweb.wsgi.request import Request
from tests.unit.api.helpers import OTHER, TENANT, T, error_of, get


def test_an_unknown_app_key_is_a_config_error(demo_url: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown option.*colour"):
        app_factory({}, connection=demo_url, colour="blue")


def test_a_database_not_migrated_stops_the_start_naming_the_upgrade_command(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="ciweb-manage db upgrade") as raised:
        app_factory({}, connection=f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert "\n" not in str(raised.value)


def test_a_bad_connection_url_names_the_database_option() -> None:
    with pytest.raises(ConfigError, match=r"\[database\] connection"):
        app_factory({}, connection="not a url")


def test_the_database_comes_from_the_config_file_state_dir(
    demo_template: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(demo_template, state / "ciweb.sqlite")
    conf = tmp_path / "ciweb.conf"
    conf.write_text(f"[database]\nstate_dir = {state}\nstatement_timeout = 7\n")
    app = app_factory({"config_file": str(conf)})
    assert app.context.database["statement_timeout"] == 7.0
    assert app.context.store.statement_timeout == 7.0
    assert get(app, "/api/tenants").json == [{"name": TENANT}, {"name": OTHER}]


def test_a_local_connection_key_wins_over_the_config_file(demo_url: str, tmp_path: Path) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text(f"[database]\nstate_dir = {tmp_path / 'nowhere'}\n")
    app = app_factory({"config_file": str(conf)}, connection=demo_url)
    assert get(app, "/api/tenants").status_code == 200


def test_the_context_is_frozen_and_open_without_authenticators(app: Faults) -> None:
    api = app.application
    assert isinstance(api, ApiApplication)
    api.context.authorize_read(Request.blank("/"), TENANT)
    with pytest.raises(AttributeError):
        api.context.tenant = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/tenant/{TENANT}//autohold/1",
        f"/api//tenant/{TENANT}/autohold/1",
        f"//api/tenant/{TENANT}///autohold/1",
    ],
)
def test_double_slashes_inside_api_paths_are_accepted(app: Faults, path: str) -> None:
    response = get(app, path)
    assert response.status_code == 200
    assert response.json["id"] == "0000000001"


@pytest.mark.parametrize("path", ["/api/nope", f"{T}/builds/", f"{T}/nope", "/api/tenant/"])
def test_unknown_api_paths_are_json_404s(app: Faults, path: str) -> None:
    response = get(app, path)
    assert response.status_code == 404
    assert response.content_type == "application/json"
    assert response.json["error"] == "Not Found"


def test_head_answers_like_get_without_a_body(app: Faults) -> None:
    got = get(app, f"{T}/builds?limit=3")
    head = get(app, f"{T}/builds?limit=3", method="HEAD")
    assert head.status_code == 200
    assert head.body == b""
    assert head.headers["X-Total-Count"] == got.headers["X-Total-Count"]
    assert head.headers["Content-Length"] == got.headers["Content-Length"]


def test_post_on_a_read_route_is_405_naming_the_allowed_methods(app: Faults) -> None:
    response = get(app, f"{T}/builds", method="POST")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_whitelabel_info_names_the_tenant(whitelabel_app: Faults) -> None:
    assert get(whitelabel_app, "/api/info").json["info"]["tenant"] == TENANT


@pytest.mark.parametrize(
    "suffix",
    [
        "builds",
        "buildsets",
        "status",
        "jobs",
        "projects",
        "pipelines",
        "config-errors",
        "tenant-status",
        "autohold",
        "autohold/1",
        "project/example/project1",
        "labels",
        "key/example/project1.pub",
        "badge?project=example/project1",
    ],
)
def test_whitelabel_serves_tenant_routes_with_and_without_the_prefix(
    whitelabel_app: Faults, suffix: str
) -> None:
    short = get(whitelabel_app, f"/api/{suffix}")
    long = get(whitelabel_app, f"{T}/{suffix}")
    assert short.status_code == long.status_code == 200
    assert short.body == long.body


def test_whitelabel_paths_with_a_double_slash_work_too(whitelabel_app: Faults) -> None:
    assert get(whitelabel_app, "/api//autohold/1").json["id"] == "0000000001"


def test_without_whitelabel_unprefixed_tenant_paths_are_404(app: Faults) -> None:
    assert "tenant" not in get(app, "/api/info").json["info"]
    assert get(app, "/api/builds").status_code == 404


def test_unknown_tenant_is_404_unknown_tenant(app: Faults) -> None:
    response = get(app, "/api/tenant/nope/builds")
    assert response.status_code == 404
    assert error_of(response) == "Unknown tenant"
