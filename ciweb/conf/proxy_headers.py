"""Options of the ``[proxy_headers]`` group: which peers may speak for the client."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "proxy_headers",
    title="Trusted proxies",
    help="X-Forwarded-* and Forwarded headers are honoured only from these peers.",
)

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "trusted_proxies",
        default=[],
        help="Addresses or networks (CIDR) of the reverse proxies in front of ciweb, for "
        "example 127.0.0.1,10.0.0.0/8,::1. Forwarding headers from any other peer are ignored.",
    ),
    cfg.BoolOpt(
        "use_forwarded",
        default=True,
        help="Honour the RFC 7239 Forwarded header from trusted proxies. When it is "
        "present and honoured, X-Forwarded-For, -Proto and -Host are ignored.",
    ),
    cfg.BoolOpt(
        "use_x_forwarded",
        default=True,
        help="Honour X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and "
        "X-Forwarded-Prefix from trusted proxies.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[proxy_headers]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[proxy_headers]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
