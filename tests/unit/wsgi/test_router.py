"""The Router and the Controller base, in process."""

from __future__ import annotations

import json

import pytest
import routes
import webob
import webob.exc

from ciweb.wsgi.router import JSON_CONTENT_TYPE, Controller, Router


class Things(Controller):
    def index(self, req: webob.Request) -> list[dict[str, str]]:
        return [{"name": "a"}]

    def show(self, req: webob.Request, name: str) -> dict[str, str]:
        if name == "missing":
            raise webob.exc.HTTPNotFound(detail="Unknown thing")
        return {"name": name, "q": req.GET.get("q", "")}

    def raw(self, req: webob.Request) -> bytes:
        return b'{"pre":"serialised"}'

    def nothing(self, req: webob.Request) -> None:
        return None

    def truth(self, req: webob.Request) -> bool:
        return True

    def custom(self, req: webob.Request) -> webob.Response:
        return webob.Response(body=b"x", content_type="text/plain", status=201)


@pytest.fixture
def app() -> Router:
    things = Things()
    mapper = routes.Mapper()
    get, post = {"method": ["GET"]}, {"method": ["POST"]}
    mapper.connect("/things", controller=things, action="index", conditions=get)
    mapper.connect("/things", controller=things, action="truth", conditions=post)
    mapper.connect("/things/{name}", controller=things, action="show", conditions=get)
    mapper.connect("/raw", controller=things, action="raw", conditions=get)
    mapper.connect(
        "/nothing", controller=things, action="nothing", conditions={"method": ["DELETE"]}
    )
    mapper.connect("/custom", controller=things, action="custom", conditions=get)
    return Router(mapper)


def test_a_list_is_served_as_utf8_json(app: Router) -> None:
    res = webob.Request.blank("/things").get_response(app)
    assert res.status_int == 200
    assert res.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert res.json == [{"name": "a"}]
    assert int(res.headers["Content-Length"]) == len(res.body)


def test_url_variables_reach_the_action_and_routing_args_are_set(app: Router) -> None:
    req = webob.Request.blank("/things/b%C3%A9?q=1")
    res = req.get_response(app)
    assert res.json == {"name": "bé", "q": "1"}
    assert req.environ["wsgiorg.routing_args"][1]["name"] == "bé"


def test_non_ascii_is_sent_as_utf8_not_escaped(app: Router) -> None:
    res = webob.Request.blank("/things/%C3%A9").get_response(app)
    assert "é".encode() in res.body


def test_bytes_are_sent_as_they_are(app: Router) -> None:
    res = webob.Request.blank("/raw").get_response(app)
    assert res.body == b'{"pre":"serialised"}'
    assert res.headers["Content-Type"] == JSON_CONTENT_TYPE


def test_true_none_and_responses_are_answered_as_zuul_expects(app: Router) -> None:
    assert webob.Request.blank("/things", method="POST").get_response(app).body == b"true"
    res = webob.Request.blank("/nothing", method="DELETE").get_response(app)
    assert res.status_int == 204 and res.body == b""
    res = webob.Request.blank("/custom").get_response(app)
    assert (res.status_int, res.body) == (201, b"x")


def test_head_is_answered_by_the_get_route_without_a_body(app: Router) -> None:
    get = webob.Request.blank("/things").get_response(app)
    head = webob.Request.blank("/things", method="HEAD").get_response(app)
    assert head.status_int == 200
    assert head.body == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_an_unknown_path_raises_404(app: Router) -> None:
    with pytest.raises(webob.exc.HTTPNotFound):
        webob.Request.blank("/nope").get_response(app)


def test_a_wrong_method_raises_405_with_allow(app: Router) -> None:
    with pytest.raises(webob.exc.HTTPMethodNotAllowed) as caught:
        webob.Request.blank("/things", method="PUT").get_response(app)
    assert caught.value.headers["Allow"] == "GET, HEAD, POST, OPTIONS"


def test_errors_raised_by_actions_propagate_for_the_faults_filter(app: Router) -> None:
    with pytest.raises(webob.exc.HTTPNotFound, match="Unknown thing"):
        webob.Request.blank("/things/missing").get_response(app)


def test_the_json_is_compact() -> None:
    from ciweb.wsgi.router import json_body

    assert json.loads(json_body({"a": [1, 2]})) == {"a": [1, 2]}
    assert b" " not in json_body({"a": [1, 2]})


def test_a_bare_options_is_204_with_the_allowed_methods(app: Router) -> None:
    response = webob.Request.blank("/things", method="OPTIONS").get_response(app)
    assert response.status_int == 204
    assert response.headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    assert response.body == b""


def test_options_on_an_unknown_path_is_still_404(app: Router) -> None:
    with pytest.raises(webob.exc.HTTPNotFound):
        webob.Request.blank("/nope", method="OPTIONS").get_response(app)


@pytest.mark.parametrize(
    "value",
    [
        {"uuid": "é\u2603", "n": 1, "f": 1718.0, "small": 0.1, "none": None, "t": True},
        [{"nested": [{"a": "b"}]}, [], {}, 10**18, -(2**63)],
        {"big": 2**64, "neg": -(2**70)},  # beyond orjson: the json module writes them
        {1: "non-string key"},
        "\u2028 line separator and \x7f and \\ and \"",
    ],
    ids=["text", "nested", "big-integers", "integer-key", "escapes"],
)
def test_the_json_is_the_bytes_json_dumps_writes(value: object) -> None:
    from ciweb.wsgi.router import json_body

    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert json_body(value) == expected
