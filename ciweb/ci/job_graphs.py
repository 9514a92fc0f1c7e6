"""Job graphs and frozen jobs, as the CI system froze them, for Zuul's freeze-jobs,
freeze-job and freeze-pipeline.

zuul-web freezes a job graph on demand from its layout; ciweb does not compute job graphs.
The CI system reports the graph a change to a project on a branch would run in a pipeline,
each job with its dependencies and, optionally, its frozen parameters (secrets redacted);
ciweb checks that the pipeline and the project exist, that every dependency names a job of
the graph and that they make no cycle, and stores one document per (pipeline, project,
branch).  Reads take the project by short or canonical name, as Zuul does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ciweb.ci import shapes
from ciweb.ci.errors import NotFound, ValidationError
from ciweb.ci.models import Pipeline, Project, ReportedDocument
from ciweb.ci.queries import find_project
from ciweb.ci.store import Store, tenant_id, utcnow

__all__ = ["freeze_job", "freeze_jobs", "freeze_pipeline", "put_job_graph"]

_KIND = "job-graph"


def _key(pipeline: str, project: str, branch: str) -> str:
    # A JSON array: unambiguous whatever slashes the project and branch names hold.
    return json.dumps([pipeline, project, branch], separators=(",", ":"))


def _pipeline_exists(session: Session, tid: int, name: str) -> bool:
    found = session.scalar(
        select(Pipeline.id).where(Pipeline.tenant_id == tid, Pipeline.name == name)
    )
    return found is not None


def _check_graph(jobs: list[dict[str, Any]]) -> None:
    """Raise unless job names are unique, dependencies name jobs of the graph, no cycle."""
    names: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if job["name"] in names:
            raise ValidationError(f"jobs[{index}].name", "appears twice in the graph")
        names[job["name"]] = index
        frozen = job.get("frozen")
        if frozen is not None and frozen["job"] != job["name"]:
            raise ValidationError(f"jobs[{index}].frozen.job", "must be the job's name")
    for index, job in enumerate(jobs):
        for dep_index, dep in enumerate(job["dependencies"]):
            if dep["name"] not in names:
                field = f"jobs[{index}].dependencies[{dep_index}].name"
                raise ValidationError(field, "is not a job of this graph")
    _check_acyclic(jobs, names)


def _check_acyclic(jobs: list[dict[str, Any]], names: Mapping[str, int]) -> None:
    # A job is placed once every job it depends on is; what is never placed is in a cycle.
    needs = {job["name"]: {d["name"] for d in job["dependencies"]} for job in jobs}
    placed: set[str] = set()
    progress = True
    while progress:
        ready = [name for name, deps in needs.items() if name not in placed and deps <= placed]
        placed.update(ready)
        progress = bool(ready)
    left = [job["name"] for job in jobs if job["name"] not in placed]
    if left:
        raise ValidationError(f"jobs[{names[left[0]]}].dependencies", "make a cycle")


def put_job_graph(store: Store, tenant: str, data: Any) -> dict[str, Any]:
    """Store the job graph of a (pipeline, project, branch), replacing the one reported.

    :param data: ``{pipeline, project, branch, jobs: [{name, dependencies: [{name, soft}],
        frozen?}]}``; the project by short or canonical name.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming the bad field ("pipeline": Unknown pipeline, "project":
        Unknown project, a dependency that is not a job of the graph, a cycle...).
    :return: ``{pipeline, project, branch, jobs}`` with the canonical project name.
    """
    graph = shapes.normalize("JobGraphReport", data, "")
    _check_graph(graph["jobs"])
    with store.transaction() as session:
        tid = tenant_id(session, tenant)
        if not _pipeline_exists(session, tid, graph["pipeline"]):
            raise ValidationError("pipeline", "Unknown pipeline")
        try:
            project = find_project(session, tid, graph["project"]).canonical_name
        except NotFound:
            raise ValidationError("project", "Unknown project") from None
        graph["project"] = project
        key = _key(graph["pipeline"], project, graph["branch"])
        row = session.scalar(
            select(ReportedDocument).where(
                ReportedDocument.tenant_id == tid,
                ReportedDocument.kind == _KIND,
                ReportedDocument.key == key,
            )
        )
        if row is None:
            row = ReportedDocument(tenant_id=tid, kind=_KIND, key=key, position=0)
            session.add(row)
        row.body, row.updated = graph, utcnow()
    return {k: graph[k] for k in ("pipeline", "project", "branch")} | {"jobs": len(graph["jobs"])}


def _graph(store: Store, tenant: str, pipeline: str, project: str, branch: str) -> Any:
    with store.read() as session:
        tid = tenant_id(session, tenant)
        canonical = find_project(session, tid, project).canonical_name
        if not _pipeline_exists(session, tid, pipeline):
            raise NotFound("Unknown pipeline")
        body = session.scalar(
            select(ReportedDocument.body).where(
                ReportedDocument.tenant_id == tid,
                ReportedDocument.kind == _KIND,
                ReportedDocument.key == _key(pipeline, canonical, branch),
            )
        )
    if body is None:
        raise NotFound(f"No job graph reported for {project} on {branch} in {pipeline}")
    return body


def freeze_jobs(
    store: Store, tenant: str, pipeline: str, project: str, branch: str
) -> list[dict[str, Any]]:
    """Return Zuul's ``freeze-jobs``: ``[{name, dependencies: [{name, soft}]}]``.

    :raises NotFound: "Unknown tenant", "Unknown project", "Unknown pipeline", or when no
        graph was reported for that branch.
    """
    graph = _graph(store, tenant, pipeline, project, branch)
    return [{"name": j["name"], "dependencies": j["dependencies"]} for j in graph["jobs"]]


def freeze_job(
    store: Store, tenant: str, pipeline: str, project: str, branch: str, job: str
) -> dict[str, Any]:
    """Return Zuul's ``freeze-job/{job}``: the frozen job's parameters as reported.

    :raises NotFound: as :func:`freeze_jobs`, "Job not found" for a job outside the graph,
        or when its frozen parameters were not reported.
    """
    for entry in _graph(store, tenant, pipeline, project, branch)["jobs"]:
        if entry["name"] == job:
            if entry.get("frozen") is None:
                raise NotFound(f"No frozen job reported for {job}")
            return dict(entry["frozen"])
    raise NotFound("Job not found")


def freeze_pipeline(store: Store, tenant: str, project: str, data: Any) -> dict[str, Any]:
    """Return Zuul's ``project/{p}/freeze-pipeline``: the pipeline parameters of the project.

    The parameters come from the project's reported configuration (its ``configs``), as
    zuul-web takes them from the project-pipeline configuration.

    :param data: ``{pipeline, ref}`` (both required, as in zuul-web).
    :raises NotFound: "Unknown tenant", "Unknown project" or "Unknown pipeline".
    :raises ValidationError: "pipeline" or "ref" when missing.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("body", "must be a JSON object")
    for key in ("ref", "pipeline"):
        if not isinstance(data.get(key), str):
            raise ValidationError(key, f"{key} is required")
    with store.read() as session:
        tid = tenant_id(session, tenant)
        row: Project = find_project(session, tid, project)
        if not _pipeline_exists(session, tid, data["pipeline"]):
            raise NotFound("Unknown pipeline")
        parameters: list[Any] = []
        for config in row.configs or ():
            for pipeline in config.get("pipelines", ()):
                if pipeline.get("name") == data["pipeline"]:
                    parameters.extend(pipeline.get("parameters") or ())
    return {"parameters": parameters}
