"""Options of the ``[api]`` group: which paste pipeline ``ciweb-api`` serves."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup("api", title="API service", help="The paste pipeline that ciweb-api serves.")

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "paste_config",
        default="api-paste.ini",
        help="Paste deploy configuration file of the WSGI pipeline. A relative path is "
        "looked up next to the configuration files, then in the current directory. "
        "(nova: api_paste_config)",
    ),
    cfg.StrOpt(
        "paste_app",
        default="main",
        regex=r"^[A-Za-z0-9_.:-]+$",
        help="Name of the application, composite or pipeline in paste_config to serve.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[api]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[api]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
