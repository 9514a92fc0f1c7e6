"""Options of the ``[healthcheck]`` group: the answer given to load balancers."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "healthcheck",
    title="Health check",
    help="The healthcheck filter answers one path itself, for load balancers and monitors.",
)

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "path",
        default="/healthcheck",
        regex=r"^/[A-Za-z0-9._~/-]*$",
        help="Path answered by the filter: GET gives 200 (or 503 when disabled), HEAD 204 "
        "(or 503). Any other path passes through.",
    ),
    cfg.StrOpt(
        "disable_by_file_path",
        default="",
        help="When a file exists at this path, the health check answers 503 DISABLED BY "
        "FILE, so that load balancers drain this node (create it before maintenance, "
        "remove it after). Empty: never disabled. Checked on each health check request.",
    ),
    cfg.ListOpt(
        "probes",
        default=[],
        help="Checks run on every health check request, by name (entry points of the "
        "ciweb.healthcheck group); one that fails answers 503 <NAME> UNAVAILABLE, so that "
        "load balancers drain this node. ciweb has: database (SELECT 1 on [database] "
        "connection, through a connection of its own).",
    ),
    cfg.BoolOpt(
        "detailed",
        default=False,
        help="Add the ciweb version, the seconds since the pipeline was loaded and the "
        "free green threads of the server to the answer. Off by default: they tell "
        "anyone who can reach the path what runs here.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[healthcheck]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[healthcheck]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
