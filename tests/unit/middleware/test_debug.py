"""Tests of the debug filter."""

from __future__ import annotations

import logging
import wsgiref.validate

import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.middleware import debug
from ciweb.middleware.debug import Debug
from tests.unit.middleware.helpers import serve

LOGGER = "ciweb.middleware.debug"


def inner_app(environ, start_response):
    start_response(
        "200 OK", [("Content-Type", "text/plain"), ("Set-Cookie", "session=secret-cookie")]
    )

    def body():
        yield b"first-chunk"
        yield b"second-chunk"

    return body()


def test_environ_response_headers_and_body_are_logged_at_debug(caplog, capsys):
    req = webob.Request.blank("/api/info", headers={"X-Trace": "t1"})
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        resp = serve(Debug(inner_app), req)
    assert resp.body == b"first-chunksecond-chunk"
    messages = [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    assert "PATH_INFO = /api/info" in messages
    assert "HTTP_X_TRACE = t1" in messages
    assert any(m.endswith("RESPONSE 200 OK") for m in messages)
    assert "Content-Type = text/plain" in messages
    assert "b'first-chunk'" in messages
    assert "b'second-chunk'" in messages
    assert capsys.readouterr() == ("", "")


def test_credentials_are_masked(caplog):
    req = webob.Request.blank("/", headers={"Authorization": "Bearer tok3n", "Cookie": "a=b"})
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        serve(Debug(inner_app), req)
    assert "tok3n" not in caplog.text
    assert "a=b" not in caplog.text
    assert "secret-cookie" not in caplog.text
    assert "HTTP_AUTHORIZATION = ***" in caplog.text
    assert "Set-Cookie = ***" in caplog.text


def test_the_body_is_streamed_each_chunk_logged_as_it_passes(caplog):
    req = webob.Request.blank("/")
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        body = Debug(inner_app)(req.environ, lambda status, headers, exc_info=None: None)
        chunks = iter(body)
        assert next(chunks) == b"first-chunk"
        assert "b'first-chunk'" in caplog.text
        assert "second-chunk" not in caplog.text
        assert next(chunks) == b"second-chunk"
        body.close()
    assert "b'second-chunk'" in caplog.text


def test_without_debug_enabled_the_request_passes_through_unwrapped(caplog):
    inner_body = [b"x"]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return inner_body

    logging.getLogger(LOGGER).setLevel(logging.INFO)
    try:
        req = webob.Request.blank("/")
        body = Debug(app)(req.environ, lambda status, headers, exc_info=None: None)
    finally:
        logging.getLogger(LOGGER).setLevel(logging.NOTSET)
    assert body is inner_body
    assert caplog.records == []


def test_the_factory_builds_the_filter_and_refuses_any_key():
    assert isinstance(debug.filter_factory({})(inner_app), Debug)
    with pytest.raises(ConfigError, match="level"):
        debug.filter_factory({}, level="DEBUG")


def test_the_filter_is_valid_pep_3333(caplog):
    app = wsgiref.validate.validator(Debug(wsgiref.validate.validator(inner_app)))
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        resp = serve(app, webob.Request.blank("/"))
    assert resp.status_int == 200
    assert "b'second-chunk'" in caplog.text
