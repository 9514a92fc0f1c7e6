"""Options of the ``[sizelimit]`` group: the largest request body the application reads."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "sizelimit",
    title="Request body size limit",
    help="The sizelimit filter refuses request bodies larger than max_request_body_size "
    "with 413 Content Too Large.",
)

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "max_request_body_size",
        default=1048576,
        min=1,
        max=1073741824,
        help="Largest request body, in bytes, that the application may read. A larger "
        "Content-Length is refused before the application runs; a body without "
        "Content-Length (chunked) is refused as soon as the application has read past it. "
        "(oslo.middleware: [oslo_middleware] max_request_body_size)",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[sizelimit]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[sizelimit]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
