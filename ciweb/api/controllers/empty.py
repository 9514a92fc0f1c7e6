"""Endpoints of Zuul that ciweb holds no data for: they answer an empty list (or object).

Labels, nodes, semaphores, nodeset requests and nodepool-in-zuul providers, images and
flavors belong to the scheduler and launchers; the dashboard still calls them, and an empty
answer renders an empty page where an error would spin forever (reference/zuul-api.md §9).
Tenant-scoped ones still say 404 "Unknown tenant".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.base import ApiController
from ciweb.ci import queries
from ciweb.ci.errors import NotFound

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["EmptyController"]


class EmptyController(ApiController):
    """Answer ``[]`` for a known tenant, ``{}`` at the root."""

    def root_object(self, req: Request) -> dict[str, Any]:
        """Return ``{}`` (``/api/components``: no component registry)."""
        self.context.authorize_read(req, None)
        return {}

    def tenant_list(self, req: Request, tenant: str) -> list[Any]:
        """Return ``[]`` once the tenant is known; 404 "Unknown tenant" otherwise."""
        self.context.authorize_read(req, tenant)
        if not queries.tenant_exists(self.context.store, tenant):
            raise NotFound("Unknown tenant")
        return []
