"""``pipelines``: the pipelines of a tenant and their triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.base import ApiController
from ciweb.ci import queries

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["PipelinesController"]


class PipelinesController(ApiController):
    """Serve the pipeline list."""

    def pipelines(self, req: Request, tenant: str) -> list[dict[str, Any]]:
        """Return ``[{name, triggers[{name, driver}]}]``."""
        self.context.authorize_read(req, tenant)
        return queries.pipelines(self.context.store, tenant)
