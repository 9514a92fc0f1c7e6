"""Turn rows into the plain dicts of Zuul's REST API, key for key (reference/zuul-api.md §1).

The row functions take the values of SQLAlchemy's typed rows or the driver's own values
(:func:`ciweb.ci.store.run`: SQLite's text times, 0/1 booleans and JSON text), and give the
same dicts for both.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import orjson

from ciweb.ci import models

# Zuul's _datetimeToString: UTC, seconds precision, no zone designator.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

# The lists read plain rows of these columns, in this order, not ORM objects: a page of 50
# builds took 1.1 ms of ORM loading, and takes 0.3 ms as rows (bench/load.py's builds page).
_B, _R, _S = models.Build.__table__.c, models.Ref.__table__.c, models.Buildset.__table__.c
REF_COLUMNS = (_R.project, _R.branch, _R.change, _R.patchset, _R.ref, _R.oldrev, _R.newrev,
               _R.ref_url)  # fmt: skip
BUILD_COLUMNS = (
    _B.id, _B.uuid, _B.job_name, _B.result, _B.held, _B.execute_time, _B.start_time,
    _B.end_time, _B.voting, _B.log_url, _B.nodeset, _B.error_detail, _B.final, _B.artifacts,
    _B.provides, *REF_COLUMNS,
)  # fmt: skip
# Added to BUILD_COLUMNS for top-level builds (``builds``, ``build/{uuid}``).
BUILD_BUILDSET_COLUMNS = (_S.pipeline, _S.event_id, _S.event_timestamp, _S.queue_item_uuid,
                          _S.uuid)  # fmt: skip
BUILDSET_COLUMNS = (
    _S.id, _S.uuid, _S.result, _S.message, _S.pipeline, _S.event_id, _S.event_timestamp,
    _S.queue_item_uuid, _S.first_build_start_time, _S.last_build_end_time, _S.user_id,
    _S.parameters,
)  # fmt: skip
_REF_KEYS = ("project", "branch", "change", "patchset", "ref", "oldrev", "newrev", "ref_url")


def fmt_time(value: dt.datetime | str | None) -> str | None:
    """Return *value* as ``YYYY-MM-DDTHH:MM:SS`` (UTC, no zone), or None.

    :param value: a datetime, or the text SQLite stores for one (``YYYY-MM-DD HH:MM:SS``
        and microseconds), which is cut rather than parsed.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value[0] != "0":
            return f"{value[:10]}T{value[11:19]}"
        value = dt.datetime.fromisoformat(value)
    # isoformat is three times faster than strftime and writes the same text, but for
    # years before 1000, which strftime does not pad.
    return value.isoformat("T", "seconds") if value.year >= 1000 else value.strftime(TIME_FORMAT)


def duration(start: dt.datetime | str | None, end: dt.datetime | str | None) -> float | None:
    """Return the seconds between *start* and *end* as a float, or None if one is missing.

    :param start: a datetime or SQLite's text of one (see :func:`fmt_time`).
    :param end: the same.
    """
    if start is None or end is None:
        return None
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start)
    if isinstance(end, str):
        end = dt.datetime.fromisoformat(end)
    return (end - start).total_seconds()


def _flag(value: bool | int | None) -> bool | None:
    # SQLite's driver returns a BOOLEAN column's 0 or 1.
    return None if value is None else bool(value)


def _json(value: Any) -> Any:
    # A JSON column of a list or an object: text from SQLite's driver, decoded otherwise.
    # orjson reads it five times faster than the standard library, which reads what orjson
    # refuses (integers beyond 64 bits, NaN).
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def ref_to_dict(ref: Sequence[Any]) -> dict[str, Any]:
    """Return a ref row (:data:`REF_COLUMNS`) as Zuul's ``RefConverter`` does."""
    return dict(zip(_REF_KEYS, ref, strict=True))


def build_to_dict(
    row: Sequence[Any], buildset_refs: Sequence[Sequence[Any]] | None = None
) -> dict[str, Any]:
    """Return a build row as Zuul's ``BuildConverter`` does.

    :param row: the values of :data:`BUILD_COLUMNS`, then, for top-level builds
        (``builds``, ``build/{uuid}``), of :data:`BUILD_BUILDSET_COLUMNS`, which add
        ``pipeline``, ``event_id``, ``event_timestamp``, ``queue_item_uuid`` and ``buildset``.
        Builds nested in a buildset leave them out.
    :param buildset_refs: given for ``build/{uuid}``: ref rows, added as ``buildset.refs``.
    """
    (id_, uuid, job_name, result, held, execute_time, start, end, voting, log_url, nodeset,
     error_detail, final, artifacts, provides, project, branch, change, patchset, ref, oldrev,
     newrev, ref_url, *top) = row  # fmt: skip
    out: dict[str, Any] = {
        "_id": id_,
        "uuid": uuid,
        "job_name": job_name,
        "result": result,
        "held": _flag(held),
        "execute_time": fmt_time(execute_time),
        "start_time": fmt_time(start),
        "end_time": fmt_time(end),
        "duration": duration(start, end),
        "voting": _flag(voting),
        "log_url": log_url,
        "nodeset": nodeset,
        "error_detail": error_detail,
        "final": _flag(final),
        "artifacts": [_artifact(a) for a in _json(artifacts) or ()],
        "provides": [{"name": p["name"]} for p in _json(provides) or ()],
        "ref": {"project": project, "branch": branch, "change": change, "patchset": patchset,
                "ref": ref, "oldrev": oldrev, "newrev": newrev, "ref_url": ref_url},
    }  # fmt: skip
    if top:
        pipeline, event_id, event_timestamp, queue_item_uuid, buildset_uuid = top
        out["pipeline"] = pipeline
        out["event_id"] = event_id
        out["event_timestamp"] = fmt_time(event_timestamp)
        out["queue_item_uuid"] = queue_item_uuid
        out["buildset"] = {"uuid": buildset_uuid}
        if buildset_refs is not None:
            out["buildset"]["refs"] = [ref_to_dict(r) for r in buildset_refs]
    return out


def _artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    # Zuul adds "metadata" only when the artifact has some.
    out = {"name": artifact["name"], "url": artifact["url"]}
    if artifact.get("metadata"):
        out["metadata"] = artifact["metadata"]
    return out


def buildset_to_dict(row: Sequence[Any], refs: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Return a buildset row (:data:`BUILDSET_COLUMNS`) as Zuul's ``BuildsetConverter`` does
    (without builds and events).

    :param row: the buildset's values.
    :param refs: its ref rows (:data:`REF_COLUMNS`).
    """
    (id_, uuid, result, message, pipeline, event_id, event_timestamp, queue_item_uuid,
     first_start, last_end, user_id, parameters) = row  # fmt: skip
    return {
        "_id": id_,
        "uuid": uuid,
        "result": result,
        "message": message,
        "pipeline": pipeline,
        "event_id": event_id,
        "event_timestamp": fmt_time(event_timestamp),
        "queue_item_uuid": queue_item_uuid,
        "first_build_start_time": fmt_time(first_start),
        "last_build_end_time": fmt_time(last_end),
        "user_id": user_id,
        "parameters": _json(parameters),
        "refs": [ref_to_dict(r) for r in refs],
    }


def event_to_dict(row: Sequence[Any]) -> dict[str, Any]:
    """Return a buildset event row (event_time, event_type, description) as
    ``{event_time, event_type, description}``."""
    event_time, event_type, description = row
    return {
        "event_time": fmt_time(event_time),
        "event_type": event_type,
        "description": description,
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
