"""``buildsets`` and ``buildset/{uuid}``: the buildset history, newest first.

The list carries ``X-Total-Count`` like ``builds``: exact up to ``skip`` + 10,000 matches, then
that number with ``X-Total-Count-Capped: true`` (see :mod:`ciweb.api.controllers.builds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import webob

from ciweb.api.controllers.base import ApiController
from ciweb.api.controllers.builds import TOTAL_COUNT_CAP, page_response
from ciweb.ci import history
from ciweb.ci.filters import BUILDSET_PARAMS, HistoryFilter

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["BuildsetsController"]


class BuildsetsController(ApiController):
    """Serve buildsets and one buildset with its builds and events."""

    def buildsets(self, req: Request, tenant: str) -> webob.Response:
        """Return the buildsets matching the query, newest first, with ``X-Total-Count``
        (capped)."""
        self.context.authorize_read(req, tenant)
        f = HistoryFilter.from_params(req.GET.dict_of_lists(), BUILDSET_PARAMS)
        return page_response(
            history.buildsets_page(self.context.store, tenant, f, cap=TOTAL_COUNT_CAP)
        )

    def buildset(self, req: Request, tenant: str, uuid: str) -> dict[str, Any]:
        """Return one buildset with ``builds`` and ``events``; 404 "Buildset not found"."""
        self.context.authorize_read(req, tenant)
        return history.buildset(self.context.store, tenant, uuid)
