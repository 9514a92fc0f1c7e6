"""Options of the ``[console]`` group: the live console-stream websocket."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "console",
    title="Console stream",
    help="The console_stream filter: Zuul's console-stream websocket, fed from console text "
    "reported through the API or relayed from a build's finger log streamer.",
)

OPTS = [
    cfg.StrOpt(
        "tenant",
        default="",
        help="Whitelabel tenant: when set, /api/console-stream streams this tenant's builds "
        "(as zuul-web's whitelabel form). /api/tenant/{tenant}/console-stream always works.",
    ),
    cfg.IntOpt(
        "max_streams",
        default=100,
        min=1,
        max=100000,
        help="Most console streams open at once in one process; one more is answered "
        "503 with Retry-After before the websocket upgrade.",
    ),
    cfg.FloatOpt(
        "poll_interval",
        default=0.25,
        min=0.01,
        max=60.0,
        help="Seconds between two database reads of a stream that follows reported console "
        "text; every worker and host sees new text within this delay.",
    ),
    cfg.IntOpt(
        "read_batch",
        default=50,
        min=1,
        max=10000,
        help="Most console chunks read from the database at once; a slow viewer holds at "
        "most this many in memory.",
    ),
    cfg.FloatOpt(
        "idle_timeout",
        default=600.0,
        min=1.0,
        max=86400.0,
        help="Seconds without new console text after which a stream is closed (1001, "
        "'Idle timeout').",
    ),
    cfg.FloatOpt(
        "first_message_timeout",
        default=30.0,
        min=0.1,
        max=3600.0,
        help="Seconds a client has, after the upgrade, to send its {uuid, logfile} request.",
    ),
    cfg.FloatOpt(
        "send_timeout",
        default=60.0,
        min=0.1,
        max=3600.0,
        help="Seconds one frame may wait for a slow viewer's socket to drain; after that "
        "the stream is dropped rather than buffered.",
    ),
    cfg.FloatOpt(
        "heartbeat",
        default=20.0,
        min=0.0,
        max=3600.0,
        help="Seconds between websocket pings on a quiet stream (zuul-web: 20); 0 disables.",
    ),
    cfg.FloatOpt(
        "finger_connect_timeout",
        default=5.0,
        min=0.1,
        max=600.0,
        help="Seconds to connect to a build's finger log streamer.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[console]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[console]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
