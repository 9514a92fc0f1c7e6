"""Turn rows into the plain dicts of Zuul's REST API, key for key (reference/zuul-api.md §1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from ciweb.ci import models

# Zuul's _datetimeToString: UTC, seconds precision, no zone designator.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def fmt_time(value: dt.datetime | None) -> str | None:
    """Return *value* as ``YYYY-MM-DDTHH:MM:SS`` (UTC, no zone), or None."""
    return value.strftime(TIME_FORMAT) if value is not None else None


def duration(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    """Return the seconds between *start* and *end* as a float, or None if one is missing."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def ref_to_dict(ref: models.Ref) -> dict[str, Any]:
    """Return a ref as Zuul's ``RefConverter`` does."""
    return {
        "project": ref.project,
        "branch": ref.branch,
        "change": ref.change,
        "patchset": ref.patchset,
        "ref": ref.ref,
        "oldrev": ref.oldrev,
        "newrev": ref.newrev,
        "ref_url": ref.ref_url,
    }


def build_to_dict(
    build: models.Build,
    ref: models.Ref,
    buildset: models.Buildset | None = None,
    buildset_refs: Sequence[models.Ref] | None = None,
) -> dict[str, Any]:
    """Return a build as Zuul's ``BuildConverter`` does.

    :param build: the build row.
    :param ref: its ref.
    :param buildset: given for top-level builds (``builds``, ``build/{uuid}``); adds
        ``pipeline``, ``event_id``, ``event_timestamp``, ``queue_item_uuid`` and ``buildset``.
        Builds nested in a buildset leave it out.
    :param buildset_refs: given for ``build/{uuid}``: adds ``buildset.refs``.
    """
    out: dict[str, Any] = {
        "_id": build.id,
        "uuid": build.uuid,
        "job_name": build.job_name,
        "result": build.result,
        "held": build.held,
        "execute_time": fmt_time(build.execute_time),
        "start_time": fmt_time(build.start_time),
        "end_time": fmt_time(build.end_time),
        "duration": duration(build.start_time, build.end_time),
        "voting": build.voting,
        "log_url": build.log_url,
        "nodeset": build.nodeset,
        "error_detail": build.error_detail,
        "final": build.final,
        "artifacts": [_artifact(a) for a in build.artifacts or ()],
        "provides": [{"name": p["name"]} for p in build.provides or ()],
        "ref": ref_to_dict(ref),
    }
    if buildset is not None:
        out.update(
            pipeline=buildset.pipeline,
            event_id=buildset.event_id,
            event_timestamp=fmt_time(buildset.event_timestamp),
            queue_item_uuid=buildset.queue_item_uuid,
            buildset={"uuid": buildset.uuid},
        )
        if buildset_refs is not None:
            out["buildset"]["refs"] = [ref_to_dict(r) for r in buildset_refs]
    return out


def _artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    # Zuul adds "metadata" only when the artifact has some.
    out = {"name": artifact["name"], "url": artifact["url"]}
    if artifact.get("metadata"):
        out["metadata"] = artifact["metadata"]
    return out


def buildset_to_dict(buildset: models.Buildset, refs: Sequence[models.Ref]) -> dict[str, Any]:
    """Return a buildset as Zuul's ``BuildsetConverter`` does (without builds and events)."""
    return {
        "_id": buildset.id,
        "uuid": buildset.uuid,
        "result": buildset.result,
        "message": buildset.message,
        "pipeline": buildset.pipeline,
        "event_id": buildset.event_id,
        "event_timestamp": fmt_time(buildset.event_timestamp),
        "queue_item_uuid": buildset.queue_item_uuid,
        "first_build_start_time": fmt_time(buildset.first_build_start_time),
        "last_build_end_time": fmt_time(buildset.last_build_end_time),
        "user_id": buildset.user_id,
        "parameters": buildset.parameters,
        "refs": [ref_to_dict(r) for r in refs],
    }


def event_to_dict(event: models.BuildsetEvent) -> dict[str, Any]:
    """Return a buildset event as ``{event_time, event_type, description}``."""
    return {
        "event_time": fmt_time(event.event_time),
        "event_type": event.event_type,
        "description": event.description,
    }


def config_error_to_dict(error: models.ConfigError) -> dict[str, Any]:
    """Return a configuration error as Zuul's ``config-errors`` lists it."""
    return {
        "source_context": {"project": error.project, "branch": error.branch, "path": error.path},
        "error": error.error,
        "short_error": error.short_error,
        "severity": error.severity,
        "name": error.name,
    }


def autohold_id(number: int) -> str:
    """Return Zuul's id of hold request *number*: ZooKeeper's 10-digit sequence suffix.

    Zuul names a hold request after the sequential znode it is stored in, so its ids are
    strings such as ``"0000000001"``; every answer carries that form.
    """
    return f"{number:010d}"


def autohold_to_dict(hold: models.Autohold, tenant: str) -> dict[str, Any]:
    """Return an autohold request as Zuul's ``autohold`` endpoints do (``id`` zero-padded)."""
    return {
        "id": autohold_id(hold.id),
        "tenant": tenant,
        "project": hold.project,
        "job": hold.job,
        "ref_filter": hold.ref_filter,
        "max_count": hold.max_count,
        "current_count": hold.current_count,
        "reason": hold.reason,
        "node_expiration": hold.node_expiration,
        "expired": hold.expired,
        "nodes": list(hold.nodes or ()),
    }


def management_event_to_dict(event: models.ManagementEvent, tenant: str) -> dict[str, Any]:
    """Return a management event for the CI backend that carries it out."""
    return {
        "id": event.id,
        "tenant": tenant,
        "type": event.type,
        "payload": event.payload,
        "created": fmt_time(event.created),
        "acknowledged": fmt_time(event.acknowledged),
    }
