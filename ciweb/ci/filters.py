"""Query-parameter filters of the history endpoints (builds, buildsets, build-times, badge).

They behave as Zuul's SQL reporter does (reference/zuul-api.md §0 and §1): a repeated parameter
is a list (exact filters become ``IN``, wildcard filters OR'ed ``LIKE``); ``*`` in project,
pipeline, branch and job_name is a wildcard, while ``%``, ``_`` and the escape character match
literally; ``idx_min``/``idx_max`` are inclusive bounds on ``_id``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from ciweb.ci import validate
from ciweb.ci.errors import ValidationError
from ciweb.ci.models import Build, Buildset, BuildsetRef, Ref

DEFAULT_LIMIT = 50
LIKE_ESCAPE = "$"

_REF_PARAMS = frozenset({"project", "change", "branch", "patchset", "ref", "newrev"})
_PAGE_PARAMS = frozenset({"limit", "skip", "exclude_result"})
BUILD_PARAMS = (
    _REF_PARAMS
    | _PAGE_PARAMS
    | frozenset(
        {"pipeline", "uuid", "job_name", "queue_item_uuid", "voting", "nodeset", "result"}
        | {"final", "held", "complete", "idx_min", "idx_max"}
    )
)
BUILDSET_PARAMS = (
    _REF_PARAMS
    | _PAGE_PARAMS
    | frozenset({"pipeline", "uuid", "queue_item_uuid", "result", "complete", "idx_min", "idx_max"})
)
BUILD_TIMES_PARAMS = _PAGE_PARAMS | frozenset(
    {"project", "pipeline", "branch", "ref", "job_name", "final", "start_time", "end_time"}
)
BADGE_PARAMS = frozenset({"project", "pipeline", "branch"})

_LIST_PARAMS = ("project", "pipeline", "branch", "patchset", "ref", "newrev", "uuid")
_LIST_PARAMS_2 = ("job_name", "queue_item_uuid", "nodeset", "result", "exclude_result")


@dataclasses.dataclass(frozen=True)
class HistoryFilter:
    """Parsed, validated filters of one history query; empty tuples and None mean "any"."""

    project: tuple[str, ...] = ()
    pipeline: tuple[str, ...] = ()
    branch: tuple[str, ...] = ()
    change: tuple[int, ...] = ()
    patchset: tuple[str, ...] = ()
    ref: tuple[str, ...] = ()
    newrev: tuple[str, ...] = ()
    uuid: tuple[str, ...] = ()
    job_name: tuple[str, ...] = ()
    queue_item_uuid: tuple[str, ...] = ()
    nodeset: tuple[str, ...] = ()
    result: tuple[str, ...] = ()
    exclude_result: tuple[str, ...] = ()
    voting: bool | None = None
    final: bool | None = None
    held: bool | None = None
    complete: bool | None = None
    idx_min: int | None = None
    idx_max: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    limit: int = DEFAULT_LIMIT
    skip: int = 0

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], allowed: frozenset[str] = BUILD_PARAMS
    ) -> HistoryFilter:
        """Parse query parameters (one string or a list of strings per name).

        :param params: e.g. ``request.GET.dict_of_lists()``.
        :param allowed: the parameters the endpoint knows (``BUILD_PARAMS``, ...).
        :raises ValidationError: naming an unknown parameter or a bad value.
        """
        for key in params:
            if key not in allowed:
                raise ValidationError(key, "unknown parameter")
        values: dict[str, Any] = {}
        for key in (*_LIST_PARAMS, *_LIST_PARAMS_2):
            if key in allowed:
                values[key] = tuple(v for v in validate.param_values(params, key) if v != "")
        values["change"] = tuple(_int(v, "change") for v in validate.param_values(params, "change"))
        for key in ("voting", "final", "held", "complete"):
            values[key] = validate.param_bool(params, key)
        for key in ("idx_min", "idx_max"):
            values[key] = validate.param_int(params, key, None)
        for key in ("start_time", "end_time"):
            values[key] = validate.parse_time(key, validate.param_scalar(params, key) or None)
        values["limit"] = validate.param_int(params, "limit", DEFAULT_LIMIT)
        values["skip"] = validate.param_int(params, "skip", 0)
        return cls(**values)


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValidationError(field, "must be an integer") from None


def like_pattern(value: str) -> str:
    """Return the LIKE pattern of a wildcard value: ``*`` -> ``%``, the rest literal."""
    escaped = (
        value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return escaped.replace("*", "%")


def fuzzy(column: Any, values: tuple[str, ...]) -> ColumnElement[bool] | None:
    """Return ``column = v`` or ``column LIKE pattern`` for each value, OR'ed; None for none."""
    if not values:
        return None
    clauses = [
        column.like(like_pattern(v), escape=LIKE_ESCAPE) if "*" in v else column == v
        for v in values
    ]
    return or_(*clauses) if len(clauses) > 1 else clauses[0]


def exact(column: Any, values: tuple[Any, ...]) -> ColumnElement[bool] | None:
    """Return ``column = v`` for one value, ``column IN (...)`` for several; None for none."""
    if not values:
        return None
    return column == values[0] if len(values) == 1 else column.in_(values)


def _keep(*clauses: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [c for c in clauses if c is not None]


def ref_conditions(f: HistoryFilter) -> list[ColumnElement[bool]]:
    """Return the conditions on :class:`Ref` columns."""
    return _keep(
        fuzzy(Ref.project, f.project),
        fuzzy(Ref.branch, f.branch),
        exact(Ref.change, f.change),
        exact(Ref.patchset, f.patchset),
        exact(Ref.ref, f.ref),
        exact(Ref.newrev, f.newrev),
    )


def _result_conditions(column: Any, f: HistoryFilter) -> list[ColumnElement[bool]]:
    out = _keep(exact(column, f.result))
    if f.exclude_result:
        # NOT IN drops NULL results too, as Zuul's query does.
        out.append(column.not_in(f.exclude_result))
    if f.complete is True:
        out.append(column.is_not(None))
    elif f.complete is False:
        out.append(column.is_(None))
    return out


def build_conditions(f: HistoryFilter, tenant_id: int) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a builds query (joined with Buildset and Ref)."""
    out: list[ColumnElement[bool]] = [Build.tenant_id == tenant_id]
    out += ref_conditions(f)
    out += _keep(
        fuzzy(Buildset.pipeline, f.pipeline),
        fuzzy(Build.job_name, f.job_name),
        exact(Build.uuid, f.uuid),
        exact(Buildset.queue_item_uuid, f.queue_item_uuid),
        exact(Build.nodeset, f.nodeset),
    )
    for column, flag in ((Build.voting, f.voting), (Build.final, f.final), (Build.held, f.held)):
        if flag is not None:
            out.append(column == flag)
    out += _result_conditions(Build.result, f)
    out += _id_bounds(Build.id, f)
    if f.start_time is not None:
        out.append(Build.start_time >= f.start_time)
    if f.end_time is not None:
        out.append(Build.end_time <= f.end_time)
    return out


def buildset_conditions(f: HistoryFilter, tenant_id: int) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a buildsets query (refs checked through a subquery)."""
    out: list[ColumnElement[bool]] = [Buildset.tenant_id == tenant_id]
    refs = ref_conditions(f)
    if refs:
        matching = (
            select(BuildsetRef.buildset_id)
            .join(Ref, Ref.id == BuildsetRef.ref_id)
            .where(Ref.tenant_id == tenant_id, *refs)
        )
        out.append(Buildset.id.in_(matching))
    out += _keep(
        fuzzy(Buildset.pipeline, f.pipeline),
        exact(Buildset.uuid, f.uuid),
        exact(Buildset.queue_item_uuid, f.queue_item_uuid),
    )
    out += _result_conditions(Buildset.result, f)
    out += _id_bounds(Buildset.id, f)
    return out


def _id_bounds(column: Any, f: HistoryFilter) -> list[ColumnElement[bool]]:
    out = []
    if f.idx_min is not None:
        out.append(column >= f.idx_min)
    if f.idx_max is not None:
        out.append(column <= f.idx_max)
    return out
