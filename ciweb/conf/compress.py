"""Options of the ``[compress]`` group: content coding of responses (gzip, brotli)."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "compress",
    title="Response compression",
    help="The compress filter: gzip or brotli content coding of large, compressible responses.",
)

OPTS = [
    cfg.ListOpt(
        "encodings",
        default=["br", "gzip"],
        item_type=cfg.types.String(choices=["br", "gzip"]),
        help="Content codings offered, in the server's order of preference when the client's "
        "q-values tie. br is used only when the brotli module is installed.",
    ),
    cfg.IntOpt(
        "min_size",
        default=1024,
        min=0,
        max=1073741824,
        help="Responses whose Content-Length is known and smaller than this many bytes are "
        "sent as they are. Responses of unknown length are compressed.",
    ),
    cfg.ListOpt(
        "content_types",
        default=[
            "application/json",
            "application/javascript",
            "application/xml",
            "image/svg+xml",
            "text/*",
        ],
        help="Media types that are compressed (parameters such as charset are ignored); "
        "type/* matches every subtype, and types ending in +json or +xml are compressed "
        "when application/json or application/xml is listed.",
    ),
    cfg.IntOpt(
        "gzip_level",
        default=6,
        min=1,
        max=9,
        help="zlib compression level of gzip: 1 is fastest, 9 smallest.",
    ),
    cfg.IntOpt(
        "brotli_quality",
        default=4,
        min=0,
        max=11,
        help="Brotli quality: 0 is fastest, 11 smallest (too slow for dynamic content).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[compress]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[compress]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
