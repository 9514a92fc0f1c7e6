"""Honour Forwarded and X-Forwarded-* headers, but only from trusted proxies.

When the peer (``REMOTE_ADDR``) is one of ``trusted_proxies`` (addresses or CIDR networks),
the filter sets ``REMOTE_ADDR`` to the client's address, ``wsgi.url_scheme`` to the scheme
the client used, ``HTTP_HOST`` to the host it asked for, and prefixes ``SCRIPT_NAME`` with
``X-Forwarded-Prefix``.  The values it replaced are kept in
``environ['ciweb.proxy_headers.orig']`` (keys ``REMOTE_ADDR``, ``wsgi.url_scheme``,
``HTTP_HOST``, ``SCRIPT_NAME``), set only when the headers were honoured.  From any other
peer the headers are ignored: anybody can send them.

**Which address is the client** follows nginx's ``real_ip_recursive on``: the list of
addresses (``X-Forwarded-For``, or the ``for=`` of each ``Forwarded`` element) is walked
from the right, skipping trusted proxies; the first untrusted address is the client.  If
every address is trusted, the leftmost is used.  An entry that is not an IP address
(``unknown``, an obfuscated node, garbage) stops the walk: the client is then the last
address walked, or ``REMOTE_ADDR`` is kept if it is the rightmost entry.  No hop count to
configure, unlike werkzeug's ``ProxyFix(x_for=n)``: trust is by address.

**Scheme and host** are those of the same hop as the client: for ``Forwarded``, the
``proto`` and ``host`` of the element whose ``for`` is the client (RFC 7239 §5.3, §5.4: that
element was added by the first proxy, which received the client's request); for
``X-Forwarded-Proto`` and ``-Host`` holding comma lists, the entry at the same distance from
the right as the client in ``X-Forwarded-For``, or the leftmost when the list is shorter (a
single value set by the edge proxy is used as is).

**Precedence**: when a ``Forwarded`` header is present (and ``use_forwarded`` is on), it
alone gives client, scheme and host, and ``X-Forwarded-For/-Proto/-Host`` are ignored, even
if ``Forwarded`` is malformed (then nothing is taken from it).  ``X-Forwarded-Prefix`` has no
``Forwarded`` equivalent and is honoured in both cases.

**Validation**: a scheme other than ``http``/``https``, a host that is not ``host[:port]``
(a DNS name, IPv4 address or bracketed IPv6 address) or a prefix that is not an absolute
path is ignored, and the original value kept.  ``SERVER_NAME`` and ``SERVER_PORT`` are left
as they are: PEP 3333 URL reconstruction and webob use ``HTTP_HOST`` first.

Paste deployment (outermost filter)::

    [filter:proxy_headers]
    paste.filter_factory = ciweb.middleware.proxy_headers:filter_factory
    # Optional; defaults come from [proxy_headers] in ciweb.conf.
    trusted_proxies = 127.0.0.1, ::1, 10.0.0.0/8
    # use_forwarded = true
    # use_x_forwarded = true
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ciweb.conf import ConfigError, paste_options
from ciweb.conf import proxy_headers as proxy_headers_conf

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ProxyHeaders", "filter_factory", "parse_forwarded"]

ORIG_KEY = "ciweb.proxy_headers.orig"

_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# RFC 7239 §4: forwarded-pair = token "=" value; value = token / quoted-string (RFC 9110 §5.6.4).
_PAIR = re.compile(rf'[ \t]*({_TCHARS})=({_TCHARS}|"(?:[^"\\]|\\.)*")[ \t]*')
_QUOTED_PAIR = re.compile(r"\\(.)")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*\.?|\[([0-9A-Fa-f:.]+)\])(?::([0-9]{1,5}))?"
)
# RFC 3986 §3.3: segments of pchar.
_PREFIX = re.compile(r"(?:/[A-Za-z0-9\-._~!$&'()*+,;=:@%]*)+")
_PORT = re.compile(r"[0-9]{1,5}|_[A-Za-z0-9._-]+")
_SCHEMES = frozenset({"http", "https"})
_X_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PREFIX",
)


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """Parse an RFC 7239 ``Forwarded`` field value into its elements, or ``None`` if invalid.

    Parameter names are lower-cased; quoted strings are unquoted.

    :param value: the field value (several header lines joined by commas).
    """
    elements: list[dict[str, str]] = []
    element: dict[str, str] = {}
    pos, end = 0, len(value)
    while pos < end:
        match = _PAIR.match(value, pos)
        if match is None:
            return None
        name, raw = match.group(1).lower(), match.group(2)
        if name in element:
            return None  # RFC 7239 §4: a parameter occurs at most once per element.
        element[name] = _QUOTED_PAIR.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        pos = match.end()
        if pos < end and value[pos] == ";":
            pos += 1
            continue
        elements.append(element)
        element = {}
        # RFC 9110 §5.6.1: list elements are separated by commas with optional whitespace.
        while pos < end and value[pos] in ", \t":
            pos += 1
    return elements if elements and not element else None


def node_address(node: str | None) -> str | None:
    """Return the normalised IP address of an X-Forwarded-For entry or ``for=`` node.

    Accepts ``192.0.2.1``, ``192.0.2.1:4711``, ``2001:db8::1`` and ``[2001:db8::1]:4711``
    (RFC 7239 §6); anything else (``unknown``, obfuscated nodes) gives ``None``.
    """
    if node is None:
        return None
    node = node.strip()
    if node.startswith("["):
        close = node.find("]")
        host, rest = node[1:close], node[close + 1 :]
        if close < 0 or (rest and not (rest[0] == ":" and _PORT.fullmatch(rest[1:]))):
            return None
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
        if not _PORT.fullmatch(port):
            return None
    else:
        host = node
    if "%" in host:
        # An IPv6 zone ("fe80::1%eth0") is local to a host and its text is free-form: a
        # header could smuggle quotes or spaces into REMOTE_ADDR and the access log.
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _valid_host(host: str | None) -> str | None:
    if not host or len(host) > 255:
        return None
    match = _HOST.fullmatch(host.strip())
    if match is None:
        return None
    ipv6, port = match.groups()
    if port is not None and int(port) > 65535:
        return None
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6)
        except ValueError:
            return None
    return match.group(0)


def _valid_scheme(scheme: str | None) -> str | None:
    scheme = (scheme or "").strip().lower()
    return scheme if scheme in _SCHEMES else None


def _valid_prefix(prefix: str | None) -> str | None:
    prefix = (prefix or "").strip()
    if not _PREFIX.fullmatch(prefix) or any(s in (".", "..") for s in prefix.split("/")):
        return None
    return prefix.rstrip("/")


def _at_hop(value: str | None, hop: int) -> str | None:
    """Return the entry of a comma list *hop* places from the right (clamped to the left)."""
    if value is None:
        return None
    entries = value.split(",")
    return entries[max(0, len(entries) - 1 - hop)]


class ProxyHeaders:
    """WSGI filter that honours forwarding headers from trusted proxies (see the module)."""

    def __init__(
        self,
        application: WSGIApplication,
        *,
        trusted_proxies: Sequence[str] = (),
        use_forwarded: bool = True,
        use_x_forwarded: bool = True,
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param trusted_proxies: addresses or CIDR networks of the proxies in front.
        :param use_forwarded: honour the RFC 7239 ``Forwarded`` header.
        :param use_x_forwarded: honour the ``X-Forwarded-*`` headers.
        :raises ConfigError: naming the bad option.
        """
        networks = []
        for entry in trusted_proxies:
            try:
                networks.append(ipaddress.ip_network(entry.strip()))
            except ValueError as exc:
                raise ConfigError(f"[proxy_headers] trusted_proxies: {exc}") from None
        self.application = application
        self.use_forwarded = use_forwarded
        self.use_x_forwarded = use_x_forwarded
        self._exact = frozenset(str(n.network_address) for n in networks if n.num_addresses == 1)
        self._networks = tuple(n for n in networks if n.num_addresses > 1)
        # Per instance, bounded: peers are few (the proxies) and each costs ~1 µs to parse.
        self.is_trusted = functools.lru_cache(maxsize=1024)(self._is_trusted)
        self._enabled = bool(networks) and (use_forwarded or use_x_forwarded)

    def _is_trusted(self, address: str | None) -> bool:
        if address is None:
            return False
        if address in self._exact:
            return True
        normal = node_address(address)
        if normal is None:
            return False
        ip = ipaddress.ip_address(normal)
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
            ip, normal = mapped, str(mapped)
        return normal in self._exact or any(
            ip.version == net.version and ip in net for net in self._networks
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            self._enabled
            and (
                "HTTP_FORWARDED" in environ
                or "HTTP_X_FORWARDED_FOR" in environ
                or "HTTP_X_FORWARDED_PROTO" in environ
                or "HTTP_X_FORWARDED_HOST" in environ
                or "HTTP_X_FORWARDED_PREFIX" in environ
            )
            and self.is_trusted(environ.get("REMOTE_ADDR"))
        ):
            self._apply(environ)
        return self.application(environ, start_response)

    def _walk(self, addresses: list[str | None]) -> int | None:
        """Return the index of the client in *addresses* (nginx real_ip_recursive)."""
        client = None
        for index in range(len(addresses) - 1, -1, -1):
            address = addresses[index]
            if address is None:
                break  # Not an address: nothing left of it can be trusted.
            client = index
            if not self.is_trusted(address):
                break
        return client

    def _from_forwarded(self, value: str) -> tuple[str | None, str | None, str | None]:
        elements = parse_forwarded(value)
        if not elements:
            return None, None, None
        addresses = [node_address(e.get("for")) for e in elements]
        client = self._walk(addresses)
        hop = elements[client if client is not None else -1]
        address = addresses[client] if client is not None else None
        return address, hop.get("proto"), hop.get("host")

    def _from_x_forwarded(
        self, environ: WSGIEnvironment
    ) -> tuple[str | None, str | None, str | None]:
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
        address, hop = None, 0
        if forwarded_for:
            addresses = [node_address(a) for a in forwarded_for.split(",")]
            client = self._walk(addresses)
            if client is not None:
                address, hop = addresses[client], len(addresses) - 1 - client
        proto = _at_hop(environ.get("HTTP_X_FORWARDED_PROTO"), hop)
        host = _at_hop(environ.get("HTTP_X_FORWARDED_HOST"), hop)
        return address, proto, host

    def _apply(self, environ: WSGIEnvironment) -> None:
        orig = {key: environ.get(key) for key in ("REMOTE_ADDR", "wsgi.url_scheme")}
        orig["HTTP_HOST"] = environ.get("HTTP_HOST")
        script_name: str = environ.get("SCRIPT_NAME", "")
        orig["SCRIPT_NAME"] = script_name
        if self.use_forwarded and "HTTP_FORWARDED" in environ:
            address, proto, host = self._from_forwarded(environ["HTTP_FORWARDED"])
        elif self.use_x_forwarded:
            address, proto, host = self._from_x_forwarded(environ)
        else:
            address = proto = host = None
        if address is not None:
            environ["REMOTE_ADDR"] = address
        scheme = _valid_scheme(proto)
        if scheme is not None:
            environ["wsgi.url_scheme"] = scheme
        valid_host = _valid_host(host)
        if valid_host is not None:
            environ["HTTP_HOST"] = valid_host
        if self.use_x_forwarded:
            prefix = _valid_prefix(environ.get("HTTP_X_FORWARDED_PREFIX"))
            if prefix is not None:
                environ["SCRIPT_NAME"] = prefix + script_name
        environ[ORIG_KEY] = orig


def filter_factory(global_conf: Mapping[str, str], **local_conf: str) -> Callable[..., Any]:
    """Return a paste filter that wraps an application in :class:`ProxyHeaders`.

    :param global_conf: paste's global configuration (``config_file`` names ciweb.conf).
    :param local_conf: the filter section's keys; they override ``[proxy_headers]``.
    :raises ConfigError: naming an unknown or bad option.
    """
    options = paste_options(
        global_conf, local_conf, proxy_headers_conf.GROUP, proxy_headers_conf.OPTS
    )

    def _filter(app: WSGIApplication) -> ProxyHeaders:
        return ProxyHeaders(app, **options)

    return _filter
