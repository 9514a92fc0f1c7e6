"""Options of the ``[request_id]`` group: the id given to each request."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "request_id",
    title="Request ids",
    help="The request_id filter gives every request an id, returns it in a response header "
    "and puts it on every log line of the request.",
)

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "header_name",
        default="X-Request-Id",
        regex=r"^[A-Za-z0-9-]{1,64}$",
        help="Name of the response header that carries the request id, and of the request "
        "header an inbound id is read from.",
    ),
    cfg.BoolOpt(
        "accept_inbound",
        default=True,
        help="Use the id sent by the client or a proxy in the request header named by "
        "header_name, when it is safe (letters, digits and . _ : -, at most "
        "inbound_max_length characters); otherwise a new id is generated.",
    ),
    cfg.IntOpt(
        "inbound_max_length",
        default=64,
        min=8,
        max=256,
        help="Longest inbound request id accepted, in characters.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[request_id]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[request_id]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
