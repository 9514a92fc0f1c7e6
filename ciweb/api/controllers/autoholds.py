"""``autohold``, ``autohold/{id}`` and ``project/{project}/autohold`` (GET): hold requests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import webob
import webob.exc

from ciweb.api.controllers.base import ApiController, json_response
from ciweb.ci import queries, validate

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["AutoholdsController"]


class AutoholdsController(ApiController):
    """Serve the autohold requests of a tenant."""

    def autoholds(self, req: Request, tenant: str) -> webob.Response:
        """Return the requests, ``?project=`` keeping those whose project ends with it.

        Zuul's handler takes any parameter (``**kwargs``); so does this one.
        """
        self.context.authorize_read(req, tenant)
        project = validate.param_scalar(req.GET.dict_of_lists(), "project")
        rows = queries.autoholds(self.context.store, tenant, project or None)
        return json_response(rows, total=len(rows))

    def autohold(self, req: Request, tenant: str, hold_id: str) -> dict[str, Any]:
        """Return one request; 404 "Hold request N not found." also for another tenant's."""
        self.context.authorize_read(req, tenant)
        return queries.autohold(self.context.store, tenant, hold_id)

    def project_autoholds(self, req: Request, tenant: str, project: str) -> webob.Response:
        """Return the requests of one project (short or canonical name)."""
        self.context.authorize_read(req, tenant)
        found = queries.project(self.context.store, tenant, project)
        rows = [
            hold
            for hold in queries.autoholds(self.context.store, tenant, found["canonical_name"])
            if hold["project"] == found["canonical_name"]
        ]
        return json_response(rows, total=len(rows))
