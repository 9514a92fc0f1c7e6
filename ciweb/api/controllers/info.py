"""``/api``, ``/api/info`` and ``/api/tenant/{t}/info``: what the service offers, in Zuul's shape.

Clients read ``info`` first (zuul-client before every command, the dashboard on every page):
``info.tenant`` switches them to whitelabel paths and ``capabilities.auth`` gives the realms
(reference/zuul-api.md §1, §4).  ``/api/info`` is sent pre-serialised: it is the hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ciweb.api.context import default_auth_capabilities
from ciweb.api.controllers.base import ApiController
from ciweb.ci import documents, queries
from ciweb.wsgi.router import json_body

if TYPE_CHECKING:
    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = ["IndexController", "InfoController", "info_document"]


def info_document(
    *, tenant: str | None = None, auth: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the ``info`` document as Zuul's ``/api/info`` gives it.

    :param tenant: set ``info.tenant``: the whitelabel tenant, or the tenant of
        ``/api/tenant/{t}/info``; clients then drop the ``tenant/{t}/`` prefix.
    :param auth: ``capabilities.auth``; the open deployment's when None.
    """
    info: dict[str, Any] = {
        "capabilities": {
            "job_history": True,
            "auth": dict(auth) if auth is not None else default_auth_capabilities(),
        },
        "websocket_url": None,
        "stats": {"url": None, "prefix": None, "type": "graphite"},
    }
    if tenant is not None:
        info["tenant"] = tenant
    return {"info": info}


class IndexController(ApiController):
    """Serve ``GET /api``: the map of route names to path templates, as Zuul's index."""

    def __init__(self, context: ApiContext, *, route_map: Mapping[str, str]) -> None:
        """Build the controller.

        :param context: the API context.
        :param route_map: route name -> path template.
        """
        super().__init__(context)
        self._body = json_body(dict(route_map))

    def index(self, req: Request) -> bytes:
        """Return the pre-serialised route map."""
        self.context.authorize_read(req, None)
        return self._body


class InfoController(ApiController):
    """Serve the root info (serialised once) and the tenant info."""

    def __init__(self, context: ApiContext) -> None:
        """Build the controller.

        :param context: the API context; ``context.tenant`` pins a whitelabel deployment.
        """
        super().__init__(context)
        pinned = context.tenant
        self._body = json_body(info_document(tenant=pinned, auth=context.auth_capabilities(pinned)))

    def info(self, req: Request) -> bytes:
        """Return the pre-serialised info document; never needs authentication."""
        return self._body

    def tenant_info(self, req: Request, tenant: str) -> dict[str, Any]:
        """Return the info of *tenant*: 200 even for an unknown tenant, as Zuul does.

        A known tenant gets its own ``auth`` capabilities and ``auth.niz``, true once the CI
        system reported nodepool-in-zuul providers (the dashboard then shows the Providers,
        Images, Flavors and Requests pages); an unknown one gets the root's.
        """
        if queries.tenant_exists(self.context.store, tenant):
            auth = dict(self.context.auth_capabilities(tenant))
            auth["niz"] = documents.has_documents(self.context.store, tenant, "providers")
        else:
            auth = self.context.auth_capabilities(None)
        return info_document(tenant=tenant, auth=auth)
