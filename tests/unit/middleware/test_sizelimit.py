"""Tests of the sizelimit filter."""

from __future__ import annotations

import io
import wsgiref.validate

import pytest
import webob
import webob.exc

from ciweb.conf import ConfigError
from ciweb.middleware import sizelimit
from ciweb.middleware.faults import Faults
from ciweb.middleware.sizelimit import SizeLimit
from tests.unit.middleware.helpers import serve


def echo_length(environ, start_response):
    """Read the whole body (as the size the server allows) and answer its length."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    data = stream.read(int(length)) if length else stream.read(-1)
    body = str(len(data)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size=-1):
        data = super().read(size)
        self.handed_out += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.handed_out += len(data)
        return data


def chunked(body: bytes, path: str = "/") -> webob.Request:
    req = webob.Request.blank(path, method="POST")
    req.environ.pop("CONTENT_LENGTH", None)
    req.environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    req.environ["wsgi.input"] = CountingStream(body)
    return req


def test_a_body_within_the_limit_passes():
    req = webob.Request.blank("/", method="POST", body=b"x" * 10)
    assert serve(SizeLimit(echo_length, max_request_body_size=10), req).text == "10"


def test_a_content_length_over_the_limit_is_refused_before_the_application_runs():
    called = []

    def app(environ, start_response):
        called.append(True)
        return echo_length(environ, start_response)

    req = webob.Request.blank("/", method="POST", body=b"x" * 11)
    with pytest.raises(webob.exc.HTTPRequestEntityTooLarge):
        serve(SizeLimit(app, max_request_body_size=10), req)
    assert called == []


def test_faults_renders_the_refusal_as_a_json_413():
    req = webob.Request.blank("/", method="POST", body=b"x" * 11)
    resp = serve(Faults(SizeLimit(echo_length, max_request_body_size=10)), req)
    assert resp.status_int == 413
    assert "10 bytes" in resp.json["description"]


def test_an_invalid_content_length_is_a_bad_request():
    req = webob.Request.blank("/", method="POST")
    req.environ["CONTENT_LENGTH"] = "12abc"
    with pytest.raises(webob.exc.HTTPBadRequest):
        serve(SizeLimit(echo_length), req)


def test_a_chunked_body_within_the_limit_is_read_whole():
    req = chunked(b"y" * 10)
    assert serve(SizeLimit(echo_length, max_request_body_size=10), req).text == "10"


def test_a_chunked_body_growing_past_the_limit_is_refused_while_read():
    req = chunked(b"y" * 100_000)
    with pytest.raises(webob.exc.HTTPRequestEntityTooLarge):
        serve(SizeLimit(echo_length, max_request_body_size=1000), req)
    # One byte past the limit is enough to know; the rest is never pulled from the client.
    assert req.environ["wsgi.input"]._stream.handed_out == 1001


def test_sized_reads_and_lines_of_a_chunked_body_are_counted_too():
    stream = sizelimit.LimitedInput(io.BytesIO(b"ab\ncd\nef\n"), 7)
    assert stream.read(2) == b"ab"
    assert stream.readline() == b"\n"
    assert stream.readline() == b"cd\n"
    with pytest.raises(webob.exc.HTTPRequestEntityTooLarge):
        stream.readlines()
    with pytest.raises(webob.exc.HTTPRequestEntityTooLarge):
        stream.read(1)


def test_a_request_without_a_body_passes_untouched():
    req = webob.Request.blank("/")
    original = req.environ["wsgi.input"]
    seen = []

    def app(environ, start_response):
        seen.append(environ["wsgi.input"])
        return echo_length(environ, start_response)

    serve(SizeLimit(app), req)
    assert seen == [original]


def test_the_limit_comes_from_the_config_file_and_a_local_key_overrides_it(tmp_path):
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[sizelimit]\nmax_request_body_size = 5\n")
    from_file = sizelimit.filter_factory({"config_file": str(conf)})(echo_length)
    local = sizelimit.filter_factory({"config_file": str(conf)}, max_request_body_size="8")(
        echo_length
    )
    body = b"z" * 6
    with pytest.raises(webob.exc.HTTPRequestEntityTooLarge):
        serve(from_file, webob.Request.blank("/", method="POST", body=body))
    assert serve(local, webob.Request.blank("/", method="POST", body=body)).text == "6"


def test_the_default_limit_is_one_mebibyte():
    app = sizelimit.filter_factory({})(echo_length)
    assert app.limit == 1048576


def test_an_unknown_or_bad_key_fails_at_startup_naming_it():
    with pytest.raises(ConfigError, match="max_body"):
        sizelimit.filter_factory({}, max_body="5")
    with pytest.raises(ConfigError, match="max_request_body_size"):
        sizelimit.filter_factory({}, max_request_body_size="0")
    with pytest.raises(ConfigError, match="max_request_body_size"):
        SizeLimit(echo_length, max_request_body_size=0)


def test_the_filter_is_valid_pep_3333():
    app = wsgiref.validate.validator(
        SizeLimit(wsgiref.validate.validator(echo_length), max_request_body_size=100)
    )
    assert serve(app, webob.Request.blank("/", method="POST", body=b"abc")).text == "3"
    req = chunked(b"abcd")
    req.environ["wsgi.input"] = io.BytesIO(b"abcd")

    def read_sized(environ, start_response):
        data = environ["wsgi.input"].read(100)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [data]

    app = wsgiref.validate.validator(SizeLimit(read_sized, max_request_body_size=100))
    assert serve(app, req).body == b"abcd"
