"""Tests of the faults filter."""

from __future__ import annotations

import json
import logging
import wsgiref.validate

import pytest
import webob
import webob.exc

from ciweb.conf import ConfigError
from ciweb.middleware import faults
from ciweb.middleware.faults import Faults

JSON = "application/json; charset=utf-8"


def serve(app, req: webob.Request) -> webob.Response:
    """Serve *req* as a strict PEP 3333 server does.

    Headers are "sent" with the first non-empty chunk; a second start_response call needs
    exc_info, and re-raises it once headers are sent.
    """
    state: dict = {"set": None, "sent": None}

    def start_response(status, headers, exc_info=None):
        if exc_info:
            if state["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
        elif state["set"]:
            raise AssertionError("start_response called twice without exc_info")
        state["set"] = (status, list(headers))
        return lambda data: None

    chunks = []
    app_iter = app(req.environ, start_response)
    try:
        for chunk in app_iter:
            if chunk and not state["sent"]:
                state["sent"] = state["set"]
            chunks.append(chunk)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    status, headers = state["sent"] or state["set"]
    return webob.Response(body=b"".join(chunks), status=status, headerlist=headers)


def raising(exc: BaseException):
    def app(environ, start_response):
        environ["ciweb.request_id"] = "req-1"
        raise exc

    return app


def ok_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def test_a_successful_response_passes_through_unchanged():
    app = Faults(ok_app)
    environ = webob.Request.blank("/").environ
    body = app(environ, lambda status, headers, exc_info=None: None)
    assert body == [b"ok"]


def test_a_raised_not_found_is_rendered_as_json_with_its_detail():
    resp = serve(
        Faults(raising(webob.exc.HTTPNotFound(detail="no tenant x"))), webob.Request.blank("/")
    )
    assert resp.status == "404 Not Found"
    assert resp.headers["Content-Type"] == JSON
    assert resp.json == {"error": "Not Found", "description": "no tenant x", "request_id": "req-1"}
    assert int(resp.headers["Content-Length"]) == len(resp.body)


def test_the_explanation_is_the_description_when_there_is_no_detail():
    resp = serve(Faults(raising(webob.exc.HTTPForbidden())), webob.Request.blank("/"))
    assert resp.status_int == 403
    assert resp.json["error"] == "Forbidden"
    assert resp.json["description"] == webob.exc.HTTPForbidden.explanation


@pytest.mark.parametrize(
    ("exc", "header", "value"),
    [
        (webob.exc.HTTPMethodNotAllowed(headers=[("Allow", "GET, HEAD")]), "Allow", "GET, HEAD"),
        (
            webob.exc.HTTPUnauthorized(headers=[("WWW-Authenticate", 'Bearer realm="ciweb"')]),
            "WWW-Authenticate",
            'Bearer realm="ciweb"',
        ),
        (
            webob.exc.HTTPFound(location="http://example.test/x"),
            "Location",
            "http://example.test/x",
        ),
    ],
)
def test_the_exceptions_own_headers_are_kept(exc, header, value):
    resp = serve(Faults(raising(exc)), webob.Request.blank("/"))
    assert resp.status_int == exc.status_code
    assert resp.headers[header] == value
    assert resp.headers["Content-Type"] == JSON
    assert len(resp.headers.getall("Content-Type")) == 1


def test_a_not_modified_exception_has_no_body():
    resp = serve(Faults(raising(webob.exc.HTTPNotModified())), webob.Request.blank("/"))
    assert resp.status_int == 304
    assert resp.body == b""
    assert "Content-Type" not in resp.headers


def test_an_unexpected_exception_is_logged_and_answered_with_an_opaque_500(caplog):
    app = Faults(raising(RuntimeError("secret database password")))
    with caplog.at_level(logging.ERROR, logger="ciweb.middleware.faults"):
        resp = serve(app, webob.Request.blank("/api/x"))
    assert resp.status == "500 Internal Server Error"
    assert resp.headers["Content-Type"] == JSON
    assert resp.json["error"] == "Internal Server Error"
    assert resp.json["request_id"] == "req-1"
    assert b"secret" not in resp.body
    assert b"RuntimeError" not in resp.body
    [record] = caplog.records
    assert "req-1" in record.getMessage()
    assert record.exc_info is not None
    assert "secret database password" in caplog.text


def test_head_gets_the_status_and_headers_without_a_body():
    req = webob.Request.blank("/", method="HEAD")
    resp = serve(Faults(raising(webob.exc.HTTPNotFound(detail="gone"))), req)
    assert resp.status_int == 404
    assert resp.body == b""
    assert resp.headers["Content-Type"] == JSON


def test_an_error_before_the_first_chunk_of_the_body_is_rendered():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            raise webob.exc.HTTPConflict(detail="busy")
            yield b"never"

        return body()

    resp = serve(Faults(app), webob.Request.blank("/"))
    assert resp.status_int == 409
    assert resp.json["description"] == "busy"


def test_an_error_after_the_response_started_is_logged_and_reraised(caplog):
    closed = []

    class Body:
        def __iter__(self):
            yield b"partial"
            raise RuntimeError("disk gone")

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    with (
        caplog.at_level(logging.ERROR, logger="ciweb.middleware.faults"),
        pytest.raises(RuntimeError, match="disk gone"),
    ):
        serve(Faults(app), webob.Request.blank("/"))
    assert "after the response started" in caplog.text
    assert closed == [True]


def test_the_filter_is_valid_pep_3333():
    inner = wsgiref.validate.validator(raising(webob.exc.HTTPNotFound()))
    app = wsgiref.validate.validator(Faults(inner))
    resp = serve(app, webob.Request.blank("/"))
    assert resp.status_int == 404
    resp = serve(wsgiref.validate.validator(Faults(ok_app)), webob.Request.blank("/"))
    assert resp.body == b"ok"


def test_the_factory_builds_the_filter_and_refuses_any_key():
    app = faults.filter_factory({})(raising(webob.exc.HTTPNotFound()))
    assert serve(app, webob.Request.blank("/")).status_int == 404
    with pytest.raises(ConfigError, match="verbose"):
        faults.filter_factory({}, verbose="true")


def test_an_application_that_started_the_response_then_raised_gets_its_headers_replaced():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Partial", "1")])
        raise webob.exc.HTTPBadRequest(detail="bad")

    resp = serve(Faults(app), webob.Request.blank("/"))
    assert resp.status_int == 400
    assert "X-Partial" not in resp.headers
    assert resp.json["description"] == "bad"


def test_the_body_is_valid_json_for_a_non_ascii_detail():
    resp = serve(
        Faults(raising(webob.exc.HTTPNotFound(detail="projet é"))), webob.Request.blank("/")
    )
    assert json.loads(resp.body.decode("utf-8"))["description"] == "projet é"


def test_a_webob_caller_gets_the_rendered_error_rather_than_the_exception():
    # webob's get_response (used by Middleware-based filters outside faults) re-raises any
    # exc_info it is given; a first start_response call must therefore not pass one.
    resp = webob.Request.blank("/").get_response(Faults(raising(webob.exc.HTTPNotFound())))
    assert resp.status_int == 404
    assert resp.json["error"] == "Not Found"


def test_an_error_can_name_itself_and_add_fields():
    # Zuul clients print "{error}: {description}"; auth errors name the realm.
    exc = webob.exc.HTTPUnauthorized(detail="Token expired")
    exc.error = "TokenExpiredError"
    exc.error_fields = {"realm": "zuul.example.com"}
    resp = serve(Faults(raising(exc)), webob.Request.blank("/"))
    assert resp.status == "401 Unauthorized"
    assert resp.json == {
        "error": "TokenExpiredError",
        "description": "Token expired",
        "realm": "zuul.example.com",
        "request_id": "req-1",
    }
