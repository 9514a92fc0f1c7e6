"""Network addresses as servers advertise them and operators write them.

``host:port`` strings with RFC 3986 brackets for IPv6 (ZooKeeper node names, the monitor
address), and the address a server bound to a wildcard should advertise to clients.
"""

from __future__ import annotations

import ipaddress
import socket

from ciweb.conf import ConfigError

__all__ = ["advertise_address", "format_name", "is_unspecified", "parse_name"]

_LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "localhost6"})


def is_unspecified(host: str) -> bool:
    """Return True for an empty host or a wildcard address (``0.0.0.0``, ``::``, ``[::]``).

    :param host: a host name or address, IPv6 with or without brackets.
    """
    if not host:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def format_name(host: str, port: int) -> str:
    """Return the node name of *host* and *port*: ``host:port``, ``[v6addr]:port``.

    :param host: a host name or an IPv4/IPv6 address (IPv6 without brackets).
    :param port: a TCP port, 1-65535.
    :raises ValueError: on an empty or unspecified host or a bad port.
    """
    if is_unspecified(host):
        raise ValueError(f"host {host!r} is unspecified: advertise an address clients can dial")
    if not 0 < port < 65536:
        raise ValueError(f"port {port!r} is not in 1-65535")
    host = host.strip("[]")
    # RFC 3986 §3.2.2: an IPv6 literal in an authority is enclosed in brackets.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_name(name: str, *, port_zero: bool = False) -> tuple[str, int]:
    """Return ``(host, port)`` of a ``host:port`` or ``[v6addr]:port`` string.

    The host may be empty (``:8080``), meaning every interface.

    :param name: the address to parse.
    :param port_zero: accept port 0 (any free port), for an address to listen on.
    :raises ValueError: naming the bad address.
    """
    host, sep, port_text = name.strip().rpartition(":")
    if not sep or not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"{name!r} is not host:port")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"{name!r}: unclosed bracket")
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{name!r}: put an IPv6 address in brackets, [addr]:port")
    port = int(port_text)
    if not (0 if port_zero else 1) <= port < 65536:
        raise ValueError(f"{name!r}: port is not in {0 if port_zero else 1}-65535")
    return host, port


def _non_loopback(name: str) -> str | None:
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except OSError:
        return None
    for info in infos:
        address = str(info[4][0])
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            return address
    return None


def _routed_address(family: socket.AddressFamily, probe: str) -> str | None:
    # Connecting a UDP socket sends nothing: the kernel only picks the source address of
    # the route to *probe*, i.e. the address other hosts see.  Probes are documentation
    # addresses (RFC 5737, RFC 3849), never contacted.
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))
            address = str(sock.getsockname()[0])
    except OSError:
        return None
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return None if ip.is_loopback or ip.is_unspecified else address


def _default_host() -> str:
    fqdn = socket.getfqdn()
    # A name is better than an address (it survives renumbering) but only if it resolves to
    # something other hosts can reach.
    if fqdn and fqdn.lower() not in _LOCALHOST_NAMES and _non_loopback(fqdn):
        return fqdn
    address = (
        _non_loopback(socket.gethostname())
        or _routed_address(socket.AF_INET, "192.0.2.1")
        or _routed_address(socket.AF_INET6, "2001:db8::1")
    )
    if address is None:
        raise ConfigError(
            "[zookeeper] advertise_host: the server listens on every interface and this "
            "host has no resolvable non-loopback name or address; set advertise_host"
        )
    return address


def advertise_address(
    bind_host: str, port: int, advertise_host: str | None = None
) -> tuple[str, int]:
    """Return the ``(host, port)`` clients should dial for a server bound to *bind_host*.

    Never returns 0.0.0.0 or ``::``: a wildcard bind is replaced by the fully qualified host
    name, or the first non-loopback address of the host.

    :param bind_host: the address the socket is bound to (``sock.getsockname()[0]``).
    :param port: the bound port (the real one when 0 was asked for).
    :param advertise_host: the operator's choice, which wins when set.
    :raises ConfigError: when *advertise_host* is a wildcard or no address can be derived.
    """
    if advertise_host:
        if is_unspecified(advertise_host):
            raise ConfigError(
                f"[zookeeper] advertise_host = {advertise_host}: a wildcard address cannot "
                "be dialled; name this host or one of its addresses"
            )
        return advertise_host.strip("[]"), port
    if is_unspecified(bind_host):
        return _default_host(), port
    return bind_host.split("%", 1)[0], port
