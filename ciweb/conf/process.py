"""Options of the ``[process]`` group: worker processes, recycling, pid file, monitor, logging."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "process",
    title="Process management",
    help="How ciweb-api runs: worker processes under a supervising parent, their "
    "recycling, the pid file, the monitor port and the logging configuration.",
)

OPTS: list[cfg.Opt] = [
    cfg.IntOpt(
        "workers",
        default=1,
        min=0,
        max=256,
        help="Number of worker processes serving requests under one supervising parent; "
        "0 means one per CPU. Even 1 runs a parent and one worker, so that a reload "
        "(SIGHUP) or a crash never leaves the port without a listener.",
    ),
    cfg.BoolOpt(
        "reuse_port",
        default=True,
        help="Give each worker slot its own SO_REUSEPORT listening socket on the same "
        "port, held open by the parent: the kernel spreads new connections over the "
        "slots, and a slot's queue survives its worker (reload, recycling, respawn). "
        "False shares one listening socket between all workers. bench/workers.py "
        "compares both.",
    ),
    cfg.IntOpt(
        "max_requests",
        default=0,
        min=0,
        help="Recycle a worker after it served about this many requests: a replacement "
        "starts first, then the old worker drains. 0 never recycles.",
    ),
    cfg.IntOpt(
        "max_requests_jitter",
        default=0,
        min=0,
        help="Add a random 0..max_requests_jitter to each worker's max_requests, so that "
        "the workers are not all recycled at once.",
    ),
    cfg.FloatOpt(
        "worker_start_timeout",
        default=60.0,
        min=1.0,
        max=3600.0,
        help="Seconds a new worker has to load the pipeline and start listening. A "
        "worker that is not ready by then is killed: at startup the command fails, on a "
        "reload the old workers keep serving.",
    ),
    cfg.FloatOpt(
        "respawn_max_delay",
        default=10.0,
        min=0.1,
        max=600.0,
        help="Longest pause before respawning a worker that died; the pause starts at "
        "0.1 s and doubles for each worker that dies within 10 s of its start.",
    ),
    cfg.StrOpt(
        "pid_file",
        help="Write the parent's process id to this file, and refuse to start while a "
        "live process holds it. The file is removed on exit.",
    ),
    cfg.StrOpt(
        "monitor_address",
        regex=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):[0-9]{1,5}$",
        help="HOST:PORT of the monitor port (zc.monitor style: one command per "
        "connection, e.g. `echo stats | nc 127.0.0.1 8081`). An empty host means "
        "127.0.0.1; port 0 picks a free port, which is logged. Unset: no monitor.",
    ),
    cfg.StrOpt(
        "prometheus_address",
        regex=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]*):[0-9]{1,5}$",
        help="HOST:PORT where the parent serves Prometheus metrics of all its workers "
        "(requests by route and status, latency histograms, in flight, free green threads, "
        "connections by state, console streams, database pool, cache results; see the "
        "README), e.g. 127.0.0.1:9100. An empty host means 127.0.0.1; port 0 picks a free "
        "port, which is logged. Unset: no metrics. Read at start only (a reload keeps it). "
        "Only ciweb-api serves it: under another WSGI host or a paste server section there "
        "is no metrics endpoint.",
    ),
    cfg.StrOpt(
        "log_config_file",
        help="A logging.config.fileConfig file configuring logging. Default: the paste "
        "configuration file when it has a [loggers] section (as pserve does), else a "
        "stderr handler at log_level.",
    ),
    cfg.StrOpt(
        "log_level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="Level of the root logger when no logging configuration file applies.",
    ),
    cfg.StrOpt(
        "log_format",
        default="%(asctime)s %(process)d %(levelname)s %(name)s [%(request_id)s] %(message)s",
        help="Format of the stderr log lines when no logging configuration file applies.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[process]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[process]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
