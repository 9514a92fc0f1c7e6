"""Tests of the cors filter: preflights, actual requests, Vary and credentials."""

from __future__ import annotations

from typing import Any
from wsgiref.validate import validator

import pytest
import webob
import webob.exc

from ciweb.conf import ConfigError
from ciweb.middleware.cors import CORS, filter_factory

SITE = "https://dashboard.example.org"
OTHER = "https://evil.example.com"


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if environ["PATH_INFO"] == "/missing":
        return webob.exc.HTTPNotFound()(environ, start_response)  # type: ignore[no-any-return]
    headers = [("Content-Type", "application/json"), ("Content-Length", "2")]
    if environ["PATH_INFO"] == "/varies":
        headers.append(("Vary", "Accept-Encoding"))
    start_response("200 OK", headers)
    return [b"{}"]


def call(filt: Any, path: str = "/api/info", method: str = "GET", **headers: str) -> webob.Response:
    resp = webob.Request.blank(path, method=method, headers=headers).get_response(filt)
    resp.body  # noqa: B018 - reading the body closes the iterable (PEP 3333)
    return resp


def cors_headers(resp: webob.Response) -> dict[str, str]:
    return {k: v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


def preflight(filt: Any, origin: str = SITE, method: str = "POST", headers: str = "") -> Any:
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return call(filt, method="OPTIONS", **h)


def test_default_preflight_is_zuuls_answer() -> None:
    resp = preflight(CORS(app), headers="authorization, content-type")
    assert resp.status_int == 204
    assert resp.body == b""
    assert cors_headers(resp) == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Max-Age": "86400",
        "Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
    }
    assert "Vary" not in resp.headers


def test_preflight_lists_every_allowed_method_not_only_the_requested_one() -> None:
    filt = CORS(app, allow_methods=["GET", "POST", "DELETE"])
    resp = preflight(filt, method="DELETE")
    assert resp.headers["Access-Control-Allow-Methods"] == "GET, POST, DELETE"


def test_wildcard_sends_star_on_every_response_without_vary() -> None:
    filt = CORS(app)
    for headers in ({}, {"Origin": OTHER}):
        resp = call(filt, **headers)
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Vary" not in resp.headers
        assert resp.body == b"{}"


def test_listed_origin_is_echoed_with_vary_and_exposed_headers() -> None:
    filt = CORS(app, allowed_origin=[SITE], expose_headers=["X-Total-Count"])
    resp = call(filt, Origin=SITE)
    assert resp.headers["Access-Control-Allow-Origin"] == SITE
    assert resp.headers["Access-Control-Expose-Headers"] == "X-Total-Count"
    assert resp.headers["Vary"] == "Origin"


def test_unlisted_or_absent_origin_gets_no_cors_headers_but_still_varies() -> None:
    filt = CORS(app, allowed_origin=[SITE], expose_headers=["X-Total-Count"])
    for headers in ({"Origin": OTHER}, {}):
        resp = call(filt, **headers)
        assert cors_headers(resp) == {}
        assert resp.headers["Vary"] == "Origin"


def test_existing_vary_is_extended_not_overwritten() -> None:
    resp = call(CORS(app, allowed_origin=[SITE]), "/varies", Origin=SITE)
    assert resp.headers.getall("Vary") == ["Accept-Encoding, Origin"]


@pytest.mark.parametrize(
    ("origin", "method", "headers"),
    [
        (OTHER, "POST", ""),
        (SITE, "TRACE", ""),
        (SITE, "POST", "content-type, x-secret"),
    ],
)
def test_disallowed_preflight_gets_no_cors_headers(origin: str, method: str, headers: str) -> None:
    filt = CORS(app, allowed_origin=[SITE], allow_methods=["GET", "POST"])
    resp = preflight(filt, origin, method, headers)
    assert resp.status_int == 204
    assert cors_headers(resp) == {}
    assert resp.headers["Vary"] == "Origin"


def test_allowed_preflight_from_listed_origin_echoes_it() -> None:
    filt = CORS(app, allowed_origin=[SITE], allow_credentials=True, max_age=600)
    resp = preflight(filt, headers="Content-Type")
    assert resp.headers["Access-Control-Allow-Origin"] == SITE
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert resp.headers["Access-Control-Max-Age"] == "600"
    assert resp.headers["Vary"] == "Origin"


def test_star_headers_allow_any_field_except_authorization() -> None:
    filt = CORS(app, allow_headers=["*"])
    assert preflight(filt, headers="x-anything").headers["Access-Control-Allow-Origin"] == "*"
    assert cors_headers(preflight(filt, headers="authorization")) == {}


def test_options_without_request_method_is_not_a_preflight() -> None:
    resp = call(CORS(app), method="OPTIONS", Origin=SITE)
    assert resp.status_int == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_error_responses_get_cors_headers_too() -> None:
    resp = call(CORS(app, allowed_origin=[SITE]), "/missing", Origin=SITE)
    assert resp.status_int == 404
    assert resp.headers["Access-Control-Allow-Origin"] == SITE


def test_empty_origin_list_disables_cors() -> None:
    filt = CORS(app, allowed_origin=[])
    assert cors_headers(call(filt, Origin=SITE)) == {}
    assert preflight(filt).status_int == 200  # the application answered


@pytest.mark.parametrize("option", ["allowed_origin", "allow_headers", "expose_headers"])
def test_star_with_credentials_is_refused_at_startup(option: str) -> None:
    options: dict[str, Any] = {"allowed_origin": [SITE], option: ["*"]}
    with pytest.raises(ConfigError, match=option):
        CORS(app, allow_credentials=True, **options)


def test_bad_origin_and_unknown_key_are_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match="allowed_origin"):
        filter_factory({}, allowed_origin="https://a.example/path")(app)
    with pytest.raises(ConfigError, match="origins"):
        filter_factory({}, origins="*")
    with pytest.raises(ConfigError, match="max_age"):
        filter_factory({}, max_age="-1")


def test_options_come_from_ciweb_conf_and_a_local_key_overrides_them(tmp_path: Any) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text(f"[cors]\nallowed_origin = {SITE}\nmax_age = 60\n")
    global_conf = {"config_file": str(conf)}
    from_file = filter_factory(global_conf)(app)
    assert preflight(from_file).headers["Access-Control-Max-Age"] == "60"
    assert call(from_file, Origin=SITE).headers["Access-Control-Allow-Origin"] == SITE
    local = filter_factory(global_conf, max_age="5")(app)
    assert preflight(local).headers["Access-Control-Max-Age"] == "5"
    assert preflight(from_file).headers["Access-Control-Max-Age"] == "60"


def test_filter_is_pep3333_valid() -> None:
    filt = validator(CORS(validator(app), allowed_origin=[SITE]))
    assert call(filt, Origin=SITE).headers["Access-Control-Allow-Origin"] == SITE
    assert preflight(filt).status_int == 204
