"""Tests of host:port names and of the address a server advertises."""

from __future__ import annotations

import pytest

from ciweb.conf import ConfigError
from ciweb.discovery.address import advertise_address, format_name, is_unspecified, parse_name

WILDCARDS = ("0.0.0.0", "::", "")


@pytest.mark.parametrize("bind_host", WILDCARDS)
def test_a_wildcard_bind_is_advertised_as_a_dialable_host(bind_host: str) -> None:
    host, port = advertise_address(bind_host, 9000)
    assert host not in WILDCARDS and host not in ("::0", "0:0:0:0:0:0:0:0")
    assert port == 9000


@pytest.mark.parametrize("advertise_host", ["0.0.0.0", "::", "[::]"])
def test_a_wildcard_advertise_host_is_refused(advertise_host: str) -> None:
    with pytest.raises(ConfigError, match="advertise_host"):
        advertise_address("127.0.0.1", 9000, advertise_host)


def test_an_explicit_advertise_host_wins_over_the_bound_address() -> None:
    assert advertise_address("0.0.0.0", 9000, "api.example.org") == ("api.example.org", 9000)
    assert advertise_address("10.0.0.5", 9000) == ("10.0.0.5", 9000)


def test_ipv6_node_names_put_the_address_in_brackets() -> None:
    assert format_name("::1", 8080) == "[::1]:8080"
    assert format_name("127.0.0.1", 8080) == "127.0.0.1:8080"
    assert parse_name("[::1]:8080") == ("::1", 8080)
    assert parse_name(":8081") == ("", 8081)
    with pytest.raises(ValueError, match="brackets"):
        parse_name("::1:8080")
    assert parse_name(":0", port_zero=True) == ("", 0)
    with pytest.raises(ValueError, match="1-65535"):
        parse_name("h:0")
    with pytest.raises(ValueError, match="not host:port"):
        parse_name("h:８０")  # noqa: RUF001 - full-width digits are not a port


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::", "[::]", "0:0:0:0:0:0:0:0"])
def test_wildcards_and_the_empty_host_are_unspecified(host: str) -> None:
    assert is_unspecified(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "api.example.org"])
def test_dialable_hosts_are_specified(host: str) -> None:
    assert not is_unspecified(host)
