"""Tests of the request_id filter."""

from __future__ import annotations

import logging
import re
import threading
import wsgiref.validate
from collections.abc import Iterator

import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.middleware import request_id
from ciweb.middleware.request_id import RequestId, RequestIdLogFilter, current_request_id
from tests.unit.middleware.helpers import serve

LOG = logging.getLogger("tests.request_id")
GENERATED = re.compile(r"req-[0-9a-f]{32}")


def inner_app(environ, start_response):
    body = (environ.get("ciweb.request_id") or "").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.addFilter(RequestIdLogFilter())
        self.setFormatter(logging.Formatter("%(request_id)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    handler = ListHandler()
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        LOG.removeHandler(handler)


def test_a_generated_id_is_in_the_environ_and_the_response_header():
    resp = serve(RequestId(inner_app), webob.Request.blank("/"))
    assert GENERATED.fullmatch(resp.headers["X-Request-Id"])
    assert resp.text == resp.headers["X-Request-Id"]


def test_two_requests_get_different_ids():
    app = RequestId(inner_app)
    first = serve(app, webob.Request.blank("/")).headers["X-Request-Id"]
    second = serve(app, webob.Request.blank("/")).headers["X-Request-Id"]
    assert first != second


def test_a_safe_inbound_id_is_kept():
    req = webob.Request.blank("/", headers={"X-Request-Id": "lb-1234.abc:9_x"})
    resp = serve(RequestId(inner_app), req)
    assert resp.headers["X-Request-Id"] == "lb-1234.abc:9_x"
    assert resp.text == "lb-1234.abc:9_x"


@pytest.mark.parametrize(
    "inbound", ["a b", "id\r\nSet-Cookie: x=1", "x" * 65, "<script>", "ü-id", ""]
)
def test_an_unsafe_or_too_long_inbound_id_is_replaced(inbound):
    req = webob.Request.blank("/")
    req.environ["HTTP_X_REQUEST_ID"] = inbound
    resp = serve(RequestId(inner_app), req)
    assert GENERATED.fullmatch(resp.headers["X-Request-Id"])


def test_inbound_ids_are_ignored_when_accept_inbound_is_false():
    req = webob.Request.blank("/", headers={"X-Request-Id": "lb-1234"})
    resp = serve(RequestId(inner_app, accept_inbound=False), req)
    assert GENERATED.fullmatch(resp.headers["X-Request-Id"])


def test_inbound_max_length_bounds_the_inbound_id():
    app = RequestId(inner_app, inbound_max_length=8)
    kept = serve(app, webob.Request.blank("/", headers={"X-Request-Id": "12345678"}))
    replaced = serve(app, webob.Request.blank("/", headers={"X-Request-Id": "123456789"}))
    assert kept.headers["X-Request-Id"] == "12345678"
    assert GENERATED.fullmatch(replaced.headers["X-Request-Id"])


def test_the_header_name_comes_from_the_config_file_and_a_local_key_overrides_it(tmp_path):
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[request_id]\nheader_name = X-Openstack-Request-Id\n")
    from_file = request_id.filter_factory({"config_file": str(conf)})(inner_app)
    local = request_id.filter_factory({"config_file": str(conf)}, header_name="X-Trace")(inner_app)
    req = webob.Request.blank("/", headers={"X-Trace": "abcdefgh"})
    assert "X-Openstack-Request-Id" in serve(from_file, req).headers
    assert serve(local, req).headers["X-Trace"] == "abcdefgh"


def test_an_unknown_key_fails_at_startup_naming_it():
    with pytest.raises(ConfigError, match="header_nam"):
        request_id.filter_factory({}, header_nam="X")


def test_a_bad_header_name_fails_at_startup_naming_the_option():
    with pytest.raises(ConfigError, match="header_name"):
        request_id.filter_factory({}, header_name="X Bad")
    with pytest.raises(ConfigError, match="header_name"):
        RequestId(inner_app, header_name="X:Bad")


def test_the_filter_is_valid_pep_3333():
    app = wsgiref.validate.validator(RequestId(wsgiref.validate.validator(inner_app)))
    resp = serve(app, webob.Request.blank("/"))
    assert resp.status_int == 200


def test_log_lines_during_the_request_and_its_body_carry_the_id(log_lines):
    def app(environ, start_response):
        LOG.info("in app")
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            LOG.info("in body")
            yield b"x"

        return body()

    req = webob.Request.blank("/", headers={"X-Request-Id": "req-test-1"})
    serve(RequestId(app), req)
    LOG.info("after")
    assert log_lines == ["req-test-1 in app", "req-test-1 in body", "- after"]
    assert current_request_id() is None


def test_the_id_is_reset_when_the_application_raises(log_lines):
    def app(environ, start_response):
        LOG.info("failing")
        raise RuntimeError("boom")

    req = webob.Request.blank("/", headers={"X-Request-Id": "req-test-2"})
    with pytest.raises(RuntimeError):
        serve(RequestId(app), req)
    assert log_lines == ["req-test-2 failing"]
    assert current_request_id() is None


def test_two_interleaved_requests_in_two_threads_log_their_own_ids(log_lines):
    both_inside = threading.Barrier(2, timeout=10)
    first_logged = threading.Event()

    def app(environ, start_response):
        rid = environ["ciweb.request_id"]
        both_inside.wait()
        # Interleave strictly: B logs only after A has logged, then A logs again.
        if rid == "req-b":
            assert first_logged.wait(10)
        LOG.info("one %s", rid)
        if rid == "req-a":
            first_logged.set()
        both_inside.wait()
        LOG.info("two %s", rid)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    wrapped = RequestId(app)
    errors: list[BaseException] = []

    def run(rid: str) -> None:
        try:
            serve(wrapped, webob.Request.blank("/", headers={"X-Request-Id": rid}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rid,)) for rid in ("req-a", "req-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not errors
    assert len(log_lines) == 4
    assert log_lines[:2] == ["req-a one req-a", "req-b one req-b"]
    assert sorted(log_lines[2:]) == ["req-a two req-a", "req-b two req-b"]
