"""Read queries of the build history: builds, buildsets, build-times and the badge.

Every list is newest first (``ORDER BY id DESC``) like Zuul's, and runs under the store's
statement timeout (Zuul: 30 s).  The ``*_count`` functions give the total for the same filters,
optionally capped, which Zuul does not offer; the API puts it in a header (the ``*_page``
functions read a page and its total in one transaction).  A builds list chooses the page's ids
from one table in a subquery, with no join before the LIMIT (see
:func:`ciweb.ci.filters.build_where` for the choice of index), and reads the rows of those ids
in the same statement.

The builds and buildsets lists run statements compiled once per distinct query
(:meth:`Store.compiled`, keyed by the filter, the tenant id and what the filter matched in the
database) on the driver's cursor (:func:`ciweb.ci.store.run`), and keep the dict of a build
row under its values (:meth:`Store.row_dict`): a builds page took 0.2 ms to build its
statements and 0.25 ms to convert its rows, and now takes a lookup of each.  The single-item
reads use plain Core rows, not ORM objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, ColumnElement, Select, Text, bindparam, cast, func, literal, select
from sqlalchemy.engine import Connection

from ciweb.ci import serialize
from ciweb.ci.errors import NotFound
from ciweb.ci.filters import (
    BADGE_PARAMS,
    BUILD_PARAMS,
    BUILD_TIMES_PARAMS,
    BUILDSET_PARAMS,
    Choices,
    HistoryFilter,
    build_choices,
    build_where,
    build_where_for,
    buildset_choices,
    buildset_where,
    buildset_where_for,
)
from ciweb.ci.models import Build, Buildset, BuildsetEvent, BuildsetRef, Ref, Tenant
from ciweb.ci.serialize import (
    BUILD_BUILDSET_COLUMNS,
    BUILD_COLUMNS,
    BUILDSET_COLUMNS,
    REF_COLUMNS,
)
from ciweb.ci.store import Store, run, tenant_id

Params = Mapping[str, Any] | HistoryFilter

_BUILDS, _BUILDSETS, _REFS = Build.__table__, Buildset.__table__, Ref.__table__
# A build with its buildset and ref: the FROM of every top-level build row.
_BUILD_JOIN = _BUILDS.join(_BUILDSETS, _BUILDSETS.c.id == _BUILDS.c.buildset_id).join(
    _REFS, _REFS.c.id == _BUILDS.c.ref_id
)
# Built once, refined per request (a generative copy): its 28 columns are not coerced again.
_BUILD_ROWS = select(*BUILD_COLUMNS, *BUILD_BUILDSET_COLUMNS).select_from(_BUILD_JOIN)
# The same for the builds list, whose rows are hashable (Store.row_dict): JSON as its text.
_BUILD_LIST_ROWS = select(
    *(
        cast(c, Text) if isinstance(c.type, JSON) else c
        for c in (*BUILD_COLUMNS, *BUILD_BUILDSET_COLUMNS)
    )
).select_from(_BUILD_JOIN)


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a history list and the number of items its filters match.

    :ivar rows: the page.
    :ivar total: the number of matches, ignoring limit and skip; a lower bound when capped.
    :ivar capped: true when more than *total* items match (see :func:`paged`).
    """

    rows: list[dict[str, Any]]
    total: int
    capped: bool = False


def paged(
    rows: list[dict[str, Any]], f: HistoryFilter, count: Callable[[int], int], cap: int
) -> Page:
    """Return *rows* with their total, counting only when the page does not tell it.

    A page shorter than ``f.limit`` that is not empty (or starts at 0) is the last one, so
    its total is ``skip`` + its length.  Otherwise ``count(c)`` counts at most ``c + 1``
    matches with ``c = skip + max(cap, limit)``; more than ``c`` gives a capped total of ``c``.

    :param rows: the page read with *f*.
    :param f: the filter (its ``skip`` and ``limit``).
    :param count: ``count(c)`` returns the number of matches, counting at most ``c + 1``.
    :param cap: matches counted beyond ``skip`` (at least ``limit`` of them).
    """
    if len(rows) < f.limit and (rows or f.skip == 0):
        return Page(rows, f.skip + len(rows))
    ceiling = f.skip + max(cap, f.limit)
    found = count(ceiling)
    return Page(rows, min(found, ceiling), found > ceiling)


def _as_filter(params: Params, allowed: frozenset[str]) -> HistoryFilter:
    if isinstance(params, HistoryFilter):
        return params
    return HistoryFilter.from_params(params, allowed)


def _count_statement(matching: Select[Any], cap: int | None) -> Select[Any]:
    # Counting over "SELECT 1 ... LIMIT cap + 1" stops after cap + 1 rows, and, with no
    # ORDER BY, lets the database read the narrowest index.
    if cap is not None:
        if cap < 0:
            raise ValueError("cap must be >= 0")
        matching = matching.limit(cap + 1)
    return select(func.count()).select_from(matching.subquery())


def _page_ids(where: list[ColumnElement[bool]], f: HistoryFilter) -> Select[Any]:
    # The page's ids from the builds table alone, newest first: no join before the LIMIT.
    # Not correlated: the outer query reads the builds table too.
    return (
        select(_BUILDS.c.id)
        .where(*where)
        .order_by(_BUILDS.c.id.desc())
        .limit(f.limit)
        .offset(f.skip)
        .correlate(None)
    )


# The statements of the lists, built from (filter, tenant id, choices) alone and compiled once
# per distinct query (Store.compiled).  Their rows are the driver's (ciweb.ci.store.run).


def _builds_statement(f: HistoryFilter, tid: int, choices: Choices) -> Select[Any]:
    # One statement: the rows, with buildset and ref, of the page's ids.
    where = build_where_for(f, tid, choices)
    return _BUILD_LIST_ROWS.where(_BUILDS.c.id.in_(_page_ids(where, f))).order_by(
        _BUILDS.c.id.desc()
    )


def _builds_count(f: HistoryFilter, tid: int, choices: Choices, cap: int | None) -> Select[Any]:
    return _count_statement(select(literal(1)).where(*build_where_for(f, tid, choices)), cap)


def _buildsets_statement(f: HistoryFilter, tid: int, choices: Choices) -> Select[Any]:
    return (
        select(*BUILDSET_COLUMNS)
        .where(*buildset_where_for(f, tid, choices))
        .order_by(_BUILDSETS.c.id.desc())
        .limit(f.limit)
        .offset(f.skip)
    )


def _buildsets_count(f: HistoryFilter, tid: int, choices: Choices, cap: int | None) -> Select[Any]:
    return _count_statement(select(literal(1)).where(*buildset_where_for(f, tid, choices)), cap)


def _refs_statement() -> Select[Any]:
    # The refs of the buildsets whose ids are bound to "ids" at each run.
    link = BuildsetRef.__table__
    return (
        select(link.c.buildset_id, *REF_COLUMNS)
        .select_from(link.join(_REFS, _REFS.c.id == link.c.ref_id))
        .where(link.c.buildset_id.in_(bindparam("ids", expanding=True)))
        .order_by(_REFS.c.id)
    )


def _tenant_statement() -> Select[Any]:
    tenants = Tenant.__table__
    return select(tenants.c.id).where(tenants.c.name == bindparam("name"))


def _tenant_id(store: Store, conn: Connection, tenant: str) -> int:
    # tenant_id() on the compiled path.
    found = run(conn, store.compiled(_tenant_statement), {"name": tenant})
    if not found:
        raise NotFound("Unknown tenant")
    return int(found[0][0])


@dataclasses.dataclass(frozen=True)
class _Listing:
    # How one history list reads: the database choices of its filter, its page statement,
    # its count statement, and its rows as Zuul's dicts.
    choices: Callable[[Connection, HistoryFilter, int], Choices]
    page: Callable[[HistoryFilter, int, Choices], Select[Any]]
    count: Callable[[HistoryFilter, int, Choices, int | None], Select[Any]]
    rows: Callable[[Store, Connection, Sequence[Sequence[Any]]], list[dict[str, Any]]]


def _build_dicts(store: Store, _conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [store.row_dict(serialize.build_to_dict, row) for row in rows]


def _buildset_dicts(
    store: Store, conn: Connection, rows: Sequence[Sequence[Any]]
) -> list[dict[str, Any]]:
    refs = _refs_of(store, conn, [row[0] for row in rows])
    return [serialize.buildset_to_dict(row, refs[row[0]]) for row in rows]


_BUILDS_LIST = _Listing(build_choices, _builds_statement, _builds_count, _build_dicts)
_BUILDSETS_LIST = _Listing(
    buildset_choices, _buildsets_statement, _buildsets_count, _buildset_dicts
)


@contextlib.contextmanager
def _reading(
    store: Store, tenant: str, f: HistoryFilter, listing: _Listing
) -> Iterator[tuple[Connection, int, Choices]]:
    # A heavy read of *listing*: its connection, the tenant's id and the filter's choices.
    with store.connect(timeout=True) as conn:
        tid = _tenant_id(store, conn, tenant)
        yield conn, tid, listing.choices(conn, f, tid)


def _list(store: Store, tenant: str, f: HistoryFilter, listing: _Listing) -> list[dict[str, Any]]:
    with _reading(store, tenant, f, listing) as (conn, tid, choices):
        return listing.rows(store, conn, run(conn, store.compiled(listing.page, f, tid, choices)))


def _page(store: Store, tenant: str, f: HistoryFilter, listing: _Listing, cap: int) -> Page:
    with _reading(store, tenant, f, listing) as (conn, tid, choices):
        rows = run(conn, store.compiled(listing.page, f, tid, choices))

        def count(ceiling: int) -> int:
            return run(conn, store.compiled(listing.count, f, tid, choices, ceiling))[0][0]

        return paged(listing.rows(store, conn, rows), f, count, cap)


def _count(store: Store, tenant: str, f: HistoryFilter, listing: _Listing, cap: int | None) -> int:
    with _reading(store, tenant, f, listing) as (conn, tid, choices):
        return run(conn, store.compiled(listing.count, f, tid, choices, cap))[0][0]


def builds(store: Store, tenant: str, params: Params) -> list[dict[str, Any]]:
    """Return Zuul's ``builds`` list for *tenant*.

    The page's ids are chosen from the builds table alone (see
    :func:`ciweb.ci.filters.build_where`), and their rows read with buildset and ref.

    :param store: the store.
    :param tenant: tenant name.
    :param params: query parameters (see :data:`ciweb.ci.filters.BUILD_PARAMS`) or a filter.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    return _list(store, tenant, _as_filter(params, BUILD_PARAMS), _BUILDS_LIST)


def builds_page(store: Store, tenant: str, params: Params, *, cap: int) -> Page:
    """Return a page of :func:`builds` and its total (see :func:`paged`), in one transaction.

    :param params: query parameters or a filter.
    :param cap: matches counted beyond ``skip``.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    return _page(store, tenant, _as_filter(params, BUILD_PARAMS), _BUILDS_LIST, cap)


def builds_count(store: Store, tenant: str, params: Params, *, cap: int | None = None) -> int:
    """Return how many builds match *params*, ignoring limit and skip.

    :param cap: count at most ``cap + 1`` builds, so that a result above *cap* means
        "more than *cap*" and costs no more than reading ``cap + 1`` index entries.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    return _count(store, tenant, _as_filter(params, BUILD_PARAMS), _BUILDS_LIST, cap)


def build(store: Store, tenant: str, uuid: str) -> dict[str, Any]:
    """Return Zuul's ``build/{uuid}``: one build with ``buildset.refs``.

    :raises NotFound: "Unknown tenant" or "Build not found".
    """
    with store.connect() as conn:
        tid = tenant_id(conn, tenant)
        row = conn.execute(
            _BUILD_ROWS.add_columns(_BUILDS.c.buildset_id).where(
                _BUILDS.c.tenant_id == tid, _BUILDS.c.uuid == uuid
            )
        ).first()
        if row is None:
            raise NotFound("Build not found")
        refs = _refs_of(store, conn, [row[-1]])[row[-1]]
        return serialize.build_to_dict(row[:-1], refs)


def _refs_of(
    store: Store, conn: Connection, buildset_ids: Iterable[int]
) -> dict[int, list[Sequence[Any]]]:
    out: dict[int, list[Sequence[Any]]] = defaultdict(list)
    ids = list(buildset_ids)
    if ids:
        for buildset_id, *ref in run(conn, store.compiled(_refs_statement), {"ids": ids}):
            out[buildset_id].append(ref)
    return out


def buildsets(store: Store, tenant: str, params: Params) -> list[dict[str, Any]]:
    """Return Zuul's ``buildsets`` list for *tenant*.

    :param params: query parameters (see :data:`ciweb.ci.filters.BUILDSET_PARAMS`) or a filter.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    return _list(store, tenant, _as_filter(params, BUILDSET_PARAMS), _BUILDSETS_LIST)


def buildsets_page(store: Store, tenant: str, params: Params, *, cap: int) -> Page:
    """Return a page of :func:`buildsets` and its total (see :func:`paged`), in one
    transaction.

    :param params: query parameters or a filter.
    :param cap: matches counted beyond ``skip``.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    return _page(store, tenant, _as_filter(params, BUILDSET_PARAMS), _BUILDSETS_LIST, cap)


def buildsets_count(store: Store, tenant: str, params: Params, *, cap: int | None = None) -> int:
    """Return how many buildsets match *params*, ignoring limit and skip.

    :param cap: count at most ``cap + 1`` buildsets (see :func:`builds_count`).
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    return _count(store, tenant, _as_filter(params, BUILDSET_PARAMS), _BUILDSETS_LIST, cap)


def buildset(store: Store, tenant: str, uuid: str) -> dict[str, Any]:
    """Return Zuul's ``buildset/{uuid}``: the buildset with its ``builds`` and ``events``.

    :raises NotFound: "Unknown tenant" or "Buildset not found".
    """
    with store.connect() as conn:
        tid = tenant_id(conn, tenant)
        row = conn.execute(
            select(*BUILDSET_COLUMNS).where(
                _BUILDSETS.c.tenant_id == tid, _BUILDSETS.c.uuid == uuid
            )
        ).first()
        if row is None:
            raise NotFound("Buildset not found")
        out = serialize.buildset_to_dict(row, _refs_of(store, conn, [row[0]])[row[0]])
        builds = conn.execute(
            select(*BUILD_COLUMNS)
            .select_from(_BUILDS.join(_REFS, _REFS.c.id == _BUILDS.c.ref_id))
            .where(_BUILDS.c.buildset_id == row[0])
            .order_by(_BUILDS.c.id)
        )
        out["builds"] = [serialize.build_to_dict(b) for b in builds]
        e = BuildsetEvent.__table__.c
        events = conn.execute(
            select(e.event_time, e.event_type, e.description)
            .where(e.buildset_id == row[0])
            .order_by(e.event_time, e.id)
        )
        out["events"] = [serialize.event_to_dict(e) for e in events]
        return out


def build_times(store: Store, tenant: str, params: Params) -> list[dict[str, Any]]:
    """Return Zuul's ``build-times`` list: one flat row per build, newest first.

    :param params: query parameters (see :data:`ciweb.ci.filters.BUILD_TIMES_PARAMS`).
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    f = _as_filter(params, BUILD_TIMES_PARAMS)
    with store.connect(timeout=True) as conn:
        where = build_where(conn, f, tenant_id(conn, tenant))
        b, r = _BUILDS.c, _REFS.c
        columns = (b.id, b.uuid, b.job_name, b.result, b.start_time, b.end_time, b.final,
                   r.project, r.branch, _BUILDSETS.c.pipeline, r.ref)  # fmt: skip
        stmt = (
            select(*columns)
            .select_from(_BUILD_JOIN)
            .where(b.id.in_(_page_ids(where, f)))
            .order_by(b.id.desc())
        )
        return [
            {
                "_id": id_,
                "uuid": uuid,
                "job_name": job_name,
                "result": result,
                "start_time": serialize.fmt_time(start),
                "end_time": serialize.fmt_time(end),
                "duration": serialize.duration(start, end),
                "final": final,
                "project": project,
                "branch": branch,
                "pipeline": pipeline,
                "ref": ref,
            }
            for id_, uuid, job_name, result, start, end, final, project, branch, pipeline, ref
            in conn.execute(stmt)
        ]  # fmt: skip


def badge(store: Store, tenant: str, params: Mapping[str, Any]) -> str:
    """Return the result of the newest complete buildset matching project, pipeline, branch.

    :raises NotFound: "Unknown tenant" or "No buildset found".
    :raises ValidationError: naming a bad parameter.
    """
    f = HistoryFilter.from_params(params, BADGE_PARAMS)
    f = HistoryFilter(project=f.project, pipeline=f.pipeline, branch=f.branch, complete=True)
    with store.connect(timeout=True) as conn:
        tid = tenant_id(conn, tenant)
        stmt = (
            select(_BUILDSETS.c.result)
            .where(*buildset_where(conn, f, tid))
            .order_by(_BUILDSETS.c.id.desc())
            .limit(1)
        )
        result = conn.scalar(stmt)
        if result is None:
            raise NotFound("No buildset found")
        return result
