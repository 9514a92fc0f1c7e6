"""Tests of the access_log filter."""

from __future__ import annotations

import logging
import re
import wsgiref.validate
from collections.abc import Iterator

import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.middleware import access_log
from ciweb.middleware.access_log import AccessLog
from tests.unit.middleware.helpers import serve

LOGGER = "tests.access"


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "11")])
    return [b"hello", b" world"]


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Iterator[list[str]]:
    logger = logging.getLogger(LOGGER)
    handler = ListHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def request(path: str = "/api/info?x=1", **kw) -> webob.Request:
    req = webob.Request.blank(path, **kw)
    req.environ["REMOTE_ADDR"] = "192.0.2.7"
    req.environ["ciweb.request_id"] = "req-abc"
    return req


def test_the_extended_line_has_combined_fields_request_id_and_duration(lines):
    req = request(headers={"User-Agent": "zuul-client/1", "Referer": "http://x.test/"})
    serve(AccessLog(hello, logger_name=LOGGER), req)
    [line] = lines
    pattern = (
        r"192\.0\.2\.7 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET /api/info\?x=1 HTTP/1\.0" 200 11 "http://x\.test/" "zuul-client/1" '
        r"req-abc \d+\.\d{6}"
    )
    assert re.fullmatch(pattern, line), line


def test_the_common_preset_is_apaches_common_format(lines):
    serve(AccessLog(hello, logger_name=LOGGER, format="common"), request("/"))
    assert re.fullmatch(r'192\.0\.2\.7 - - \[[^]]+\] "GET / HTTP/1\.0" 200 11', lines[0])


def test_the_line_is_logged_only_when_the_body_has_been_sent_and_closed(lines):
    closed = []

    class Body:
        def __iter__(self):
            yield b"abc"

        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("201 Created", [("Content-Type", "text/plain")])
        return Body()

    req = request()
    body = AccessLog(app, logger_name=LOGGER, format="%(status)s %(bytes)s")(
        req.environ, lambda status, headers, exc_info=None: None
    )
    assert list(body) == [b"abc"]
    assert lines == []
    body.close()
    assert lines == ["201 3"]
    assert closed == [True]


def test_bytes_count_what_was_sent_and_clf_bytes_is_a_dash_for_none(lines):
    def empty(environ, start_response):
        start_response("204 No Content", [])
        return []

    fmt = "%(bytes)s %(bytes_clf)s"
    serve(AccessLog(empty, logger_name=LOGGER, format=fmt), request())
    assert lines == ["0 -"]


def test_the_server_is_told_not_to_log_its_own_line(lines):
    req = request()
    serve(AccessLog(hello, logger_name=LOGGER), req)
    assert req.environ["ciweb.access_logged"] is True


def test_a_failing_application_is_logged_as_500_and_the_error_propagates(lines):
    def app(environ, start_response):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        serve(AccessLog(app, logger_name=LOGGER, format="%(status)s"), request())
    assert lines == ["500"]


def test_client_values_are_escaped_so_a_line_cannot_be_forged(lines):
    req = request(headers={"User-Agent": 'evil"\n192.0.2.9 - - "GET /admin'})
    serve(AccessLog(hello, logger_name=LOGGER, format="%(user_agent)s"), req)
    assert lines == ['evil\\"\\x0a192.0.2.9 - - \\"GET /admin']


def test_duration_keys_and_request_fields_are_available(lines):
    fmt = "%(method)s %(path)s %(query)s %(protocol)s %(duration_ms).1f"
    serve(AccessLog(hello, logger_name=LOGGER, format=fmt), request("/a%20b?q=1"))
    assert re.fullmatch(r"GET /a%20b q=1 HTTP/1\.0 \d+\.\d", lines[0])


def test_nothing_is_wrapped_when_the_logger_is_not_enabled_for_info(lines):
    logging.getLogger(LOGGER).setLevel(logging.WARNING)
    req = request()
    body = AccessLog(hello, logger_name=LOGGER)(req.environ, lambda *a: None)
    assert body == [b"hello", b" world"]
    assert lines == []
    assert req.environ["ciweb.access_logged"] is True


def test_options_come_from_the_config_file_and_a_local_key_overrides_them(tmp_path, lines):
    conf = tmp_path / "ciweb.conf"
    conf.write_text(f"[access_log]\nlogger_name = {LOGGER}\nformat = file %(status)s\n")
    from_file = access_log.filter_factory({"config_file": str(conf)})(hello)
    local = access_log.filter_factory({"config_file": str(conf)}, format="local %(bytes)s")(hello)
    serve(from_file, request())
    serve(local, request())
    assert lines == ["file 200", "local 11"]


def test_an_unknown_key_or_a_bad_format_fails_at_startup_naming_it():
    with pytest.raises(ConfigError, match="fmt"):
        access_log.filter_factory({}, fmt="x")
    with pytest.raises(ConfigError, match=r"format: unknown key 'nope'"):
        access_log.filter_factory({}, format="%(nope)s")(hello)
    with pytest.raises(ConfigError, match="format"):
        AccessLog(hello, format="%(status)")


def test_the_filter_is_valid_pep_3333(lines):
    app = wsgiref.validate.validator(
        AccessLog(wsgiref.validate.validator(hello), logger_name=LOGGER, format="%(bytes)s")
    )
    serve(app, request())
    assert lines == ["11"]
