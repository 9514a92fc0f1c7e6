"""Options of the ``[access_log]`` group: the one line logged per request."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "access_log",
    title="Access log",
    help="The access_log filter logs one line per request, once its response body has "
    "been sent; the server then skips its own access line for that request.",
)

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "logger_name",
        default="ciweb.access",
        regex=r"^[A-Za-z0-9_.-]{1,200}$",
        help="Name of the logger the lines are sent to, at INFO level.",
    ),
    cfg.StrOpt(
        "format",
        default="extended",
        help="Format of the line: 'common' or 'combined' (the Apache formats), 'extended' "
        "(combined followed by the request id and the duration in seconds), or a Python "
        "%-format string using the keys remote_addr, remote_user, time (Apache "
        "[day/month/year:H:M:S zone]), request_line, method, path, query, protocol, status, "
        "bytes (an int), bytes_clf ('-' for none), referer, user_agent, request_id, "
        "duration (seconds, a float) and duration_ms (a float).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[access_log]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[access_log]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
