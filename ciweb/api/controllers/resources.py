"""What the CI system reports about its resources, served as zuul-web serves it: labels, nodes,
semaphores, nodeset requests, nodepool-in-zuul providers, images and flavors, system events,
the tenant SSH key, and the API root's components and connections.

zuul-web reads these from ZooKeeper and its component registry; ciweb serves the documents a
CI system reported through ``/api/report/...`` (:mod:`ciweb.ci.documents`), in the order
reported, or an empty list before the first report.  Tenant paths say 404 "Unknown tenant"
for a tenant that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import webob

from ciweb.api.controllers.base import ApiController, json_response
from ciweb.ci import documents

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["ResourcesController"]


class ResourcesController(ApiController):
    """Serve the reported documents of a tenant, and those of the API root."""

    def _list(self, req: Request, tenant: str, kind: str) -> webob.Response:
        self.context.authorize_read(req, tenant)
        rows = documents.list_documents(self.context.store, tenant, kind)
        return json_response(rows, total=len(rows))

    def labels(self, req: Request, tenant: str) -> webob.Response:
        """Return the labels: ``[{name}]`` or ``[{name, canonical_name, description}]``."""
        return self._list(req, tenant, "labels")

    def nodes(self, req: Request, tenant: str) -> webob.Response:
        """Return the nodes (``id, uuid, type, label, state, state_time, provider...``)."""
        return self._list(req, tenant, "nodes")

    def semaphores(self, req: Request, tenant: str) -> webob.Response:
        """Return the semaphores: ``[{name, global, max, holders}]``."""
        return self._list(req, tenant, "semaphores")

    def nodeset_requests(self, req: Request, tenant: str) -> webob.Response:
        """Return the nodeset requests (``uuid, state, labels, request_time...``)."""
        return self._list(req, tenant, "nodeset-requests")

    def providers(self, req: Request, tenant: str) -> webob.Response:
        """Return the nodepool-in-zuul providers with their images, labels and flavors."""
        return self._list(req, tenant, "providers")

    def images(self, req: Request, tenant: str) -> webob.Response:
        """Return the nodepool-in-zuul images with their build artifacts."""
        return self._list(req, tenant, "images")

    def flavors(self, req: Request, tenant: str) -> webob.Response:
        """Return the nodepool-in-zuul flavors: ``[{name, canonical_name, description}]``."""
        return self._list(req, tenant, "flavors")

    def system_events(self, req: Request, tenant: str) -> webob.Response:
        """Return the tenant's system events, newest first (``event_type``, ``idx_min``,
        ``idx_max``, ``limit``, ``skip``)."""
        self.context.authorize_read(req, tenant)
        rows = documents.system_events(self.context.store, tenant, req.GET.dict_of_lists())
        return json_response(rows)

    def tenant_ssh_key(self, req: Request, tenant: str) -> webob.Response:
        """Return the tenant's public SSH key as ``text/plain``, as zuul-web does."""
        self.context.authorize_read(req, tenant)
        key = documents.tenant_ssh_key(self.context.store, tenant)
        response = webob.Response(body=key.encode("ascii"), charset=None)
        response.headers["Content-Type"] = "text/plain"
        return response

    def components(self, req: Request) -> dict[str, Any]:
        """Return ``/api/components``: ``{kind: [{hostname, state, version}]}``."""
        self.context.authorize_read(req, None)
        return documents.components(self.context.store)
