"""The dashboard's static files: SPA fallback, no escape from static_path, caching headers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import webob

from ciweb.api.static import Dispatch, StaticFiles, app_factory
from ciweb.conf import ConfigError

INDEX = b"<!doctype html><script type=module src=/assets/index-Tpas1i_p.js></script>"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_bytes(INDEX)
    (static / "assets" / "index-Tpas1i_p.js").write_bytes(b"console.log(1)")
    (static / "assets" / "index-Do-f2YFl.css").write_bytes(b"body{}")
    (static / "favicon.ico").write_bytes(b"\0\1")
    (static / "docs").mkdir()
    (static / "docs" / "index.html").write_bytes(b"docs index")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    return static


def get(app: StaticFiles, path: str, **kw: object) -> webob.Response:
    return webob.Request.blank(path, **kw).get_response(app)  # type: ignore[arg-type]


def test_a_dashboard_route_gets_index_html_with_200_and_revalidation(root: Path) -> None:
    response = get(StaticFiles(str(root)), "/t/example-tenant/build/abc")
    assert response.status_int == 200
    assert response.body == INDEX
    assert response.content_type == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"]


def test_a_hashed_asset_is_immutable_for_a_year_and_javascript_is_text(root: Path) -> None:
    response = get(StaticFiles(str(root)), "/assets/index-Tpas1i_p.js")
    assert response.body == b"console.log(1)"
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    css = get(StaticFiles(str(root)), "/assets/index-Do-f2YFl.css")
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"


def test_a_file_without_a_hash_is_revalidated_unless_max_age_is_set(root: Path) -> None:
    assert get(StaticFiles(str(root)), "/favicon.ico").headers["Cache-Control"] == "no-cache"
    cached = get(StaticFiles(str(root), max_age=60), "/favicon.ico")
    assert cached.headers["Cache-Control"] == "public, max-age=60"


def test_a_directory_serves_its_own_index_html(root: Path) -> None:
    assert get(StaticFiles(str(root)), "/docs/").body == b"docs index"


def test_if_none_match_with_the_current_etag_is_answered_304(root: Path) -> None:
    app = StaticFiles(str(root))
    etag = get(app, "/").headers["ETag"]
    again = get(app, "/", headers={"If-None-Match": etag})
    assert again.status_int == 304
    assert again.body == b""
    assert get(app, "/", headers={"If-None-Match": '"other"'}).status_int == 200


def test_if_modified_since_is_used_when_there_is_no_if_none_match(root: Path) -> None:
    app = StaticFiles(str(root))
    last_modified = get(app, "/favicon.ico").headers["Last-Modified"]
    assert get(app, "/favicon.ico", headers={"If-Modified-Since": last_modified}).status_int == 304


@pytest.mark.parametrize(
    "target",
    ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/a%2f..%2fsecret.txt"],
)
def test_a_path_that_climbs_out_of_static_path_is_forbidden(root: Path, target: str) -> None:
    request = webob.Request.blank(target)
    request.environ["RAW_URI"] = target
    response = request.get_response(StaticFiles(str(root)))
    assert response.status_int == 403
    assert b"secret" not in response.body


def test_a_symlink_pointing_outside_static_path_is_forbidden(root: Path) -> None:
    os.symlink(root.parent / "secret.txt", root / "leak.txt")
    assert get(StaticFiles(str(root)), "/leak.txt").status_int == 403


def test_a_query_naming_a_path_is_forbidden_as_in_zuul(root: Path) -> None:
    assert get(StaticFiles(str(root)), "/?path=/etc/passwd").status_int == 403


def test_api_paths_and_missing_assets_are_json_404s_not_index_html(root: Path) -> None:
    for path in ("/api/nope", "/api", "/assets/gone-12345678.js"):
        response = get(StaticFiles(str(root)), path)
        assert response.status_int == 404, path
        assert response.content_type == "application/json"


def test_without_index_html_the_answer_says_how_to_install_the_dashboard(tmp_path: Path) -> None:
    response = get(StaticFiles(str(tmp_path)), "/t/x/status")
    assert response.status_int == 404
    assert response.json["description"] == (
        "dashboard not installed: run ciweb-manage dashboard install"
    )


def test_other_methods_are_refused_with_405_and_head_has_no_body(root: Path) -> None:
    app = StaticFiles(str(root))
    post = get(app, "/", method="POST")
    assert post.status_int == 405
    assert post.headers["Allow"] == "GET, HEAD"
    head = get(app, "/", method="HEAD")
    assert head.status_int == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == str(len(INDEX))


def test_the_factory_reads_local_keys_and_rejects_unknown_ones(root: Path) -> None:
    app = app_factory({}, static_path=str(root), max_age="30")
    assert get(app, "/favicon.ico").headers["Cache-Control"] == "public, max-age=30"
    with pytest.raises(ConfigError, match="unknown option"):
        app_factory({}, static_paht=str(root))


def test_dispatch_sends_api_paths_unchanged_to_the_api_and_the_rest_to_the_dashboard() -> None:
    seen: list[tuple[str, str, str]] = []

    def named(name: str):  # type: ignore[no-untyped-def]
        def app(environ, start_response):  # type: ignore[no-untyped-def]
            seen.append((name, environ["SCRIPT_NAME"], environ["PATH_INFO"]))
            start_response("200 OK", [])
            return []

        return app

    dispatch = Dispatch(named("api"), named("dashboard"))
    for path in ("/api/tenants", "/api", "/healthcheck", "/apix", "/t/x/status", "/"):
        webob.Request.blank(path).get_response(dispatch)  # type: ignore[arg-type]
    assert seen == [
        ("api", "", "/api/tenants"),
        ("api", "", "/api"),
        ("api", "", "/healthcheck"),
        ("dashboard", "", "/apix"),
        ("dashboard", "", "/t/x/status"),
        ("dashboard", "", "/"),
    ]
