"""Tests of the proxy_headers filter."""

from __future__ import annotations

import json
import wsgiref.validate

import pytest
import webob

from ciweb.conf import ConfigError
from ciweb.middleware import proxy_headers
from ciweb.middleware.proxy_headers import ProxyHeaders, parse_forwarded
from tests.unit.middleware.helpers import serve

TRUSTED = ["10.0.0.1", "192.168.0.0/16", "::1"]


def echo(environ, start_response):
    seen = {
        key: environ.get(key)
        for key in ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SCRIPT_NAME")
    }
    seen["orig"] = environ.get("ciweb.proxy_headers.orig")
    seen["url"] = webob.Request(environ).application_url
    body = json.dumps(seen).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def seen(peer: str, headers: dict[str, str], **options) -> dict:
    req = webob.Request.blank("/x", headers={"Host": "internal:9000", **headers})
    req.environ["REMOTE_ADDR"] = peer
    options.setdefault("trusted_proxies", TRUSTED)
    return serve(ProxyHeaders(echo, **options), req).json


def test_headers_from_an_untrusted_peer_are_ignored():
    result = seen(
        "203.0.113.5",
        {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "Forwarded": "for=1.2.3.4"},
    )
    assert result["REMOTE_ADDR"] == "203.0.113.5"
    assert result["wsgi.url_scheme"] == "http"
    assert result["orig"] is None


def test_x_forwarded_headers_from_a_trusted_peer_are_honoured_and_originals_kept():
    result = seen(
        "10.0.0.1",
        {
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "ci.example.org",
            "X-Forwarded-Prefix": "/zuul/",
        },
    )
    assert result["REMOTE_ADDR"] == "198.51.100.7"
    assert result["wsgi.url_scheme"] == "https"
    assert result["HTTP_HOST"] == "ci.example.org"
    assert result["SCRIPT_NAME"] == "/zuul"
    assert result["url"] == "https://ci.example.org/zuul"
    assert result["orig"] == {
        "REMOTE_ADDR": "10.0.0.1",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "internal:9000",
        "SCRIPT_NAME": "",
    }


def test_the_walk_skips_trusted_proxies_from_the_right_to_find_the_client():
    xff = "6.6.6.6, 198.51.100.7, 192.168.3.4, 10.0.0.1"
    assert seen("10.0.0.1", {"X-Forwarded-For": xff})["REMOTE_ADDR"] == "198.51.100.7"


def test_when_every_address_is_trusted_the_leftmost_is_the_client():
    xff = "192.168.1.1, 10.0.0.1"
    assert seen("10.0.0.1", {"X-Forwarded-For": xff})["REMOTE_ADDR"] == "192.168.1.1"


def test_an_invalid_entry_stops_the_walk():
    result = seen("10.0.0.1", {"X-Forwarded-For": "1.1.1.1, garbage, 192.168.9.9"})
    assert result["REMOTE_ADDR"] == "192.168.9.9"
    assert seen("10.0.0.1", {"X-Forwarded-For": "1.1.1.1, unknown"})["REMOTE_ADDR"] == "10.0.0.1"


def test_proto_and_host_lists_are_read_at_the_clients_hop():
    result = seen(
        "10.0.0.1",
        {
            "X-Forwarded-For": "198.51.100.7, 192.168.3.4",
            "X-Forwarded-Proto": "https, http",
            "X-Forwarded-Host": "ci.example.org, edge.internal",
        },
    )
    assert result["wsgi.url_scheme"] == "https"
    assert result["HTTP_HOST"] == "ci.example.org"


@pytest.mark.parametrize(
    ("header", "value", "key", "kept"),
    [
        ("X-Forwarded-Proto", "javascript", "wsgi.url_scheme", "http"),
        ("X-Forwarded-Host", "evil.test/path", "HTTP_HOST", "internal:9000"),
        ("X-Forwarded-Host", "a.test:99999", "HTTP_HOST", "internal:9000"),
        ("X-Forwarded-Host", "[::zz]", "HTTP_HOST", "internal:9000"),
        ("X-Forwarded-Prefix", "relative/path", "SCRIPT_NAME", ""),
        ("X-Forwarded-Prefix", "/a/../b", "SCRIPT_NAME", ""),
        ("X-Forwarded-For", "not-an-ip", "REMOTE_ADDR", "10.0.0.1"),
    ],
)
def test_invalid_values_are_ignored(header, value, key, kept):
    assert seen("10.0.0.1", {header: value})[key] == kept


def test_valid_hosts_include_ports_and_bracketed_ipv6():
    assert seen("10.0.0.1", {"X-Forwarded-Host": "a.test:8443"})["HTTP_HOST"] == "a.test:8443"
    assert seen("10.0.0.1", {"X-Forwarded-Host": "[2001:db8::1]:443"})["HTTP_HOST"] == (
        "[2001:db8::1]:443"
    )


def test_forwarded_is_honoured_with_quoted_ipv6_nodes():
    result = seen(
        "10.0.0.1",
        {"Forwarded": 'for="[2001:db8:cafe::17]:4711";proto=https;host="ci.example.org"'},
    )
    assert result["REMOTE_ADDR"] == "2001:db8:cafe::17"
    assert result["wsgi.url_scheme"] == "https"
    assert result["HTTP_HOST"] == "ci.example.org"


def test_forwarded_takes_proto_and_host_from_the_clients_element():
    value = (
        "for=198.51.100.7;proto=https;host=ci.example.org, "
        "for=192.168.3.4;proto=http;host=edge.internal"
    )
    result = seen("10.0.0.1", {"Forwarded": value})
    assert result["REMOTE_ADDR"] == "198.51.100.7"
    assert result["wsgi.url_scheme"] == "https"
    assert result["HTTP_HOST"] == "ci.example.org"


def test_forwarded_takes_precedence_over_x_forwarded():
    result = seen(
        "10.0.0.1",
        {
            "Forwarded": "for=198.51.100.7",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
        },
    )
    assert result["REMOTE_ADDR"] == "198.51.100.7"
    assert result["wsgi.url_scheme"] == "http"


def test_a_malformed_forwarded_header_is_ignored_and_x_forwarded_too():
    result = seen("10.0.0.1", {"Forwarded": "for=1.2.3.4;;bad", "X-Forwarded-For": "6.6.6.6"})
    assert result["REMOTE_ADDR"] == "10.0.0.1"


def test_x_forwarded_is_used_when_forwarded_is_switched_off():
    result = seen(
        "10.0.0.1",
        {"Forwarded": "for=198.51.100.7", "X-Forwarded-For": "6.6.6.6"},
        use_forwarded=False,
    )
    assert result["REMOTE_ADDR"] == "6.6.6.6"


def test_parse_forwarded_follows_rfc_7239():
    assert parse_forwarded('For="[2001:db8::1]";proto=http, for=unknown') == [
        {"for": "[2001:db8::1]", "proto": "http"},
        {"for": "unknown"},
    ]
    assert parse_forwarded('for="a\\"b"') == [{"for": 'a"b'}]
    assert parse_forwarded("for=1.2.3.4;for=5.6.7.8") is None  # duplicate parameter
    assert parse_forwarded("for=") is None
    assert parse_forwarded('for="unterminated') is None
    assert parse_forwarded("") is None


def test_networks_match_and_ipv4_mapped_peers_are_recognised():
    result = seen("::ffff:192.168.7.7", {"X-Forwarded-For": "198.51.100.7"})
    assert result["REMOTE_ADDR"] == "198.51.100.7"
    assert seen("::1", {"X-Forwarded-For": "198.51.100.8"})["REMOTE_ADDR"] == "198.51.100.8"


def test_nothing_is_trusted_by_default():
    result = seen("127.0.0.1", {"X-Forwarded-For": "198.51.100.7"}, trusted_proxies=[])
    assert result["REMOTE_ADDR"] == "127.0.0.1"


def test_options_come_from_the_config_file_and_a_local_key_overrides_them(tmp_path):
    conf = tmp_path / "ciweb.conf"
    conf.write_text("[proxy_headers]\ntrusted_proxies = 10.0.0.1\nuse_x_forwarded = true\n")
    from_file = proxy_headers.filter_factory({"config_file": str(conf)})(echo)
    local = proxy_headers.filter_factory({"config_file": str(conf)}, trusted_proxies="10.0.0.2")(
        echo
    )
    req = webob.Request.blank("/", headers={"X-Forwarded-For": "198.51.100.7"})
    req.environ["REMOTE_ADDR"] = "10.0.0.1"
    assert serve(from_file, req.copy()).json["REMOTE_ADDR"] == "198.51.100.7"
    assert serve(local, req.copy()).json["REMOTE_ADDR"] == "10.0.0.1"


def test_an_unknown_key_or_a_bad_network_fails_at_startup_naming_it():
    with pytest.raises(ConfigError, match="trusted_proxy"):
        proxy_headers.filter_factory({}, trusted_proxy="10.0.0.1")
    with pytest.raises(ConfigError, match="trusted_proxies"):
        proxy_headers.filter_factory({}, trusted_proxies="10.0.0.1/8")(echo)
    with pytest.raises(ConfigError, match="trusted_proxies"):
        ProxyHeaders(echo, trusted_proxies=["proxy.example.org"])


def test_the_filter_is_valid_pep_3333():
    app = wsgiref.validate.validator(
        ProxyHeaders(wsgiref.validate.validator(echo), trusted_proxies=TRUSTED)
    )
    req = webob.Request.blank("/", headers={"X-Forwarded-Proto": "https"})
    req.environ["REMOTE_ADDR"] = "10.0.0.1"
    assert serve(app, req).json["wsgi.url_scheme"] == "https"


def test_an_ipv6_zone_in_a_forwarded_address_is_never_taken_as_the_client():
    # A zone id is free text: it could carry quotes and spaces into REMOTE_ADDR and logs.
    result = seen("10.0.0.1", {"X-Forwarded-For": 'fe80::1%" 200 - "injected'})
    assert result["REMOTE_ADDR"] == "10.0.0.1"
