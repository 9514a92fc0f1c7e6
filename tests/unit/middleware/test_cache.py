"""Tests of the cache filter: policies, validators, 304s and the in-process cache."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.validate import validator

import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.middleware.cache import Cache, etag_matches, filter_factory
from ciweb.middleware.compress import Compress

BODY = b'{"pipelines": []}'


class Inner:
    """A tiny JSON application that counts its calls and can be held inside a call."""

    def __init__(self, body: bytes = BODY, status: str = "200 OK", **headers: str) -> None:
        self.body, self.status, self.headers = body, status, headers
        self.calls: list[str] = []
        self.entered = threading.Event()
        self.release: threading.Event | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.calls.append(environ["REQUEST_METHOD"])
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(10)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(self.body)))]
        headers += [(k.replace("_", "-"), v) for k, v in self.headers.items()]
        start_response(self.status, headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [self.body]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(app: Any, path: str = "/api/tenant/t1/status", method: str = "GET", **headers: str) -> Any:
    resp = webob.Request.blank(path, method=method, headers=headers).get_response(app)
    resp.body  # noqa: B018 - reading the body closes the iterable (PEP 3333)
    return resp


def cache(inner: Any, *specs: str, **options: Any) -> Cache:
    filt = Cache(
        inner,
        policies=list(specs) or ["/api/tenant/{t}/status public, max-age=1; ttl=1"],
        **options,
    )
    filt.clock = Clock()  # type: ignore[method-assign]
    return filt


def test_unmatched_paths_and_other_methods_pass_through_untouched() -> None:
    inner = Inner()
    filt = cache(inner)
    for resp in (get(filt, "/api/other"), get(filt, method="POST")):
        assert resp.body == BODY
        assert "ETag" not in resp.headers
        assert "Cache-Control" not in resp.headers
    assert inner.calls == ["GET", "POST"]


def test_matched_response_gets_policy_etag_last_modified_and_length() -> None:
    resp = get(cache(Inner(), "/api/info public, max-age=3600"), "/api/info")
    assert resp.headers["Cache-Control"] == "public, max-age=3600"
    assert resp.headers["ETag"].startswith('"') and len(resp.headers["ETag"]) == 34
    assert resp.headers["Last-Modified"].endswith("GMT")
    assert resp.headers["Content-Length"] == str(len(BODY))


def test_applications_own_cache_control_and_etag_win() -> None:
    inner = Inner(Cache_Control="no-cache", ETag='"mine"')
    resp = get(cache(inner, "/api/info public, max-age=3600"), "/api/info")
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["ETag"] == '"mine"'


def test_if_none_match_is_answered_304_without_body() -> None:
    filt = cache(Inner(), "/api/info public, max-age=60")
    etag = get(filt, "/api/info").headers["ETag"]
    for inm in (etag, f'"x", W/{etag}', "*"):
        resp = get(filt, "/api/info", If_None_Match=inm)
        assert resp.status_int == 304
        assert resp.body == b""
        assert resp.headers["ETag"] == etag
        assert resp.headers["Cache-Control"] == "public, max-age=60"
        assert "Content-Type" not in resp.headers and "Last-Modified" not in resp.headers
    assert get(filt, "/api/info", If_None_Match='"other"').status_int == 200


def test_if_modified_since_is_used_only_without_if_none_match() -> None:
    filt = cache(Inner(), "/api/info public, max-age=60")
    modified = get(filt, "/api/info").headers["Last-Modified"]
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    assert get(filt, "/api/info", If_Modified_Since=modified).status_int == 304
    assert (
        get(filt, "/api/info", If_Modified_Since="Mon, 01 Jan 2001 00:00:00 GMT").status_int == 200
    )
    assert get(filt, "/api/info", If_Modified_Since="garbage").status_int == 200
    resp = get(filt, "/api/info", If_None_Match='"other"', If_Modified_Since=later)
    assert resp.status_int == 200


def test_head_carries_the_get_validators_and_length_without_body() -> None:
    inner = Inner()
    filt = cache(inner, "/api/info public, max-age=60")
    got = get(filt, "/api/info")
    head = get(filt, "/api/info", method="HEAD")
    assert head.body == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(BODY))
    assert inner.calls == ["GET", "GET"]  # the application saw HEAD as GET


def test_ttl_serves_from_memory_until_expiry_then_refills_once() -> None:
    inner = Inner()
    filt = cache(inner)
    etag = get(filt).headers["ETag"]
    assert get(filt).headers["ETag"] == etag
    assert get(filt, method="HEAD").body == b""
    assert len(inner.calls) == 1
    assert get(filt, "/api/tenant/t2/status").status_int == 200
    assert len(inner.calls) == 2  # another tenant is another key
    filt.clock.now += 1.5  # type: ignore[attr-defined]
    get(filt)
    get(filt)
    assert len(inner.calls) == 3
    assert filt.stats()["hits"] == 3


def test_non_2xx_set_cookie_and_no_store_responses_are_not_stored() -> None:
    for inner in (
        Inner(status="404 Not Found"),
        Inner(Set_Cookie="s=1"),
        Inner(Cache_Control="no-store"),
        Inner(Cache_Control="private, max-age=5"),
        Inner(Vary="*"),
    ):
        filt = cache(inner)
        get(filt)
        get(filt)
        assert len(inner.calls) == 2, inner.headers


def test_error_responses_get_no_policy_header_and_no_etag() -> None:
    resp = get(cache(Inner(status="500 Internal Server Error")))
    assert "Cache-Control" not in resp.headers
    assert "ETag" not in resp.headers


def test_authorized_requests_bypass_the_store_unless_the_route_is_shareable() -> None:
    inner = Inner()
    filt = cache(inner)
    get(filt, Authorization="Bearer a")
    get(filt, Authorization="Bearer a")
    assert len(inner.calls) == 2
    shared = cache(inner, "/api/tenant/{t}/status public, max-age=1; ttl=1; shareable")
    get(shared, Authorization="Bearer a")
    get(shared, Authorization="Bearer b")
    assert len(inner.calls) == 3


def test_vary_named_request_headers_are_part_of_the_key() -> None:
    inner = Inner(Vary="Accept-Language")
    filt = cache(inner)
    get(filt, Accept_Language="en")
    get(filt, Accept_Language="en")
    get(filt, Accept_Language="de")
    assert len(inner.calls) == 2


def test_no_store_policy_sets_the_header_only() -> None:
    resp = get(cache(Inner(), "/api/x no-store"), "/api/x")
    assert resp.headers["Cache-Control"] == "no-store"
    assert "ETag" not in resp.headers


def test_store_is_bounded_by_entries_and_bytes() -> None:
    inner = Inner()
    filt = cache(inner, max_entries=2)
    for tenant in ("a", "b", "c", "a"):
        get(filt, f"/api/tenant/{tenant}/status")
    assert filt.stats()["entries"] == 2
    assert len(inner.calls) == 4  # "a" was evicted, least recently used
    by_bytes = cache(Inner(), max_bytes=len(BODY) * 2)
    for tenant in ("a", "b", "c"):
        get(by_bytes, f"/api/tenant/{tenant}/status")
    assert by_bytes.stats()["bytes"] <= len(BODY) * 2


def test_large_bodies_stream_without_etag_and_are_not_stored() -> None:
    inner = Inner(body=b"x" * 100)
    filt = cache(inner, max_entry_bytes=10)
    resp = get(filt)
    assert resp.body == b"x" * 100
    assert "ETag" not in resp.headers
    assert resp.headers["Cache-Control"] == "public, max-age=1"
    get(filt)
    assert len(inner.calls) == 2


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)


def test_concurrent_requests_for_one_key_call_the_application_once() -> None:
    inner = Inner()
    inner.release = threading.Event()
    filt = cache(inner)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(get(filt).body)) for _ in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: filt.stats()["waiting"] == 7)  # seven wait on the one filling
    inner.release.set()
    for t in threads:
        t.join(10)
    assert results == [BODY] * 8
    assert len(inner.calls) == 1
    assert filt.stats()["waits"] == 7


def test_expired_entry_with_stale_window_is_served_stale_while_one_refills() -> None:
    inner = Inner()
    filt = cache(inner, "/api/tenant/{t}/status public, max-age=1, stale-while-revalidate=5; ttl=1")
    get(filt)
    filt.clock.now += 2  # type: ignore[attr-defined]
    inner.release = threading.Event()
    filler = threading.Thread(target=get, args=(filt,))
    filler.start()
    assert inner.entered.wait(5)
    assert get(filt).body == BODY  # answered at once from the stale copy
    assert filt.stats()["stale"] == 1
    inner.release.set()
    filler.join(10)
    assert len(inner.calls) == 2


def test_waiter_past_fill_timeout_calls_the_application_itself() -> None:
    inner = Inner()
    filt = cache(inner, fill_timeout=0.0)
    inner.release = threading.Event()
    filler = threading.Thread(target=get, args=(filt,))
    filler.start()
    wait_for(lambda: len(inner.calls) == 1)
    done = threading.Thread(target=get, args=(filt,))
    done.start()
    wait_for(lambda: len(inner.calls) == 2)
    inner.release.set()
    filler.join(10)
    done.join(10)
    assert filt.stats()["bypass"] == 1


def test_an_exception_propagates_and_releases_the_key() -> None:
    def boom(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    filt = cache(boom)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            get(filt)
    assert filt.stats()["entries"] == 0


def test_cache_outside_compress_answers_304_for_the_compressed_variant() -> None:
    inner = Inner(body=b'{"x": "' + b"a" * 5000 + b'"}')
    stack = cache(Compress(inner, encodings=["gzip"]), "/api/info public, max-age=60")
    first = get(stack, "/api/info", Accept_Encoding="gzip")
    assert first.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(first.body) == inner.body
    etag = first.headers["ETag"]
    again = get(stack, "/api/info", Accept_Encoding="gzip", If_None_Match=etag)
    assert again.status_int == 304
    assert again.headers["ETag"] == etag
    assert again.headers["Vary"] == "Accept-Encoding"
    plain = get(stack, "/api/info", If_None_Match=etag)  # identity is another variant
    assert plain.status_int == 200
    assert plain.body == inner.body


def test_app_etag_suffixed_by_compress_is_matched_by_cache() -> None:
    inner = Inner(body=b"a" * 5000, ETag='"v1"')
    stack = cache(Compress(inner, encodings=["gzip"]), "/api/info public, max-age=60; ttl=60")
    assert get(stack, "/api/info", Accept_Encoding="gzip").headers["ETag"] == '"v1-gzip"'
    resp = get(stack, "/api/info", Accept_Encoding="gzip", If_None_Match='"v1-gzip"')
    assert resp.status_int == 304
    assert get(stack, "/api/info", If_None_Match='"v1-gzip"').status_int == 200
    assert len(inner.calls) == 2  # one fill per variant


def test_etag_matches_uses_weak_comparison() -> None:
    assert etag_matches('W/"a", "b"', '"a"')
    assert etag_matches('"a"', 'W/"a"')
    assert not etag_matches('"ab"', '"a"')


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("api/info public", "must start with /"),
        ("/api/info publik", "unknown directive"),
        ("/api/info max-age=soon", "bad directive"),
        ("/api/info public, private", "exclude"),
        ("/api/info private, max-age=1; ttl=5", "shared"),
        ("/api/info no-store; ttl=5", "shared"),
        ("/api/info public; ttl=-1", "ttl"),
        ("/api/info public; forever", "unknown setting"),
        ("/api/**/x public", "last segment"),
    ],
)
def test_bad_policies_are_refused_at_startup_naming_the_key(spec: str, fault: str) -> None:
    with pytest.raises(ConfigError, match=f"policy.info.*{fault}"):
        filter_factory({}, **{"policy.info": spec})(Inner())


def test_patterns_match_segments_and_tails_in_ini_order() -> None:
    inner = Inner()
    filt = filter_factory(
        {},
        **{
            "policy.badge": "/api/tenant/{t}/badge no-cache",
            "policy.rest": "/api/tenant/*/** public, max-age=5",
        },
    )(inner)
    assert get(filt, "/api/tenant/t/badge").headers["Cache-Control"] == "no-cache"
    assert get(filt, "/api/tenant/t/builds/1").headers["Cache-Control"] == "public, max-age=5"
    assert get(filt, "/api/tenant/t").headers["Cache-Control"] == "public, max-age=5"
    assert get(filt, "/api/tenants").headers.get("Cache-Control") is None


def test_policies_come_from_ciweb_conf_and_local_keys_replace_them(tmp_path: Any) -> None:
    conf = tmp_path / "ciweb.conf"
    conf.write_text(
        "[cache]\npolicies = /api/info public, max-age=3600\n"
        "policies = /api/tenants public, max-age=1\nmax_entries = 7\n"
    )
    global_conf = {"config_file": str(conf)}
    from_file = filter_factory(global_conf)(Inner())
    assert get(from_file, "/api/tenants").headers["Cache-Control"] == "public, max-age=1"
    local = filter_factory(global_conf, **{"policy.x": "/api/tenants no-cache"})(Inner())
    assert get(local, "/api/tenants").headers["Cache-Control"] == "no-cache"
    assert "Cache-Control" not in get(local, "/api/info").headers
    assert local.stats()["entries"] == 0


def test_unknown_and_bad_options_fail_naming_them() -> None:
    with pytest.raises(ConfigError, match="ttl_seconds"):
        filter_factory({}, ttl_seconds="1")
    with pytest.raises(ConfigError, match="max_entries"):
        filter_factory({}, max_entries="-3")


def test_filter_is_pep3333_valid() -> None:
    def streaming(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        yield b"{"
        yield b"}"

    filt = validator(cache(validator(streaming)))
    assert get(filt).body == b"{}"
    assert get(filt).body == b"{}"
    etag = get(filt).headers["ETag"]
    assert get(filt, If_None_Match=etag).status_int == 304


EVENTLET_SCRIPT = """
import eventlet
eventlet.monkey_patch()
import webob
from ciweb.middleware.cache import Cache

calls = []
def inner(environ, start_response):
    calls.append(1)
    eventlet.sleep(0.05)  # a green yield while the others arrive
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]

filt = Cache(inner, policies=["/s public, max-age=1; ttl=30"])
pool = eventlet.GreenPool()
bodies = list(pool.imap(lambda _: webob.Request.blank("/s").get_response(filt).body, range(20)))
assert bodies == [b"{}"] * 20, bodies
assert len(calls) == 1, calls
assert filt.stats()["waits"] >= 1, filt.stats()
print("ok", filt.stats()["waits"])
"""


def test_one_fill_per_key_under_eventlet_green_threads() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", EVENTLET_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_an_answer_to_an_authorized_request_is_private_unless_the_route_is_shareable() -> None:
    # RFC 9111 §3.5: "public" would let a shared cache store it.
    filt = cache(Inner(), "/status public, max-age=1", "/shared public, max-age=1; shareable")
    assert get(filt, "/status").headers["Cache-Control"] == "public, max-age=1"
    authorized = get(filt, "/status", Authorization="Bearer x")
    assert authorized.headers["Cache-Control"] == "private, max-age=1"
    shared = get(filt, "/shared", Authorization="Bearer x")
    assert shared.headers["Cache-Control"] == "public, max-age=1"
