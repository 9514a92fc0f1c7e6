"""``freeze-jobs``, ``freeze-job/{job}`` and ``project/{p}/freeze-pipeline``: job graphs.

The dashboard's job graph (the project page with a pipeline and a branch), its freeze-job
page, zuul-client ``job-graph`` and ``freeze-job``, and the enqueue form's pipeline
parameters read these.  ciweb serves the graphs the CI system reported
(:mod:`ciweb.ci.job_graphs`); paths take project and branch names with slashes, as Zuul's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ciweb.api.controllers.base import ApiController
from ciweb.api.controllers.reporting import parse_object
from ciweb.ci import job_graphs

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["FreezeController"]


class FreezeController(ApiController):
    """Serve reported job graphs and frozen jobs, and a project's pipeline parameters."""

    def freeze_jobs(
        self, req: Request, tenant: str, pipeline: str, project: str, branch: str
    ) -> list[dict[str, Any]]:
        """Return ``[{name, dependencies: [{name, soft}]}]`` of the reported graph."""
        self.context.authorize_read(req, tenant)
        return job_graphs.freeze_jobs(self.context.store, tenant, pipeline, project, branch)

    def freeze_job(
        self, req: Request, tenant: str, pipeline: str, project: str, branch: str, job: str
    ) -> dict[str, Any]:
        """Return the frozen parameters of one job of the graph (job, nodeset, vars...)."""
        self.context.authorize_read(req, tenant)
        return job_graphs.freeze_job(self.context.store, tenant, pipeline, project, branch, job)

    def freeze_pipeline(self, req: Request, tenant: str, project: str) -> dict[str, Any]:
        """Return ``{parameters: [...]}`` of the project in ``{pipeline, ref}`` (a POST, as
        zuul-web's, but a read: it needs only the read right)."""
        self.context.authorize_read(req, tenant)
        body = parse_object(req)
        return job_graphs.freeze_pipeline(self.context.store, tenant, project, body)
