"""Read queries of the build history: builds, buildsets, build-times and the badge.

Every list is newest first (``ORDER BY id DESC``) like Zuul's, and runs under the store's
statement timeout (Zuul: 30 s).  The ``*_count`` functions give the total for the same filters,
optionally capped, which Zuul does not offer; the API puts it in a header.  Lists read the page's
ids from one table first, with no join before the LIMIT (see :func:`ciweb.ci.filters.build_where`
for the choice of index), then the rows of those ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.orm import Session

from ciweb.ci import serialize
from ciweb.ci.errors import NotFound
from ciweb.ci.filters import (
    BADGE_PARAMS,
    BUILD_PARAMS,
    BUILD_TIMES_PARAMS,
    BUILDSET_PARAMS,
    HistoryFilter,
    build_where,
    buildset_where,
)
from ciweb.ci.models import Build, Buildset, BuildsetEvent, BuildsetRef, Ref
from ciweb.ci.store import Store, tenant_id

Params = Mapping[str, Any] | HistoryFilter


def _as_filter(params: Params, allowed: frozenset[str]) -> HistoryFilter:
    if isinstance(params, HistoryFilter):
        return params
    return HistoryFilter.from_params(params, allowed)


def _count(session: Session, matching: Select[Any], cap: int | None) -> int:
    # Counting over "SELECT 1 ... LIMIT cap + 1" stops after cap + 1 rows, and, with no
    # ORDER BY, lets the database read the narrowest index.
    if cap is not None:
        if cap < 0:
            raise ValueError("cap must be >= 0")
        matching = matching.limit(cap + 1)
    return session.scalar(select(func.count()).select_from(matching.subquery())) or 0


def _build_ids(session: Session, where: list[ColumnElement[bool]], f: HistoryFilter) -> list[int]:
    # Step one of two: the page's ids from the builds table alone, newest first.
    stmt = select(Build.id).where(*where).order_by(Build.id.desc()).limit(f.limit).offset(f.skip)
    return list(session.scalars(stmt))


def builds(store: Store, tenant: str, params: Params) -> list[dict[str, Any]]:
    """Return Zuul's ``builds`` list for *tenant*.

    The page's ids come first from the builds table alone (see
    :func:`ciweb.ci.filters.build_where`), then their rows with buildset and ref.

    :param store: the store.
    :param tenant: tenant name.
    :param params: query parameters (see :data:`ciweb.ci.filters.BUILD_PARAMS`) or a filter.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    f = _as_filter(params, BUILD_PARAMS)
    with store.heavy_read() as session:
        tid = tenant_id(session, tenant)
        ids = _build_ids(session, build_where(session, f, tid), f)
        if not ids:
            return []
        stmt = (
            select(Build, Buildset, Ref)
            .join(Buildset, Buildset.id == Build.buildset_id)
            .join(Ref, Ref.id == Build.ref_id)
            .where(Build.id.in_(ids))
            .order_by(Build.id.desc())
        )
        return [serialize.build_to_dict(b, r, bs) for b, bs, r in session.execute(stmt)]


def builds_count(store: Store, tenant: str, params: Params, *, cap: int | None = None) -> int:
    """Return how many builds match *params*, ignoring limit and skip.

    :param cap: count at most ``cap + 1`` builds, so that a result above *cap* means
        "more than *cap*" and costs no more than reading ``cap + 1`` index entries.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    f = _as_filter(params, BUILD_PARAMS)
    with store.heavy_read() as session:
        tid = tenant_id(session, tenant)
        return _count(session, select(literal(1)).where(*build_where(session, f, tid)), cap)


def build(store: Store, tenant: str, uuid: str) -> dict[str, Any]:
    """Return Zuul's ``build/{uuid}``: one build with ``buildset.refs``.

    :raises NotFound: "Unknown tenant" or "Build not found".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        row = session.execute(
            select(Build, Buildset, Ref)
            .join(Buildset, Buildset.id == Build.buildset_id)
            .join(Ref, Ref.id == Build.ref_id)
            .where(Build.tenant_id == tid, Build.uuid == uuid)
        ).first()
        if row is None:
            raise NotFound("Build not found")
        b, bs, r = row
        refs = _refs_of(session, [bs.id])[bs.id]
        return serialize.build_to_dict(b, r, bs, refs)


def _refs_of(session: Session, buildset_ids: Iterable[int]) -> dict[int, list[Ref]]:
    out: dict[int, list[Ref]] = defaultdict(list)
    ids = list(buildset_ids)
    if ids:
        rows = session.execute(
            select(BuildsetRef.buildset_id, Ref)
            .join(Ref, Ref.id == BuildsetRef.ref_id)
            .where(BuildsetRef.buildset_id.in_(ids))
            .order_by(Ref.id)
        )
        for buildset_id, ref in rows:
            out[buildset_id].append(ref)
    return out


def buildsets(store: Store, tenant: str, params: Params) -> list[dict[str, Any]]:
    """Return Zuul's ``buildsets`` list for *tenant*.

    :param params: query parameters (see :data:`ciweb.ci.filters.BUILDSET_PARAMS`) or a filter.
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    f = _as_filter(params, BUILDSET_PARAMS)
    with store.heavy_read() as session:
        tid = tenant_id(session, tenant)
        stmt = (
            select(Buildset)
            .where(*buildset_where(session, f, tid))
            .order_by(Buildset.id.desc())
            .limit(f.limit)
            .offset(f.skip)
        )
        rows = list(session.scalars(stmt))
        refs = _refs_of(session, (bs.id for bs in rows))
        return [serialize.buildset_to_dict(bs, refs[bs.id]) for bs in rows]


def buildsets_count(
    store: Store, tenant: str, params: Params, *, cap: int | None = None
) -> int:
    """Return how many buildsets match *params*, ignoring limit and skip.

    :param cap: count at most ``cap + 1`` buildsets (see :func:`builds_count`).
    :raises NotFound: "Unknown tenant".
    :raises ValidationError: naming a bad parameter.
    """
    f = _as_filter(params, BUILDSET_PARAMS)
    with store.heavy_read() as session:
        tid = tenant_id(session, tenant)
        return _count(session, select(literal(1)).where(*buildset_where(session, f, tid)), cap)


def buildset(store: Store, tenant: str, uuid: str) -> dict[str, Any]:
    """Return Zuul's ``buildset/{uuid}``: the buildset with its ``builds`` and ``events``.

    :raises NotFound: "Unknown tenant" or "Buildset not found".
    """
    with store.read() as session:
        tid = tenant_id(session, tenant)
        bs = session.scalar(
            select(Buildset).where(Buildset.tenant_id == tid, Buildset.uuid == uuid)
        )
        if bs is None:
            raise NotFound("Buildset not found")
        out = serialize.buildset_to_dict(bs, _refs_of(session, [bs.id])[bs.id])
        rows = session.execute(
            select(Build, Ref)
            .join(Ref, Ref.id == Build.ref_id)
            .where(Build.buildset_id == bs.id)
            .order_by(Build.id)
        )
        out["builds"] = [serialize.build_to_dict(b, r) for b, r in rows]
        events = session.scalars(
            select(BuildsetEvent)
            .where(BuildsetEvent.buildset_id == bs.id)
            .order_by(BuildsetEvent.event_time, BuildsetEvent.id)
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
    with store.heavy_read() as session:
        tid = tenant_id(session, tenant)
        ids = _build_ids(session, build_where(session, f, tid), f)
        stmt = (
            select(Build, Buildset.pipeline, Ref)
            .join(Buildset, Buildset.id == Build.buildset_id)
            .join(Ref, Ref.id == Build.ref_id)
            .where(Build.id.in_(ids))
            .order_by(Build.id.desc())
        )
        return [
            {
                "_id": b.id,
                "uuid": b.uuid,
                "job_name": b.job_name,
                "result": b.result,
                "start_time": serialize.fmt_time(b.start_time),
                "end_time": serialize.fmt_time(b.end_time),
                "duration": serialize.duration(b.start_time, b.end_time),
                "final": b.final,
                "project": r.project,
                "branch": r.branch,
                "pipeline": pipeline,
                "ref": r.ref,
            }
            for b, pipeline, r in session.execute(stmt)
        ]


def badge(store: Store, tenant: str, params: Mapping[str, Any]) -> str:
    """Return the result of the newest complete buildset matching project, pipeline, branch.

    :raises NotFound: "Unknown tenant" or "No buildset found".
    :raises ValidationError: naming a bad parameter.
    """
    f = HistoryFilter.from_params(params, BADGE_PARAMS)
    f = HistoryFilter(project=f.project, pipeline=f.pipeline, branch=f.branch, complete=True)
    with store.heavy_read() as session:
        tid = tenant_id(session, tenant)
        stmt = (
            select(Buildset.result)
            .where(*buildset_where(session, f, tid))
            .order_by(Buildset.id.desc())
            .limit(1)
        )
        result = session.scalar(stmt)
        if result is None:
            raise NotFound("No buildset found")
        return result
