"""Tests of the healthcheck filter."""

from __future__ import annotations

import wsgiref.validate

import pytest
import webob
import webob.exc

import ciweb
from ciweb.conf import ConfigError
from ciweb.middleware import healthcheck
from ciweb.middleware.healthcheck import Healthcheck
from tests.unit.middleware.helpers import serve


def inner_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"inner"]


def test_get_answers_200_ok_in_text_without_calling_the_application():
    resp = serve(Healthcheck(inner_app), webob.Request.blank("/healthcheck"))
    assert resp.status_int == 200
    assert resp.body == b"OK\n"
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"


def test_head_answers_204_without_a_body():
    resp = serve(Healthcheck(inner_app), webob.Request.blank("/healthcheck", method="HEAD"))
    assert resp.status_int == 204
    assert resp.body == b""
    assert resp.headers["Cache-Control"] == "no-store"


def test_json_is_answered_when_the_client_prefers_it():
    req = webob.Request.blank("/healthcheck", headers={"Accept": "application/json"})
    resp = serve(Healthcheck(inner_app), req)
    assert resp.json == {"status": "OK"}
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"


def test_text_is_answered_when_the_client_prefers_it():
    accept = "application/json;q=0.5, text/plain"
    req = webob.Request.blank("/healthcheck", headers={"Accept": accept})
    assert serve(Healthcheck(inner_app), req).body == b"OK\n"


def test_the_file_disables_the_check_while_it_exists(tmp_path):
    flag = tmp_path / "disabled"
    app = Healthcheck(inner_app, disable_by_file_path=str(flag))
    assert serve(app, webob.Request.blank("/healthcheck")).status_int == 200
    flag.touch()
    resp = serve(app, webob.Request.blank("/healthcheck"))
    assert resp.status_int == 503
    assert resp.body == b"DISABLED BY FILE\n"
    head = serve(app, webob.Request.blank("/healthcheck", method="HEAD"))
    assert (head.status_int, head.body) == (503, b"")
    req = webob.Request.blank("/healthcheck", headers={"Accept": "application/json"})
    assert serve(app, req).json == {"status": "DISABLED BY FILE"}
    flag.unlink()
    assert serve(app, webob.Request.blank("/healthcheck")).status_int == 200


def test_details_are_off_by_default_and_on_when_asked():
    req = webob.Request.blank("/healthcheck", headers={"Accept": "application/json"})
    req.environ["ciweb.pool_free"] = 997
    assert serve(Healthcheck(inner_app), req).json == {"status": "OK"}
    detail = serve(Healthcheck(inner_app, detailed=True), req).json
    assert detail["status"] == "OK"
    assert detail["version"] == ciweb.__version__
    assert detail["pool_free"] == 997
    assert detail["uptime"] >= 0


def test_other_paths_pass_through_untouched():
    for path in ("/", "/healthcheck/", "/healthcheckx", "/api/healthcheck"):
        assert serve(Healthcheck(inner_app), webob.Request.blank(path)).body == b"inner"


def test_other_methods_are_refused_with_405_and_allow():
    req = webob.Request.blank("/healthcheck", method="POST")
    with pytest.raises(webob.exc.HTTPMethodNotAllowed) as caught:
        serve(Healthcheck(inner_app), req)
    assert caught.value.headers["Allow"] == "GET, HEAD"


def test_options_come_from_the_config_file_and_a_local_key_overrides_them(tmp_path):
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[healthcheck]\npath = /health\n")
    from_file = healthcheck.filter_factory({"config_file": str(conf)})(inner_app)
    local = healthcheck.filter_factory({"config_file": str(conf)}, path="/ping")(inner_app)
    assert serve(from_file, webob.Request.blank("/health")).body == b"OK\n"
    assert serve(from_file, webob.Request.blank("/healthcheck")).body == b"inner"
    assert serve(local, webob.Request.blank("/ping")).body == b"OK\n"
    assert serve(local, webob.Request.blank("/health")).body == b"inner"


def test_an_unknown_key_or_a_bad_path_fails_at_startup_naming_it():
    with pytest.raises(ConfigError, match="disable_file"):
        healthcheck.filter_factory({}, disable_file="/x")
    with pytest.raises(ConfigError, match="path"):
        healthcheck.filter_factory({}, path="health")
    with pytest.raises(ConfigError, match="path"):
        Healthcheck(inner_app, path="health check")


def test_the_filter_is_valid_pep_3333(tmp_path):
    app = wsgiref.validate.validator(Healthcheck(wsgiref.validate.validator(inner_app)))
    assert serve(app, webob.Request.blank("/healthcheck")).status_int == 200
    assert serve(app, webob.Request.blank("/healthcheck", method="HEAD")).status_int == 204
    assert serve(app, webob.Request.blank("/x")).body == b"inner"


def test_a_failing_probe_answers_503_naming_it_and_a_passing_one_200():
    state = {"database": None}
    app = Healthcheck(inner_app, probes={"database": lambda: state["database"]})
    assert serve(app, webob.Request.blank("/healthcheck")).body == b"OK\n"
    state["database"] = "unavailable"
    resp = serve(app, webob.Request.blank("/healthcheck"))
    assert (resp.status_int, resp.body) == (503, b"DATABASE UNAVAILABLE\n")
    assert serve(app, webob.Request.blank("/healthcheck", method="HEAD")).status_int == 503
    req = webob.Request.blank("/healthcheck", headers={"Accept": "application/json"})
    assert serve(app, req).json == {"status": "DATABASE UNAVAILABLE"}


def test_the_database_probe_runs_select_1_on_the_configured_database(tmp_path):
    conf = tmp_path / "ciweb.conf"
    conf.write_text(f"[database]\nstate_dir = {tmp_path}\n[healthcheck]\nprobes = database\n")
    app = healthcheck.filter_factory({"config_file": str(conf)})(inner_app)
    assert serve(app, webob.Request.blank("/healthcheck")).body == b"OK\n"
    # A directory where the database file was: SQLite cannot open it (SQLITE_CANTOPEN).
    (tmp_path / "ciweb.sqlite").unlink()
    (tmp_path / "ciweb.sqlite").mkdir()
    resp = serve(
        healthcheck.filter_factory({"config_file": str(conf)})(inner_app),
        webob.Request.blank("/healthcheck"),
    )
    assert (resp.status_int, resp.body) == (503, b"DATABASE UNAVAILABLE\n")


def test_an_unknown_probe_fails_at_startup_naming_it():
    with pytest.raises(ConfigError, match=r"probes: unknown probe 'disk' \(known: .*database"):
        healthcheck.filter_factory({}, probes="database, disk")
