"""Options of the ``[database]`` group: where the CI data lives and how to reach it."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "database",
    title="Database",
    help="The SQL database of builds, buildsets, status and configuration: SQLite in the "
    "state directory by default, PostgreSQL by URL when several hosts share it.",
)

OPTS = [
    cfg.StrOpt(
        "connection",
        default="",
        secret=True,
        help="SQLAlchemy URL of the database, e.g. postgresql+psycopg://user:pass@host/ciweb. "
        "Empty means SQLite in <state_dir>/ciweb.sqlite. (oslo.db: connection)",
    ),
    cfg.StrOpt(
        "state_dir",
        default="/var/lib/ciweb",
        help="Directory of the SQLite database (ciweb.sqlite) when connection is empty; "
        "created if missing.",
    ),
    cfg.FloatOpt(
        "busy_timeout",
        default=5.0,
        min=0.0,
        max=600.0,
        help="SQLite only: seconds a statement waits for another process's write lock "
        "before failing with 'database is locked' (PRAGMA busy_timeout).",
    ),
    cfg.IntOpt(
        "pool_size",
        default=8,
        min=1,
        max=1000,
        help="Connections kept open in the pool of each worker process; with max_overflow, "
        "the number of requests of a worker that use the database at once (the others "
        "wait for a connection, without holding up the server). Few keep the server's "
        "event loop responsive under load; on a database far away (round trips of "
        "milliseconds), more let a worker wait for several answers at once. "
        "(oslo.db: max_pool_size)",
    ),
    cfg.IntOpt(
        "max_overflow",
        default=0,
        min=0,
        max=1000,
        help="Connections opened beyond pool_size under load, and closed again as soon as "
        "they are returned: under steady load each is a new connection per request. "
        "(oslo.db: max_overflow)",
    ),
    cfg.FloatOpt(
        "pool_timeout",
        default=30.0,
        min=0.1,
        max=3600.0,
        help="Seconds a request waits for a free connection of the pool before it is "
        "answered 503 with Retry-After. (oslo.db: pool_timeout)",
    ),
    cfg.BoolOpt(
        "echo",
        default=False,
        help="Log every SQL statement to the sqlalchemy.engine logger (debugging only).",
    ),
    cfg.FloatOpt(
        "statement_timeout",
        default=30.0,
        min=0.0,
        max=3600.0,
        help="Seconds after which the heavy history queries (builds, buildsets, build-times, "
        "badge) are cancelled; 0 disables the limit. Zuul uses 30 seconds.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[database]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[database]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
