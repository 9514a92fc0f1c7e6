"""The reporting API of resources and job graphs: what zuul-web reads from ZooKeeper and its
component registry, a CI system pushes to ciweb.

Tenant paths (``/api/report/tenant/{tenant}/...``) need the ``report`` right on the tenant;
the API root's components and connections (``/api/report/components``, ``.../connections``)
need it on every tenant (``"report": "*"``).  A list report replaces the whole list of its
kind; a job graph names its pipeline, project and branch in the body, since project and
branch names both hold slashes.  The body is checked against Zuul's shape first: a 400 names
the field and nothing is written (:mod:`ciweb.ci.documents`, :mod:`ciweb.ci.job_graphs`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.reporting import WriteController, parse_json, parse_object
from ciweb.api.tokens import ANY
from ciweb.ci import documents, job_graphs

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["ReportDocumentsController"]

LOG = logging.getLogger(__name__)


class ReportDocumentsController(WriteController):
    """Actions of the resource reports; each needs the ``report`` right."""

    def _begin(self, req: Request, tenant: str) -> None:
        identity = self.authorize(req, tenant, "report")
        LOG.info("report %s %s by %s", req.method, req.path, identity.uid)

    def put_list(self, req: Request, tenant: str, kind: str) -> dict[str, Any]:
        """Replace a list (``PUT .../labels``, ``nodes``, ``semaphores``, ``providers``,
        ``images``, ``flavors``, ``nodeset-requests``); answer ``{"count": n}``.

        :param kind: a key of :data:`ciweb.ci.documents.LIST_KINDS`, fixed by the route.
        """
        self._begin(req, tenant)
        count = documents.replace_list(self.store, tenant, kind, parse_json(req))
        return {"count": count}

    def add_system_events(self, req: Request, tenant: str) -> dict[str, Any]:
        """Record system events (``POST .../system-events``, a list); ``{"count": n}``."""
        self._begin(req, tenant)
        return {"count": documents.add_system_events(self.store, tenant, parse_json(req))}

    def put_tenant_ssh_key(self, req: Request, tenant: str) -> dict[str, Any]:
        """Set the tenant's public SSH key (``PUT .../tenant-ssh-key``, ``{public_key}``)."""
        self._begin(req, tenant)
        return documents.put_tenant_ssh_key(self.store, tenant, parse_object(req))

    def put_job_graph(self, req: Request, tenant: str) -> dict[str, Any]:
        """Store a job graph (``PUT .../job-graphs``, ``{pipeline, project, branch, jobs}``);
        answer where it is and how many jobs it has."""
        self._begin(req, tenant)
        return job_graphs.put_job_graph(self.store, tenant, parse_object(req))

    def put_components(self, req: Request) -> dict[str, Any]:
        """Replace the CI system's components (``PUT /api/report/components``)."""
        self._root(req)
        return documents.put_components(self.store, parse_json(req))

    def put_connections(self, req: Request) -> dict[str, Any]:
        """Replace the CI system's connections (``PUT /api/report/connections``, a list)."""
        self._root(req)
        return {"count": documents.replace_connections(self.store, parse_json(req))}

    def _root(self, req: Request) -> None:
        # The root belongs to no tenant: reporting to it takes the right on every tenant.
        identity = self.authorize(req, ANY, "report")
        LOG.info("report %s %s by %s", req.method, req.path, identity.uid)
