"""The shipped etc/api-paste.ini as a whole: PEP 3333 and HTTP lint on every kind of answer."""

from __future__ import annotations

import wsgiref.validate
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webob
from httplint import HttpRequestLinter, HttpResponseLinter
from httplint.note import levels

from ciweb.wsgi.loader import load_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pipeline(ciweb_conf: Path) -> Iterator[Any]:
    app = load_app(
        str(ROOT / "etc/api-paste.ini"), "main", global_conf={"config_file": str(ciweb_conf)}
    )
    # wsgiref.validate checks the server side (environ) and the application side.
    yield wsgiref.validate.validator(app)


def _lint(res: webob.Response) -> list[str]:
    """Return httplint's BAD notes on the response to the request that produced it."""
    req = res.request
    request = HttpRequestLinter()
    request.process_request_topline(req.method.encode(), req.url.encode(), b"HTTP/1.1")
    request.process_headers(
        [(k.encode("latin-1"), v.encode("latin-1")) for k, v in req.headers.items()]
    )
    request.finish_content(True, [])
    linter = HttpResponseLinter()
    linter.request = request
    linter.is_head_response = req.method == "HEAD"
    linter.process_response_topline(
        b"HTTP/1.1", str(res.status_int).encode(), res.status.split(" ", 1)[1].encode()
    )
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in res.headerlist]
    headers.append((b"Date", b"Sat, 21 Nov 2026 06:00:00 GMT"))  # the server adds it
    linter.process_headers(headers)
    linter.feed_content(res.body)
    linter.finish_content(True, [])
    return [f"{n.level.name}: {n.summary}" for n in linter.notes if n.level == levels.BAD]


def _get(app: Any, path: str, method: str = "GET", **kw: Any) -> webob.Response:
    req = webob.Request.blank(path, method=method, **kw)
    req.environ["SERVER_PROTOCOL"] = "HTTP/1.1"
    req.headers.setdefault("User-Agent", "ciweb-tests")
    status, headers, app_iter = req.call_application(app)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()  # PEP 3333: the server closes the iterable; wsgiref.validate checks it.
    res = webob.Response(status=status, headerlist=headers, app_iter=[body])
    res.request = req
    return res


def test_get_passes_pep3333_and_http_lint(pipeline: Any) -> None:
    res = _get(pipeline, "/api/info", headers={"Accept-Encoding": "gzip"})
    assert res.status_int == 200
    assert res.json["info"]["capabilities"]["job_history"] is True
    assert res.headers["X-Request-Id"]
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    assert res.headers["Cache-Control"] == "public, max-age=3600"
    assert _lint(res) == []


def test_head_passes_pep3333_and_http_lint(pipeline: Any) -> None:
    res = _get(pipeline, "/api/info", method="HEAD")
    assert res.status_int == 200 and res.body == b""
    assert _lint(res) == []


def test_conditional_get_answers_304_and_passes_lint(pipeline: Any) -> None:
    etag = _get(pipeline, "/api/info").headers["ETag"]
    res = _get(pipeline, "/api/info", headers={"If-None-Match": etag})
    assert res.status_int == 304 and res.body == b""
    assert _lint(res) == []


def test_post_with_a_body_to_a_get_route_is_a_json_405(pipeline: Any) -> None:
    res = _get(
        pipeline, "/api/info", method="POST", body=b'{"a": 1}', content_type="application/json"
    )
    assert res.status_int == 405
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert res.json["error"] == "Method Not Allowed"
    assert _lint(res) == []


def test_an_unknown_api_path_is_a_json_404_with_cors_and_request_id(pipeline: Any) -> None:
    res = _get(pipeline, "/api/nope")
    assert res.status_int == 404
    assert res.content_type == "application/json"
    assert set(res.json) == {"error", "description", "request_id"}
    assert res.json["request_id"] == res.headers["X-Request-Id"]
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    assert _lint(res) == []


def test_a_preflight_is_answered_as_zuul_does(pipeline: Any) -> None:
    res = _get(
        pipeline,
        "/api/info",
        method="OPTIONS",
        headers={
            "Origin": "https://dashboard.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert res.status_int == 204
    assert res.headers["Access-Control-Allow-Origin"] == "*"
    assert res.headers["Access-Control-Max-Age"] == "86400"
    assert "GET" in res.headers["Access-Control-Allow-Methods"]
    assert _lint(res) == []


def test_a_bare_options_is_answered_as_zuul_does(pipeline: Any) -> None:
    # No Origin, no Access-Control-Request-Method: not a preflight; Zuul answers 204.
    res = _get(pipeline, "/api/tenant/t/builds", method="OPTIONS")
    assert res.status_int == 204
    assert res.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert res.body == b""
    assert _lint(res) == []
    assert _get(pipeline, "/api/nope", method="OPTIONS").status_int == 404


def test_the_healthcheck_answers_in_the_pipeline(pipeline: Any) -> None:
    res = _get(pipeline, "/healthcheck")
    assert (res.status_int, res.body) == (200, b"OK\n")
    assert _lint(res) == []
