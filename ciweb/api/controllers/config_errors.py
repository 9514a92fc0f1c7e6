"""``config-errors``: the configuration errors of a tenant, filtered and paged.

The answer carries ``X-Total-Count``.  A tenant has few configuration errors (they are
replaced as a whole on each reconfiguration), so when the page does not tell the total it is
the length of the unpaged filtered list, or ``tenant-status``'s count without filters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import webob

from ciweb.api.controllers.base import ApiController, json_response, page_total
from ciweb.ci import queries, validate

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["ConfigErrorsController"]

_PAGING = frozenset({"limit", "skip"})
# The "no limit" of the unpaged recount: larger than any tenant's error count.
_ALL = str(2**31 - 1)


class ConfigErrorsController(ApiController):
    """Serve the configuration errors."""

    def config_errors(self, req: Request, tenant: str) -> webob.Response:
        """Return ``[{source_context, error, short_error, severity, name}]`` and the total."""
        self.context.authorize_read(req, tenant)
        store = self.context.store
        params = req.GET.dict_of_lists()
        rows = queries.config_errors(store, tenant, params)
        limit = validate.param_int(params, "limit", 50) or 0
        skip = validate.param_int(params, "skip", 0) or 0
        filters = {k: v for k, v in params.items() if k not in _PAGING}

        def recount() -> int:
            if not filters:
                return int(queries.tenant_status(store, tenant)["config_error_count"])
            return len(queries.config_errors(store, tenant, {**filters, "limit": _ALL}))

        return json_response(rows, total=page_total(len(rows), skip, limit, recount))
