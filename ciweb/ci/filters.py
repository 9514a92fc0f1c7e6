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
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.engine import Connection

from ciweb.ci import validate
from ciweb.ci.errors import ValidationError
from ciweb.ci.models import Build, Buildset, BuildsetRef, Ref

DEFAULT_LIMIT = 50
# Up to this many matching refs (or buildsets), a history query reads them one by one through
# (ref_id, id) instead of walking all the tenant's builds newest first: a few ms per thousand.
PARENT_FANOUT = 2000
# Up to this many job names matching a job_name pattern are looked up one by one.
MAX_JOB_NAMES = 500
LIKE_ESCAPE = "$"
# The largest limit and skip: a total count reads up to skip + max(cap, limit) + 1 rows, and
# PostgreSQL binds that LIMIT as a 32-bit INTEGER (2**31 - 1), so each stays below half of it.
MAX_PAGE = 10**9

# Core columns, not ORM attributes: conditions on them build in half the time, and the
# statements of the history lists stay plain Core.
_B, _S, _R = Build.__table__.c, Buildset.__table__.c, Ref.__table__.c
_L = BuildsetRef.__table__.c

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

# What a pattern filter on job names resolved to (see :func:`job_name_choice`), how many parents a
# ref or buildset filter matched (see :func:`build_where`), and all of a query's such choices.
JobNames = tuple[str, ...] | Literal["like"] | None
Fanout = Literal["none", "few", "many"] | None
Choices = tuple[Any, ...]

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
        # An empty change is ignored, as an empty value of every other list filter is.
        values["change"] = tuple(
            _change(v) for v in validate.param_values(params, "change") if v != ""
        )
        for key in ("voting", "final", "held", "complete"):
            values[key] = validate.param_bool(params, key)
        for key in ("idx_min", "idx_max"):
            values[key] = validate.param_int(params, key, None)
        for key in ("start_time", "end_time"):
            values[key] = validate.parse_time(key, validate.param_scalar(params, key) or None)
        for key, default in (("limit", DEFAULT_LIMIT), ("skip", 0)):
            values[key] = validate.param_int(params, key, default, maximum=MAX_PAGE)
        return cls(**values)


def _change(value: str) -> int:
    # refs.change is an INTEGER column; past its range SQLite's driver raises OverflowError
    # (beyond 2**63 - 1) and PostgreSQL "integer out of range".
    return validate.parse_int("change", value, minimum=0, maximum=validate.INT32_MAX)


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
        fuzzy(_R.project, f.project),
        fuzzy(_R.branch, f.branch),
        exact(_R.change, f.change),
        exact(_R.patchset, f.patchset),
        exact(_R.ref, f.ref),
        exact(_R.newrev, f.newrev),
    )


def _result_conditions(column: Any, f: HistoryFilter) -> list[ColumnElement[bool]]:
    out = _keep(exact(column, f.result))
    if len(f.exclude_result) == 1:
        # "<>" drops NULL results too, as NOT IN does, and needs no expanding parameter,
        # which SQLAlchemy renders into the SQL again on every execution.
        out.append(column != f.exclude_result[0])
    elif f.exclude_result:
        # NOT IN drops NULL results too, as Zuul's query does.
        out.append(column.not_in(f.exclude_result))
    if f.complete is True:
        out.append(column.is_not(None))
    elif f.complete is False:
        out.append(column.is_(None))
    return out


def build_conditions(f: HistoryFilter) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a builds query on :class:`Build`'s own columns, but the
    job name (see :func:`job_name_choice`); the tenant, ref and buildset conditions come from
    :func:`build_where`."""
    return _keep(*_build_own_exact(f)) + _build_flags(f)


def _build_own_exact(f: HistoryFilter) -> list[ColumnElement[bool] | None]:
    return [exact(_B.uuid, f.uuid), exact(_B.nodeset, f.nodeset)]


def _build_flags(f: HistoryFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for column, flag in ((_B.voting, f.voting), (_B.final, f.final), (_B.held, f.held)):
        if flag is not None:
            out.append(column == flag)
    out += _result_conditions(_B.result, f)
    out += _id_bounds(_B.id, f)
    if f.start_time is not None:
        out.append(_B.start_time >= f.start_time)
    if f.end_time is not None:
        out.append(_B.end_time <= f.end_time)
    return out


def job_name_choice(session: Connection, f: HistoryFilter, tenant_id: int) -> JobNames:
    """Return the job names a job_name filter with wildcards matches, for ``job_name IN (...)``.

    A ``LIKE`` cannot use an index, so a rare pattern would walk every build of the tenant.
    Instead the tenant's distinct job names are read by a loose index scan of
    ``(tenant_id, job_name, id)`` (one seek per name, a recursive CTE), the patterns are
    matched against them in SQL (the same ``LIKE``), and ``IN`` walks that index once per
    matching name.  More than :data:`MAX_JOB_NAMES` matches keep the ``LIKE``: such a pattern
    matches often, and walking newest first finds a page soon.

    :param session: the read session (reads the matching names).
    :param f: the filter.
    :param tenant_id: the tenant's id.
    :return: None when no value has a wildcard (the names are the values), ``"like"`` when
        more than :data:`MAX_JOB_NAMES` match, else the matching names.
    """
    if not any("*" in v for v in f.job_name):
        return None
    first = select(func.min(_B.job_name)).where(_B.tenant_id == tenant_id)
    names = first.cte("job_names", recursive=True)
    following = (
        select(func.min(_B.job_name))
        .where(_B.tenant_id == tenant_id, _B.job_name > names.c[0])
        .scalar_subquery()
    )
    names = names.union_all(select(following).where(names.c[0].is_not(None)))
    stmt = select(names.c[0]).where(*_keep(fuzzy(names.c[0], f.job_name)))
    found = tuple(session.scalars(stmt.limit(MAX_JOB_NAMES + 1)))
    return "like" if len(found) > MAX_JOB_NAMES else found


def _job_name_condition(f: HistoryFilter, names: JobNames) -> ColumnElement[bool] | None:
    if names is None:
        return exact(_B.job_name, f.job_name)
    if names == "like":
        return fuzzy(_B.job_name, f.job_name)
    return exact(_B.job_name, names) if names else false()


def buildset_own_conditions(f: HistoryFilter) -> list[ColumnElement[bool]]:
    """Return the conditions on :class:`Buildset` columns that a builds query may carry."""
    return _keep(
        fuzzy(_S.pipeline, f.pipeline),
        exact(_S.queue_item_uuid, f.queue_item_uuid),
    )


def _fanout(session: Connection, ids: Select[Any] | None) -> Fanout:
    """Return how many rows the id query *ids* matches: "none", "few" (at most
    :data:`PARENT_FANOUT`) or "many"; None when there is no such query."""
    if ids is None:
        return None
    found = session.scalar(
        select(func.count()).select_from(ids.limit(PARENT_FANOUT + 1).subquery())
    )
    return "none" if not found else "few" if found <= PARENT_FANOUT else "many"


def build_choices(session: Connection, f: HistoryFilter, tenant_id: int) -> Choices:
    """Return what :func:`build_where` reads from the database before it builds the
    conditions: the job names a pattern matches, and how many refs and buildsets the ref and
    buildset filters match (see :func:`build_where`).

    The conditions are a function of the filter, the tenant and these choices alone, so that
    together they key a statement compiled once (:class:`ciweb.ci.store.CompiledCache`).

    :param session: the read session.
    :param f: the filter.
    :param tenant_id: the tenant's id.
    """
    return (
        job_name_choice(session, f, tenant_id),
        _fanout(session, _ref_ids(f, tenant_id)),
        _fanout(session, _buildset_ids(f, tenant_id)),
    )


def build_where(session: Connection, f: HistoryFilter, tenant_id: int) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a builds query (see :func:`build_where_for`), reading
    their :func:`build_choices` in *session*."""
    return build_where_for(f, tenant_id, build_choices(session, f, tenant_id))


def build_where_for(
    f: HistoryFilter, tenant_id: int, choices: Choices
) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a builds query on the ``builds`` table alone.

    Ref and buildset filters become conditions on ``ref_id`` and ``buildset_id``, so no join
    runs before the LIMIT.  Which index serves ``ORDER BY id DESC LIMIT n`` depends on how
    many refs (buildsets) match, counted up to :data:`PARENT_FANOUT`.  For a few,
    ``ref_id IN (...)`` without the tenant condition (a ref and a buildset belong to one
    tenant, as their builds do) makes the database walk ``(ref_id, id)`` per ref, newest
    first, whatever the number of builds.  For many, the tenant's ``(tenant_id, id)`` range
    is walked newest first with a correlated ``EXISTS`` per build (no list of every matching
    ref is built) and stops after n matches.

    :param f: the filter.
    :param tenant_id: the tenant's id.
    :param choices: :func:`build_choices` of the same filter and tenant.
    """
    names, *fanouts = choices
    out = _keep(_job_name_condition(f, names), *build_conditions(f))
    walk_tenant = True
    for column, parent, parent_ids, fanout in zip(
        (_B.ref_id, _B.buildset_id),
        (_R.id, _S.id),
        (_ref_ids(f, tenant_id), _buildset_ids(f, tenant_id)),
        fanouts,
        strict=True,
    ):
        if parent_ids is None:
            continue
        if fanout == "none":
            return [false()]
        if fanout == "few":
            out.append(column.in_(parent_ids))
            walk_tenant = False
        else:
            out.append(parent_ids.where(parent == column).exists())
    if walk_tenant:
        out.append(_B.tenant_id == tenant_id)
    return out


def _ref_ids(f: HistoryFilter, tenant_id: int) -> Select[Any] | None:
    refs = ref_conditions(f)
    if not refs:
        return None
    return select(_R.id).where(_R.tenant_id == tenant_id, *refs)


def _buildset_ids(f: HistoryFilter, tenant_id: int) -> Select[Any] | None:
    own = buildset_own_conditions(f)
    if not own:
        return None
    return select(_S.id).where(_buildset_tenant(f, tenant_id), *own)


def _buildset_tenant(f: HistoryFilter, tenant_id: int) -> ColumnElement[bool]:
    if f.queue_item_uuid:
        # A queue item uuid names one buildset: its own index must be read, but with
        # tenant_id = ? SQLite (no statistics) prefers walking (tenant_id, id).  "+ 0" keeps
        # the tenant check out of index selection on every backend.
        return _S.tenant_id + 0 == tenant_id
    return _S.tenant_id == tenant_id


def buildset_choices(session: Connection, f: HistoryFilter, tenant_id: int) -> Choices:
    """Return what :func:`buildset_where` reads from the database: how many refs the ref
    filters match (see :func:`build_choices`)."""
    return (_fanout(session, _ref_ids(f, tenant_id)),)


def buildset_where(
    session: Connection, f: HistoryFilter, tenant_id: int
) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a buildsets query (see :func:`buildset_where_for`),
    reading their :func:`buildset_choices` in *session*."""
    return buildset_where_for(f, tenant_id, buildset_choices(session, f, tenant_id))


def buildset_where_for(
    f: HistoryFilter, tenant_id: int, choices: Choices
) -> list[ColumnElement[bool]]:
    """Return the WHERE conditions of a buildsets query (refs checked through a subquery).

    As in :func:`build_where`, a ref filter matching at most :data:`PARENT_FANOUT` refs
    leaves the tenant condition out, so that the database reads the few matching buildset
    ids instead of walking the tenant's buildsets until enough match; one matching more
    refs is checked per buildset by a correlated ``EXISTS``.

    :param f: the filter.
    :param tenant_id: the tenant's id.
    :param choices: :func:`buildset_choices` of the same filter and tenant.
    """
    (fanout,) = choices
    out = _keep(
        fuzzy(_S.pipeline, f.pipeline),
        exact(_S.uuid, f.uuid),
        exact(_S.queue_item_uuid, f.queue_item_uuid),
    )
    out += _result_conditions(_S.result, f)
    out += _id_bounds(_S.id, f)
    ref_ids = _ref_ids(f, tenant_id)
    if ref_ids is None:
        return [_buildset_tenant(f, tenant_id), *out]
    if fanout == "none":
        return [false()]
    linked = select(_L.buildset_id).where(_L.ref_id.in_(ref_ids))
    if fanout == "few":
        return [_S.id.in_(linked), *out]
    correlated = ref_ids.join(BuildsetRef, _L.ref_id == _R.id).where(_L.buildset_id == _S.id)
    return [_buildset_tenant(f, tenant_id), correlated.exists(), *out]


def _id_bounds(column: Any, f: HistoryFilter) -> list[ColumnElement[bool]]:
    out = []
    if f.idx_min is not None:
        out.append(column >= f.idx_min)
    if f.idx_max is not None:
        out.append(column <= f.idx_max)
    return out
