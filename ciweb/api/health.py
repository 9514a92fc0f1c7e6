"""The ``database`` probe of the healthcheck filter: is the database answering?

With ``[healthcheck] probes = database``, each health check runs ``SELECT 1`` through a
connection of the probe's own (one, kept open; the API's pool may be busy with requests),
and answers 503 ``DATABASE UNAVAILABLE`` when it fails, so that a load balancer drains a
node whose database is gone.  The API's own store logs the outage; the probe does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ciweb.api.app import make_store
from ciweb.ci.errors import Unavailable
from ciweb.ci.store import Outage
from ciweb.conf import database as database_conf
from ciweb.conf import paste_options

__all__ = ["database_probe"]

# Seconds a check waits for the probe's connection, should a check still run.
_POOL_TIMEOUT = 5.0


def database_probe(global_conf: Mapping[str, str]) -> Callable[[], str | None]:
    """Return the probe: None when ``SELECT 1`` succeeds, else ``"unavailable"``.

    :param global_conf: paste's global configuration; ``config_file`` names ciweb.conf,
        whose ``[database]`` options are used.
    :raises ConfigError: naming a bad ``[database]`` option.
    """
    options = paste_options(global_conf, {}, database_conf.GROUP, database_conf.OPTS)
    options.update(pool_size=1, max_overflow=0, pool_timeout=_POOL_TIMEOUT)
    store = make_store(options, outage=Outage(log=False))

    def probe() -> str | None:
        try:
            with store.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Unavailable:
            return "unavailable"
        return None

    return probe
