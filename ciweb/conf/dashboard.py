"""Options of the ``[dashboard]`` group: where the Zuul dashboard's files live and which release."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "dashboard",
    title="Dashboard",
    help="The Zuul web dashboard (a single-page application) served from static files that "
    "'ciweb-manage dashboard install' unpacks from the pinned Zuul release.",
)

OPTS = [
    cfg.StrOpt(
        "static_path",
        default="/var/lib/ciweb/dashboard",
        help="Directory of the dashboard's files (index.html, assets/...). Nothing outside it "
        "is ever served. (zuul: [web] static_path)",
    ),
    cfg.StrOpt(
        "version",
        default="14.3.0",
        regex=r"^[0-9]+(\.[0-9]+){1,3}$",
        help="Zuul release whose dashboard 'ciweb-manage dashboard install' installs.",
    ),
    cfg.StrOpt(
        "index_url",
        default="",
        help="Python package index to download the Zuul wheel from (pip --index-url); empty "
        "uses pip's own configuration (PyPI).",
    ),
    cfg.IntOpt(
        "max_age",
        default=0,
        min=0,
        max=31536000,
        help="Cache-Control max-age, in seconds, of files whose names carry no content hash "
        "(favicon.ico, manifest.json, ...); 0 sends no-cache so they are revalidated with "
        "their ETag. index.html is always revalidated; hashed assets (assets/name-HASH.js) "
        "are cached for a year as immutable.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[dashboard]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[dashboard]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
