"""The paste application factory of the CI web service.

``app_factory`` builds the store once from the ``[database]`` options (ciweb.conf named by
``config_file``, local keys of the ``[app:...]`` section winning), refuses to start on a
database that is not migrated, builds the ``[connection <name>]`` connections, and wires the
controllers into one :class:`ApiApplication`::

    [app:ciweb]
    use = egg:ciweb#main
    # tenant = example-tenant          (whitelabel: paths without tenant/{tenant}/)
    # connection = sqlite:////var/lib/ciweb/ciweb.sqlite
"""

from __future__ import annotations

import logging
import re
import types
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from ciweb.api import openapi
from ciweb.api.context import ApiContext, AuthHooks
from ciweb.api.routes import ReadControllers, make_mapper
from ciweb.ci.dbapi import EventLoop
from ciweb.ci.engine import database_url, make_engine
from ciweb.ci.errors import NotMigrated
from ciweb.ci.store import Outage, Store
from ciweb.conf import ConfigError, config_files, paste_options
from ciweb.conf import database as database_conf
from ciweb.wsgi.offload import TurnGate, on_event_loop, run_blocking, wait_socket
from ciweb.wsgi.router import Router

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ciweb.api.connections import Connection
    from ciweb.api.controllers.admin import WriteControllers

__all__ = [
    "ApiApplication",
    "app_factory",
    "build_auth",
    "build_connections",
    "build_write_controllers",
    "make_store",
]

LOG = logging.getLogger(__name__)

_APP_KEYS = frozenset({"tenant"})
_DATABASE_KEYS = frozenset(
    {opt.name for opt in database_conf.OPTS} | {opt.dest for opt in database_conf.OPTS}
)
_SLASHES = re.compile(r"//+")


class ApiApplication:
    """The API: the router behind a normalisation of repeated slashes in ``/api`` paths.

    The Zuul dashboard builds some URLs as ``apiPrefix + "/..."``, which gives
    ``/api/tenant/t//autohold/1``; CherryPy matched those, so ciweb must too
    (reference/zuul-api.md §5).  An empty path segment has no meaning in any route.
    """

    def __init__(self, router: Router, context: ApiContext) -> None:
        """Wrap *router*.

        :param router: the router of every API route.
        :param context: the context the controllers share (kept for introspection).
        """
        self.router = router
        self.context = context

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if "//" in path:
            collapsed = _SLASHES.sub("/", path)
            if collapsed.startswith("/api"):
                environ["PATH_INFO"] = collapsed
        return self.router(environ, start_response)


def make_store(options: Mapping[str, Any], *, outage: Outage | None = None) -> Store:
    """Return the store described by typed ``[database]`` options.

    :param options: the values of :data:`ciweb.conf.database.OPTS` by option name.
    :param outage: how the store reports an unreachable database (default: logged).
    :raises ConfigError: naming ``[database] connection`` when the URL is wrong.
    """
    try:
        engine = make_engine(
            database_url(options["connection"], options["state_dir"]),
            busy_timeout=options["busy_timeout"],
            pool_size=options["pool_size"],
            max_overflow=options["max_overflow"],
            pool_timeout=options["pool_timeout"],
            echo=options["echo"],
            loop=EventLoop(on_event_loop, run_blocking, wait_socket),
        )
        return Store(
            engine,
            statement_timeout=options["statement_timeout"],
            offload=run_blocking,
            outage=outage,
            gate=TurnGate(options["pool_size"]),
        )
    except (ValueError, OSError) as exc:
        raise ConfigError(f"[database] {exc}") from None


def _check_migrated(store: Store) -> None:
    try:
        store.check_migrated()
    except NotMigrated as exc:
        raise ConfigError(str(exc)) from None
    except SQLAlchemyError as exc:
        url = store.engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"[database] connection: cannot reach {url}: {exc}") from None
    finally:
        # No connection stays open across a fork of worker processes (SQLAlchemy's
        # "Using Connection Pools with Multiprocessing"): each process opens its own.
        store.engine.dispose()


def build_auth(global_conf: Mapping[str, str], local_conf: Mapping[str, str]) -> AuthHooks | None:
    """Return the authorisation hooks of the deployment; None leaves the API open.

    ``ciweb.api.auth`` plugs in here.

    :param global_conf: paste's global configuration.
    :param local_conf: the app section's keys.
    :raises ConfigError: naming the bad ``[auth]`` or ``[auth_<name>]`` option.
    """
    from ciweb.api.auth import auth_from_paste

    return auth_from_paste(global_conf)


def build_connections(global_conf: Mapping[str, str], store: Store) -> tuple[Connection, ...]:
    """Return the connections of the ``[connection <name>]`` groups of ciweb.conf.

    ``ciweb.api.connections`` plugs in here; the drivers come from the ``ciweb.connections``
    entry point group.

    :param global_conf: paste's global configuration; ``config_file`` names ciweb.conf.
    :param store: the store the connections record webhook events into.
    :raises ConfigError: naming the bad section or option.
    """
    from ciweb.api.connections import connections_from_config_files

    return connections_from_config_files(config_files(global_conf), store=store)


def build_write_controllers(context: ApiContext) -> WriteControllers | None:
    """Return the reporting and admin controllers; None serves the read API only.

    ``ciweb.api.controllers.admin`` plugs in here.

    :param context: the API context.
    """
    from ciweb.api.controllers.admin import make_write_controllers

    return make_write_controllers(context)


def app_factory(global_conf: Mapping[str, str], **local_conf: str) -> ApiApplication:
    """Build the API application from its ``[app:...]`` section.

    :param global_conf: paste's ``[DEFAULT]`` values; ``config_file`` names ciweb.conf.
    :param local_conf: ``tenant`` pins a whitelabel deployment to one tenant; any
        ``[database]`` option (``connection``, ``state_dir``...) overrides ciweb.conf.
    :raises ConfigError: on an unknown key, a bad value, an unreachable database or one
        whose schema is not at the head revision ("run `ciweb-manage db upgrade`").
    """
    unknown = set(local_conf) - _APP_KEYS - _DATABASE_KEYS
    if unknown:
        raise ConfigError(f"[app] unknown option(s): {', '.join(sorted(unknown))}")
    tenant = local_conf.get("tenant", "").strip() or None
    database = paste_options(
        global_conf,
        {k: v for k, v in local_conf.items() if k in _DATABASE_KEYS},
        database_conf.GROUP,
        database_conf.OPTS,
    )
    store = make_store(database)
    _check_migrated(store)
    context = ApiContext(
        store=store,
        tenant=tenant,
        database=types.MappingProxyType(dict(database)),
        global_conf=types.MappingProxyType(dict(global_conf)),
        auth=build_auth(global_conf, local_conf),
        connections=build_connections(global_conf, store),
    )
    try:
        document = openapi.dump_document(openapi.load_document())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"OpenAPI document: {exc}") from None
    read = ReadControllers.build(context, openapi_document=document)
    router = Router(make_mapper(read, tenant=tenant, write=build_write_controllers(context)))
    LOG.info(
        "API on %s%s%s",
        store.engine.url.render_as_string(hide_password=True),
        f", whitelabel tenant {tenant}" if tenant else "",
        "".join(f", connection {c.name} ({c.driver})" for c in context.connections),
    )
    return ApiApplication(router, context)
