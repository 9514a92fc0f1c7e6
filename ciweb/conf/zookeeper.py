"""Options of the ``[zookeeper]`` group: registration of running servers in ZooKeeper."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "zookeeper",
    title="ZooKeeper registration",
    help="Each running server registers an ephemeral node <path>/<host>:<port> so that "
    "load balancers and clients find live instances. Registration is off while hosts is "
    "empty.",
)

OPTS = [
    cfg.StrOpt(
        "hosts",
        default="",
        regex=r"^[^\s]*$",
        help="ZooKeeper connection string: comma-separated host:port pairs, optionally "
        "followed by a chroot path (zk1:2181,zk2:2181/ciweb). Empty turns registration off.",
    ),
    cfg.StrOpt(
        "path",
        default="/ciweb/servers",
        regex=r"^(/[^/\s]+)+$",
        help="Parent path of the registration nodes; created if missing.",
    ),
    cfg.FloatOpt(
        "session_timeout",
        default=10.0,
        min=1.0,
        max=600.0,
        help="ZooKeeper session timeout in seconds (the server clamps it to its own "
        "minSessionTimeout..maxSessionTimeout). A server whose session expires loses its "
        "node until it reconnects and registers again.",
    ),
    cfg.HostAddressOpt(
        "advertise_host",
        help="Address that clients should dial, registered in the node name. Default: "
        "the server's bind_host, or, when that is 0.0.0.0 or ::, the host's fully "
        "qualified name or first non-loopback address. 0.0.0.0 and :: are refused.",
    ),
    cfg.FloatOpt(
        "connect_timeout",
        default=10.0,
        min=0.1,
        max=600.0,
        help="Seconds to wait for a connection to ZooKeeper: the deadline of one-shot "
        "commands (ciweb-manage discover), and the delay after which a registering "
        "server logs that ZooKeeper is still unreachable (it keeps retrying, and keeps "
        "serving, meanwhile).",
    ),
    cfg.FloatOpt(
        "retry_max_delay",
        default=30.0,
        min=0.1,
        max=3600.0,
        help="Longest pause, in seconds, between two attempts to reach ZooKeeper; the "
        "pause starts at 0.1 s and doubles after each failed attempt.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[zookeeper]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[zookeeper]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
