"""The route table of the API, all of it, in one place.

Paths, names and greedy parameters are Zuul's (reference/zuul-api.md §1): tenant routes live
under ``/api/tenant/{tenant}/``; ``{project}`` takes slashes (``org/project``); routes are
tried in order, so ``project/{project}/autohold`` comes before ``project/{project}``.  A
whitelabel deployment (``tenant = name`` in the app section) also answers every tenant route
without the ``tenant/{tenant}/`` prefix, as zuul-client and the dashboard then ask.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import routes

from ciweb.api.connections import PATH_PREFIX as CONNECTION_PREFIX
from ciweb.api.controllers.autoholds import AutoholdsController
from ciweb.api.controllers.builds import BuildsController
from ciweb.api.controllers.buildsets import BuildsetsController
from ciweb.api.controllers.config_errors import ConfigErrorsController
from ciweb.api.controllers.connections import ConnectionsController
from ciweb.api.controllers.freeze import FreezeController
from ciweb.api.controllers.info import IndexController, InfoController
from ciweb.api.controllers.jobs import JobsController
from ciweb.api.controllers.keys import KeysController
from ciweb.api.controllers.openapi import OpenApiController
from ciweb.api.controllers.pipelines import PipelinesController
from ciweb.api.controllers.projects import ProjectsController
from ciweb.api.controllers.resources import ResourcesController
from ciweb.api.controllers.status import StatusController
from ciweb.api.controllers.tenants import TenantsController
from ciweb.ci.documents import LIST_KINDS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ciweb.api.connections import Connection
    from ciweb.api.context import ApiContext
    from ciweb.api.controllers.admin import WriteControllers

__all__ = [
    "ROOT_ROUTES",
    "TENANT_POST_ROUTES",
    "TENANT_PREFIX",
    "TENANT_ROUTES",
    "ReadControllers",
    "connect_connection_routes",
    "connect_tenant_route",
    "connect_write_routes",
    "make_mapper",
    "route_map",
]

GET = {"method": ["GET"]}
TENANT_PREFIX = "/api/tenant/{tenant}/"

# (route name, path, controller field of ReadControllers, action)
ROOT_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("info", "/api/info", "info", "info"),
    ("openapi", "/api/openapi.yaml", "openapi", "openapi"),
    ("tenants", "/api/tenants", "tenants", "tenants"),
    ("connections", "/api/connections", "connections", "connections"),
    ("components", "/api/components", "resources", "components"),
)

# (route name, path after TENANT_PREFIX, controller field, action); order matters.
TENANT_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("tenant_info", "info", "info", "tenant_info"),
    ("tenant_status", "tenant-status", "tenants", "tenant_status"),
    ("status", "status", "status", "status"),
    ("status_change", "status/change/{change}", "status", "status_change"),
    ("jobs", "jobs", "jobs", "jobs"),
    ("job", "job/{job_name:.+}", "jobs", "job"),
    ("projects", "projects", "projects", "projects"),
    ("autohold", "project/{project:.+}/autohold", "autoholds", "project_autoholds"),
    ("project", "project/{project:.+}", "projects", "project"),
    ("pipelines", "pipelines", "pipelines", "pipelines"),
    ("key", "key/{project:.+}.pub", "keys", "key"),
    ("project_ssh_key", "project-ssh-key/{project:.+}.pub", "keys", "ssh_key"),
    ("badge", "badge", "builds", "badge"),
    ("builds", "builds", "builds", "builds"),
    ("build", "build/{uuid}", "builds", "build"),
    ("build_times", "build-times", "builds", "build_times"),
    ("buildsets", "buildsets", "buildsets", "buildsets"),
    ("buildset", "buildset/{uuid}", "buildsets", "buildset"),
    ("config_errors", "config-errors", "config_errors", "config_errors"),
    ("autohold_list", "autohold", "autoholds", "autoholds"),
    ("autohold_by_request_id", "autohold/{hold_id}", "autoholds", "autohold"),
    ("labels", "labels", "resources", "labels"),
    ("nodes", "nodes", "resources", "nodes"),
    ("semaphores", "semaphores", "resources", "semaphores"),
    ("system_events", "system-events", "resources", "system_events"),
    ("nodeset_requests", "nodeset-requests", "resources", "nodeset_requests"),
    ("providers", "providers", "resources", "providers"),
    ("images", "images", "resources", "images"),
    ("flavors", "flavors", "resources", "flavors"),
    ("tenant_ssh_key", "tenant-ssh-key/ssh.pub", "resources", "tenant_ssh_key"),
    (
        "project_freeze_jobs",
        "pipeline/{pipeline}/project/{project:.+}/branch/{branch:.+}/freeze-jobs",
        "freeze",
        "freeze_jobs",
    ),
    (
        "project_freeze_job",
        "pipeline/{pipeline}/project/{project:.+}/branch/{branch:.+}/freeze-job/{job}",
        "freeze",
        "freeze_job",
    ),
)
# (route name, path after TENANT_PREFIX, controller field, action): reads that are POSTs.
TENANT_POST_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    (
        "project_freeze_pipeline",
        "project/{project:.+}/freeze-pipeline",
        "freeze",
        "freeze_pipeline",
    ),
)


@dataclasses.dataclass(frozen=True)
class ReadControllers:
    """One instance of each read controller, sharing one :class:`ApiContext`."""

    info: InfoController
    openapi: OpenApiController
    tenants: TenantsController
    connections: ConnectionsController
    status: StatusController
    builds: BuildsController
    buildsets: BuildsetsController
    jobs: JobsController
    projects: ProjectsController
    pipelines: PipelinesController
    config_errors: ConfigErrorsController
    keys: KeysController
    autoholds: AutoholdsController
    resources: ResourcesController
    freeze: FreezeController

    @classmethod
    def build(cls, context: ApiContext, *, openapi_document: bytes) -> ReadControllers:
        """Return the read controllers of *context*.

        :param context: the API context.
        :param openapi_document: the YAML served at ``/api/openapi.yaml``.
        """
        return cls(
            info=InfoController(context),
            openapi=OpenApiController(context, document=openapi_document),
            tenants=TenantsController(context),
            connections=ConnectionsController(context),
            status=StatusController(context),
            builds=BuildsController(context),
            buildsets=BuildsetsController(context),
            jobs=JobsController(context),
            projects=ProjectsController(context),
            pipelines=PipelinesController(context),
            config_errors=ConfigErrorsController(context),
            keys=KeysController(context),
            autoholds=AutoholdsController(context),
            resources=ResourcesController(context),
            freeze=FreezeController(context),
        )


def connect_tenant_route(
    mapper: routes.Mapper,
    name: str,
    suffix: str,
    *,
    controller: Any,
    action: str,
    methods: list[str],
    whitelabel: str | None = None,
) -> None:
    """Connect ``/api/tenant/{tenant}/<suffix>``, and ``/api/<suffix>`` when whitelabel.

    The whitelabel form passes ``tenant=<whitelabel>`` to the action and has no name, so
    the route map at ``/api`` lists each route once.

    :param mapper: the mapper.
    :param name: the route name (a key of the ``/api`` route map).
    :param suffix: the path after the tenant prefix, e.g. ``builds``.
    :param controller: the controller instance.
    :param action: its method name.
    :param methods: the HTTP methods of the route.
    :param whitelabel: the pinned tenant, or None.
    """
    conditions = {"method": methods}
    mapper.connect(
        name, TENANT_PREFIX + suffix, controller=controller, action=action, conditions=conditions
    )
    if whitelabel is not None:
        path = "/api/" + suffix
        if any(path == root_path for _n, root_path, _c, _a in ROOT_ROUTES):
            return  # /api/info: the root info carries info.tenant already
        mapper.connect(
            path, controller=controller, action=action, tenant=whitelabel, conditions=conditions
        )


def route_map(mapper: routes.Mapper) -> dict[str, str]:
    """Return route name -> path template of every named route of *mapper*.

    :param mapper: a mapper built by :func:`make_mapper`.
    """
    return {r.name: r.routepath for r in mapper.matchlist if r.name}


def make_mapper(
    read: ReadControllers,
    *,
    tenant: str | None = None,
    write: WriteControllers | None = None,
) -> routes.Mapper:
    """Return the mapper of every API route.

    :param read: the read controllers.
    :param tenant: the whitelabel tenant, if the deployment is pinned to one.
    :param write: the reporting and admin controllers, if any.
    """
    mapper = routes.Mapper()
    mapper.explicit = True
    mapper.minimization = False
    for name, path, field, action in ROOT_ROUTES:
        controller = getattr(read, field)
        mapper.connect(name, path, controller=controller, action=action, conditions=GET)
    for routes_, methods in ((TENANT_ROUTES, ["GET"]), (TENANT_POST_ROUTES, ["POST"])):
        for name, suffix, field, action in routes_:
            connect_tenant_route(
                mapper,
                name,
                suffix,
                controller=getattr(read, field),
                action=action,
                methods=methods,
                whitelabel=tenant,
            )
    connect_write_routes(mapper, write)
    connect_connection_routes(mapper, read.connections.context.connections)
    index = IndexController(read.info.context, route_map=route_map(mapper))
    mapper.connect("index", "/api", controller=index, action="index", conditions=GET)
    return mapper


def connect_write_routes(mapper: routes.Mapper, controllers: WriteControllers | None) -> None:
    """Connect the reporting and admin routes (see ciweb/api/controllers/admin.py).

    Zuul's admin routes live under the tenant prefix (and without it when whitelabel);
    ``/api/authorizations`` is the root form, or the whitelabel tenant's.  ciweb's reporting
    routes name the tenant, ``/api/report/tenant/{tenant}/...``, except the API root's
    components and connections (``/api/report/components``, ``/api/report/connections``).

    :param mapper: the mapper.
    :param controllers: the write controllers; None connects nothing.
    """
    if controllers is None:
        return
    admin, reporting, whitelabel = controllers.admin, controllers.reporting, controllers.tenant
    # zuul-web connects these only when an authenticator is configured ("if no auth
    # configured, deactivate admin routes"): without one they are unknown paths here too.
    routes_ = _AUTH_ROUTES + _ADMIN_ROUTES if controllers.include_auth else _ADMIN_ROUTES
    for name, suffix, action, method in routes_:
        connect_tenant_route(
            mapper,
            name,
            suffix,
            controller=admin,
            action=action,
            methods=[method],
            whitelabel=whitelabel,
        )
    if whitelabel is None and controllers.include_auth:
        mapper.connect(
            "authorizations",
            "/api/authorizations",
            controller=admin,
            action="root_authorizations",
            conditions=GET,
        )
    for name, suffix, action, method in _REPORT_ROUTES:
        mapper.connect(
            name,
            _REPORT_PREFIX + suffix,
            controller=reporting,
            action=action,
            conditions={"method": [method]},
        )
    for name, suffix, action, method in _CONNECTION_REPORT_ROUTES:
        mapper.connect(
            name,
            _CONNECTION_REPORT_PREFIX + suffix,
            controller=controllers.connection_events,
            action=action,
            conditions={"method": [method]},
        )

    for kind in LIST_KINDS:
        mapper.connect(
            f"report_{kind.replace('-', '_')}",
            f"{_REPORT_PREFIX}/{kind}",
            controller=controllers.documents,
            action="put_list",
            kind=kind,
            conditions={"method": ["PUT"]},
        )
    for name, path, action, method in _REPORT_DOCUMENT_ROUTES:
        mapper.connect(
            name,
            path,
            controller=controllers.documents,
            action=action,
            conditions={"method": [method]},
        )


def connect_connection_routes(mapper: routes.Mapper, connections: Sequence[Connection]) -> None:
    """Connect each connection's own routes under ``/api/connection/<name>/``, as zuul-web
    mounts a driver's web controller (``/api/connection/github/payload``).

    The routes have no name: ``/api`` lists them no more than zuul-web's does.  A path under
    an unknown connection matches nothing and is a 404.

    :param mapper: the mapper.
    :param connections: the configured connections.
    """
    for connection in connections:
        for route in connection.web_routes():
            mapper.connect(
                f"{CONNECTION_PREFIX}{connection.name}/{route.path}",
                controller=route.controller,
                action=route.action,
                conditions={"method": list(route.methods)},
            )


# (route name, path after TENANT_PREFIX, AdminController action, method): Zuul's admin API
# routes that exist only when authenticators are configured...
_AUTH_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("project_enqueue", "project/{project:.+}/enqueue", "enqueue", "POST"),
    ("project_dequeue", "project/{project:.+}/dequeue", "dequeue", "POST"),
    ("project_autohold_create", "project/{project:.+}/autohold", "create_autohold", "POST"),
    ("promote", "promote", "promote", "POST"),
    ("tenant_state", "state", "set_state", "POST"),
    ("tenant_authorizations", "authorizations", "authorizations", "GET"),
)
# ...and those zuul-web always connects (without a token they answer 401).
_ADMIN_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("autohold_delete", "autohold/{hold_id}", "delete_autohold", "DELETE"),
    ("node_set_state", "nodes/{node_id}", "set_node_state", "PUT"),
    ("nodeset_request_delete", "nodeset-requests/{request_id}", "delete_nodeset_request", "DELETE"),
)
_REPORT_PREFIX = "/api/report/tenant/{tenant}"
# (route name, path after _REPORT_PREFIX, ReportingController action, method).
_REPORT_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("report_tenant", "", "put_tenant", "PUT"),
    ("report_project", "/projects/{name:.+}", "put_project", "PUT"),
    ("report_pipeline", "/pipelines/{name}", "put_pipeline", "PUT"),
    ("report_job", "/jobs/{name:.+}", "put_job", "PUT"),
    ("report_buildsets", "/buildsets", "create_buildset", "POST"),
    ("report_buildset", "/buildsets/{uuid}", "update_buildset", "PATCH"),
    ("report_buildset_events", "/buildsets/{uuid}/events", "add_buildset_event", "POST"),
    ("report_buildset_builds", "/buildsets/{uuid}/builds", "create_build", "POST"),
    ("report_build", "/builds/{uuid}", "update_build", "PATCH"),
    ("report_build_console", "/builds/{uuid}/console", "append_console", "POST"),
    ("report_status", "/status", "put_status", "PUT"),
    ("report_config_errors", "/config-errors", "put_config_errors", "PUT"),
    ("report_events", "/events", "list_events", "GET"),
    ("report_event_ack", "/events/{event_id}/ack", "ack_event", "POST"),
)
_CONNECTION_REPORT_PREFIX = "/api/report/connection/{connection}"
# (route name, path after _CONNECTION_REPORT_PREFIX, ConnectionEventsController action, method)
_CONNECTION_REPORT_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("report_connection_events", "/events", "list_events", "GET"),
    ("report_connection_event_ack", "/events/{event_id}/ack", "ack_event", "POST"),
)
# (route name, path, ReportDocumentsController action, method); the lists are put_list.
_REPORT_DOCUMENT_ROUTES: tuple[tuple[str, str, str, str], ...] = (
    ("report_system_events", _REPORT_PREFIX + "/system-events", "add_system_events", "POST"),
    ("report_tenant_ssh_key", _REPORT_PREFIX + "/tenant-ssh-key", "put_tenant_ssh_key", "PUT"),
    ("report_job_graphs", _REPORT_PREFIX + "/job-graphs", "put_job_graph", "PUT"),
    ("report_components", "/api/report/components", "put_components", "PUT"),
    ("report_connections", "/api/report/connections", "put_connections", "PUT"),
)
