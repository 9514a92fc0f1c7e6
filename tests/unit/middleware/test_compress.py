"""Tests of the compress filter: codings, thresholds, streaming, Vary and ETag."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import brotli
import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.middleware.compress import Compress, filter_factory, parse_accept_encoding

BODY = b'{"items": [' + b", ".join(b'{"n": %d}' % i for i in range(400)) + b"]}"


def make_app(
    body: bytes = BODY,
    *,
    status: str = "200 OK",
    content_type: str = "application/json",
    length: bool = True,
    extra: list[tuple[str, str]] | None = None,
) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = [("Content-Type", content_type)]
        if length:
            headers.append(("Content-Length", str(len(body))))
        headers.extend(extra or [])
        start_response(status, headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return app


def get(app: Any, ae: str | None = "gzip", method: str = "GET", **headers: str) -> webob.Response:
    req = webob.Request.blank("/x", method=method)
    if ae is not None:
        req.headers["Accept-Encoding"] = ae
    req.headers.update(headers)
    return req.get_response(app)


def test_gzip_is_applied_when_accepted_and_body_decodes_to_the_original() -> None:
    resp = get(Compress(make_app(), encodings=["gzip"]))
    assert resp.headers["Content-Encoding"] == "gzip"
    # Streamed: the compressed length is not known when the head is sent.
    assert "Content-Length" not in resp.headers
    assert gzip.decompress(resp.body) == BODY
    assert resp.headers["Vary"] == "Accept-Encoding"


def test_brotli_is_preferred_when_both_are_accepted_equally() -> None:
    resp = get(Compress(make_app()), ae="gzip, deflate, br")
    assert resp.headers["Content-Encoding"] == "br"
    assert brotli.decompress(resp.body) == BODY


def test_client_q_values_override_server_preference() -> None:
    resp = get(Compress(make_app()), ae="br;q=0.5, gzip;q=0.9")
    assert resp.headers["Content-Encoding"] == "gzip"


def test_q_zero_refuses_a_coding_and_star_covers_the_unnamed() -> None:
    app = Compress(make_app())
    assert "Content-Encoding" not in get(app, ae="gzip;q=0, br;q=0").headers
    assert get(app, ae="br;q=0, *").headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in get(app, ae="*;q=0").headers


def test_parse_accept_encoding_reads_weights_and_x_gzip() -> None:
    assert parse_accept_encoding("x-gzip;q=0.3, BR, identity;q=bad") == {
        "gzip": 0.3,
        "br": 1.0,
        "identity": 0.0,
    }


def test_no_accept_encoding_sends_identity_but_still_varies() -> None:
    resp = get(Compress(make_app()), ae=None)
    assert "Content-Encoding" not in resp.headers
    assert resp.body == BODY
    assert resp.headers["Content-Length"] == str(len(BODY))
    assert resp.headers["Vary"] == "Accept-Encoding"


def test_existing_vary_is_extended_not_replaced() -> None:
    resp = get(Compress(make_app(extra=[("Vary", "Origin")])))
    assert resp.headers["Vary"] == "Origin, Accept-Encoding"
    resp = get(Compress(make_app(extra=[("Vary", "accept-encoding")])))
    assert resp.headers["Vary"] == "accept-encoding"


def test_small_known_length_is_not_compressed() -> None:
    resp = get(Compress(make_app(b'{"a": 1}'), min_size=100))
    assert "Content-Encoding" not in resp.headers
    assert resp.body == b'{"a": 1}'


def test_unknown_length_is_compressed_even_if_small() -> None:
    resp = get(Compress(make_app(b"{}", length=False), min_size=100, encodings=["gzip"]))
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(resp.body) == b"{}"


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_bodyless_statuses_are_untouched(status: str) -> None:
    resp = get(Compress(make_app(b"", status=status, length=False)))
    assert "Content-Encoding" not in resp.headers
    assert "Vary" not in resp.headers


def test_head_is_never_compressed() -> None:
    resp = get(Compress(make_app()), method="HEAD")
    assert "Content-Encoding" not in resp.headers
    assert resp.headers["Content-Length"] == str(len(BODY))


def test_already_encoded_and_no_transform_bodies_are_untouched() -> None:
    raw = gzip.compress(BODY)
    resp = get(Compress(make_app(raw, extra=[("Content-Encoding", "gzip")])))
    assert resp.body == raw
    resp = get(Compress(make_app(extra=[("Cache-Control", "no-transform")])))
    assert "Content-Encoding" not in resp.headers


def test_incompressible_types_are_untouched_and_do_not_vary() -> None:
    resp = get(Compress(make_app(content_type="image/png")))
    assert "Content-Encoding" not in resp.headers
    assert "Vary" not in resp.headers


def test_wildcard_and_structured_suffix_types_are_compressed() -> None:
    app = Compress(make_app(content_type="text/css; charset=utf-8"), encodings=["gzip"])
    assert get(app).headers["Content-Encoding"] == "gzip"
    app = Compress(make_app(content_type="application/problem+json"), encodings=["gzip"])
    assert get(app).headers["Content-Encoding"] == "gzip"


def test_strong_etag_gets_a_per_coding_suffix() -> None:
    app = Compress(make_app(extra=[("ETag", '"v1"')]))
    assert get(app, ae="gzip").headers["ETag"] == '"v1-gzip"'
    assert get(app, ae="br").headers["ETag"] == '"v1-br"'
    assert get(app, ae=None).headers["ETag"] == '"v1"'
    weak = Compress(make_app(extra=[("ETag", 'W/"v1"')]))
    assert get(weak, ae="gzip").headers["ETag"] == 'W/"v1-gzip"'


def test_streaming_bodies_are_compressed_chunk_by_chunk_without_joining() -> None:
    produced: list[int] = []
    consumed: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        for i in range(5):
            produced.append(i)
            # Each chunk must have reached the client before the next is made.
            assert len(consumed) == i
            yield b"line %d\n" % i * 50

    filt = Compress(app, encodings=["gzip"])
    env = webob.Request.blank("/", headers={"Accept-Encoding": "gzip"}).environ
    out = filt(env, lambda s, h, e=None: None)
    d = zlib.decompressobj(31)
    text = b""
    for chunk in out:
        piece = d.decompress(chunk)
        if piece:
            consumed.append(len(consumed))
            text += piece
    assert text == b"".join(b"line %d\n" % i * 50 for i in range(5))
    assert produced == [0, 1, 2, 3, 4]


def test_close_of_the_inner_iterable_is_called() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield BODY

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [("Content-Type", "application/json")])
        return Body()

    env = webob.Request.blank("/", headers={"Accept-Encoding": "gzip"}).environ
    out = Compress(app)(env, lambda s, h, e=None: None)
    assert gzip.decompress(b"".join(out)) == BODY
    out.close()  # type: ignore[attr-defined]
    assert closed == [True]


def test_filter_is_pep3333_valid_compressed_and_not() -> None:
    app = validator(Compress(validator(make_app())))
    assert gzip.decompress(get(app, ae="gzip", HTTP_X="1").body) == BODY
    assert get(app, ae=None).body == BODY


def test_options_come_from_ciweb_conf_and_a_local_key_overrides_them(tmp_path: Any) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[compress]\nencodings = gzip\nmin_size = 100000\n")
    global_conf = {"config_file": str(conf)}
    from_file = filter_factory(global_conf)(make_app())
    assert "Content-Encoding" not in get(from_file, ae="gzip, br").headers
    local = filter_factory(global_conf, min_size="10")(make_app())
    assert get(local, ae="gzip, br").headers["Content-Encoding"] == "gzip"


def test_bad_option_fails_at_startup_naming_it() -> None:
    with pytest.raises(ConfigError, match="gzip_level"):
        filter_factory({}, gzip_level="12")
    with pytest.raises(ConfigError, match="nonsense"):
        filter_factory({}, nonsense="1")
    with pytest.raises(ConfigError, match="content_types"):
        Compress(make_app(), content_types=["json"])
