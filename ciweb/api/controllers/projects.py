"""``projects`` and ``project/{project}`` (short or canonical name, slashes allowed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.base import ApiController
from ciweb.ci import queries

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["ProjectsController"]


class ProjectsController(ApiController):
    """Serve the project list and one project's configuration."""

    def projects(self, req: Request, tenant: str) -> list[dict[str, Any]]:
        """Return ``[{name, connection_name, canonical_name, type}]`` sorted by name."""
        self.context.authorize_read(req, tenant)
        return queries.projects(self.context.store, tenant)

    def project(self, req: Request, tenant: str, project: str) -> dict[str, Any]:
        """Return one project with ``metadata`` and ``configs``; 404 "Unknown project"."""
        self.context.authorize_read(req, tenant)
        return queries.project(self.context.store, tenant, project)
