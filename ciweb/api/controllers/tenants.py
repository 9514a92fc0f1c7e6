"""``/api/tenants`` and ``/api/tenant/{t}/tenant-status``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.base import ApiController
from ciweb.ci import queries

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["TenantsController"]


class TenantsController(ApiController):
    """Serve the tenant list and each tenant's configuration-error count."""

    def tenants(self, req: Request) -> list[dict[str, Any]]:
        """Return ``[{"name": ...}]`` sorted by name: the tenants the caller may read."""
        self.context.authorize_read(req, None)
        tenants = queries.tenants(self.context.store)
        readable = frozenset(self.context.readable_tenants(req, [t["name"] for t in tenants]))
        return [t for t in tenants if t["name"] in readable]

    def tenant_status(self, req: Request, tenant: str) -> dict[str, Any]:
        """Return ``{"config_error_count": n}`` (the dashboard's config-error badge)."""
        self.context.authorize_read(req, tenant)
        return queries.tenant_status(self.context.store, tenant)
