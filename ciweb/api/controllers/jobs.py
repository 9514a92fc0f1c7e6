"""``jobs`` and ``job/{name}``: the job definitions of a tenant."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.base import ApiController
from ciweb.ci import queries

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["JobsController"]


class JobsController(ApiController):
    """Serve the job list and the variants of one job."""

    def jobs(self, req: Request, tenant: str) -> list[dict[str, Any]]:
        """Return ``[{name, description?, tags?, variants?}]``; empty keys left out."""
        self.context.authorize_read(req, tenant)
        return queries.jobs(self.context.store, tenant)

    def job(self, req: Request, tenant: str, job_name: str) -> list[dict[str, Any]]:
        """Return the variants of one job; 404 "Job not found".

        The name is decoded with ``unquote_plus`` as Zuul does, so ``a%40b%2Fc`` is
        ``a@b/c`` whether or not the server decoded the path already.
        """
        self.context.authorize_read(req, tenant)
        name = urllib.parse.unquote_plus(job_name)
        return queries.job(self.context.store, tenant, name)
