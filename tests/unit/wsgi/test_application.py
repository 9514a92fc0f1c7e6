"""Application and Middleware bases: paste factories and nova's hooks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import webob

from ciweb.wsgi.application import Application, Middleware


class Hello(Application):
    def __init__(self, greeting: str = "hello") -> None:
        self.greeting = greeting

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = self.greeting.encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]


class Shout(Middleware):
    def __init__(self, application: Any, suffix: str = "!") -> None:
        super().__init__(application)
        self.suffix = suffix

    def process_request(self, req: webob.Request) -> webob.Response | None:
        if req.path == "/blocked":
            return webob.Response(status=403, body=b"no")
        return None

    def process_response(self, response: webob.Response) -> webob.Response:
        response.body = response.body.upper() + self.suffix.encode()
        return response


def test_application_factory_passes_local_keys_to_the_constructor() -> None:
    app = Hello.factory({"here": "/tmp"}, greeting="hi")
    assert webob.Request.blank("/").get_response(app).body == b"hi"


def test_middleware_factory_returns_a_filter_that_wraps_the_app() -> None:
    filt = Shout.factory({}, suffix="?")
    app = filt(Hello())
    assert webob.Request.blank("/").get_response(app).body == b"HELLO?"


def test_process_request_can_answer_without_the_application() -> None:
    app = Shout(Hello())
    res = webob.Request.blank("/blocked").get_response(app)
    assert (res.status_int, res.body) == (403, b"no")


def test_an_unknown_ini_key_is_an_error_not_ignored() -> None:
    import pytest

    with pytest.raises(TypeError):
        Middleware.factory({}, colour="blue")(Hello())
