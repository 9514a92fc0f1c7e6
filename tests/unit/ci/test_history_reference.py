"""The history lists against a plain reference: every filter evaluated in Python over ORM rows.

The lists run statements compiled once per query (``Store.compiled``), read the driver's raw
values and keep converted rows (``Store.row_dict``); this module checks that all of it gives,
for many generated filter combinations on SQLite and PostgreSQL, exactly what a naive reading
of every build and buildset of the tenant gives: same dicts, same order, same total.  Each
query runs twice (the second time from the caches), and under every index choice of
:func:`ciweb.ci.filters.build_where` (few or many refs and buildsets, job name patterns
resolved or kept).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import select

from ciweb.ci import filters, history, reporting
from ciweb.ci.models import Build, Buildset, BuildsetRef, Ref, Tenant
from ciweb.ci.store import Store

PROJECTS = ("org/project", "org/other_project", "org/a_b", "lib/x%y")
BRANCHES = ("master", "stable/1", "feature_x")
PIPELINES = ("check", "gate")
JOBS = ("tox-py311", "tox_docs", "linters%", "build.image", "toxXdocs")
RESULTS = ("SUCCESS", "FAILURE", "SKIPPED", "NODE_FAILURE", None)
NODESETS = ("ubuntu-noble", "centos-9", None)
# Values the filters are drawn from: stored ones, patterns and misses.
PATTERNS = {
    "project": (*PROJECTS, "org/*", "*project", "lib/x%*", "org/a?b", "nope"),
    "branch": (*BRANCHES, "stable/*", "feature?x", "*"),
    "pipeline": (*PIPELINES, "g*", "*e*", "post"),
    "job_name": (*JOBS, "tox*", "*docs", "linters%", "tox?docs", "*"),
    "change": ("1", "2", "3", "5", "9"),
    "patchset": ("1", "2"),
    "result": ("SUCCESS", "FAILURE", "SKIPPED", "NODE_FAILURE"),
    "exclude_result": ("SUCCESS", "SKIPPED", "FAILURE"),
    "nodeset": NODESETS[:2],
    "voting": ("true", "false"),
    "final": ("true", "false"),
    "held": ("true", "false"),
    "complete": ("true", "false"),
}
BUILD_FILTERS = (*PATTERNS, "uuid", "queue_item_uuid", "ref", "newrev", "idx_min", "idx_max")
BUILDSET_FILTERS = ("project", "branch", "pipeline", "change", "patchset", "result",
                    "exclude_result", "complete", "uuid", "queue_item_uuid", "ref", "newrev",
                    "idx_min", "idx_max")  # fmt: skip
T0 = dt.datetime(2026, 3, 1, 8, 0, 0)


def _time(rng: random.Random) -> str:
    # Microseconds too: a duration must stay exact.
    moment = T0 + dt.timedelta(seconds=rng.randrange(10**6), microseconds=rng.randrange(10**6))
    return moment.isoformat()


def _ref(rng: random.Random, change: int) -> dict[str, Any]:
    patchset = rng.choice(("1", "2"))
    return {"project": rng.choice(PROJECTS), "branch": rng.choice(BRANCHES), "change": change,
            "patchset": patchset, "ref": f"refs/changes/{change:02d}/{change}/{patchset}",
            "newrev": rng.choice((None, f"{change:040x}")),
            "ref_url": f"https://review.example.org/{change}"}  # fmt: skip


def _fill(store: Store, rng: random.Random) -> None:
    for n in range(40):
        tenant = "other" if n % 9 == 8 else "t"
        refs = [_ref(rng, rng.randrange(1, 7)) for _ in range(rng.choice((1, 1, 1, 2)))]
        result = rng.choice(RESULTS)
        reporting.create_buildset(
            store,
            tenant,
            {"uuid": f"bs{n}", "pipeline": rng.choice(PIPELINES), "refs": refs,
             "result": result, "queue_item_uuid": f"qi{n % 13}",
             "event_timestamp": _time(rng), "parameters": {"n": n, "big": 2**70}},
        )  # fmt: skip
        for b in range(rng.randrange(0, 5)):
            start = _time(rng) if rng.random() < 0.9 else None
            build: dict[str, Any] = {
                "uuid": f"b{n}-{b}",
                "job_name": rng.choice(JOBS),
                "ref": rng.choice(refs),
                "result": rng.choice(RESULTS),
                "voting": rng.random() < 0.8,
                "held": rng.random() < 0.2,
                "final": rng.random() < 0.8,
                "nodeset": rng.choice(NODESETS),
                "start_time": start,
                "execute_time": start if rng.random() < 0.5 else None,
                "end_time": _time(rng) if start and rng.random() < 0.8 else None,
                "log_url": f"https://logs.example.org/{n}/{b}/",
                "artifacts": rng.choice((
                    [], [{"name": "logs", "url": "https://l/"}],
                    [{"name": "m", "url": "https://m/", "metadata": {"type": "zuul_manifest"}},
                     {"name": "e", "url": "https://e/", "metadata": {}}],
                )),
                "provides": rng.choice(([], [{"name": "image"}])),
            }  # fmt: skip
            reporting.create_build(store, tenant, f"bs{n}", build)


def _matcher(value: str, wildcard: bool) -> re.Pattern[str]:
    if not wildcard or "*" not in value:
        return re.compile(re.escape(value))
    return re.compile(".*".join(re.escape(part) for part in value.split("*")), re.DOTALL)


def _fuzzy(values: tuple[str, ...], actual: str | None) -> bool:
    return not values or (
        actual is not None and any(_matcher(v, True).fullmatch(actual) for v in values)
    )


def _exact(values: tuple[Any, ...], actual: Any) -> bool:
    return not values or actual in values


def _results(f: filters.HistoryFilter, result: str | None) -> bool:
    if not _exact(f.result, result):
        return False
    if f.exclude_result and (result is None or result in f.exclude_result):
        return False
    return f.complete is None or (result is not None) == f.complete


def _ids(f: filters.HistoryFilter, id_: int) -> bool:
    return (f.idx_min is None or id_ >= f.idx_min) and (f.idx_max is None or id_ <= f.idx_max)


def _ref_matches(f: filters.HistoryFilter, ref: Ref) -> bool:
    return (
        _fuzzy(f.project, ref.project)
        and _fuzzy(f.branch, ref.branch)
        and _exact(f.change, ref.change)
        and _exact(f.patchset, ref.patchset)
        and _exact(f.ref, ref.ref)
        and _exact(f.newrev, ref.newrev)
    )


def _flag(expected: bool | None, actual: bool) -> bool:
    return expected is None or actual == expected


def _text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S")


def _ref_dict(ref: Ref) -> dict[str, Any]:
    return {k: getattr(ref, k) for k in ("project", "branch", "change", "patchset", "ref",
                                          "oldrev", "newrev", "ref_url")}  # fmt: skip


def _reference(store: Store, f: filters.HistoryFilter, kind: str) -> tuple[list[Any], int]:
    """Return the page and the total of *kind* ("builds" or "buildsets") for *f*, naively."""
    with store.read() as session:
        tid = session.scalar(select(Tenant.id).where(Tenant.name == "t"))
        refs = {r.id: r for r in session.scalars(select(Ref))}
        links: dict[int, list[Ref]] = defaultdict(list)
        for link in session.scalars(select(BuildsetRef).order_by(BuildsetRef.ref_id)):
            links[link.buildset_id].append(refs[link.ref_id])
        buildsets = {s.id: s for s in session.scalars(select(Buildset))}
        if kind == "buildsets":
            matching = [
                s for s in sorted(buildsets.values(), key=lambda s: -s.id)
                if s.tenant_id == tid and _fuzzy(f.pipeline, s.pipeline)
                and _exact(f.uuid, s.uuid) and _exact(f.queue_item_uuid, s.queue_item_uuid)
                and _results(f, s.result) and _ids(f, s.id)
                and (not filters.ref_conditions(f) or any(_ref_matches(f, r) for r in links[s.id]))
            ]  # fmt: skip
            page = [
                {"_id": s.id, "uuid": s.uuid, "result": s.result, "message": s.message,
                 "pipeline": s.pipeline, "event_id": s.event_id,
                 "event_timestamp": _text(s.event_timestamp),
                 "queue_item_uuid": s.queue_item_uuid,
                 "first_build_start_time": _text(s.first_build_start_time),
                 "last_build_end_time": _text(s.last_build_end_time), "user_id": s.user_id,
                 "parameters": s.parameters, "refs": [_ref_dict(r) for r in links[s.id]]}
                for s in matching[f.skip : f.skip + f.limit]
            ]  # fmt: skip
            return page, len(matching)
        matching_builds = [
            b for b in session.scalars(select(Build).order_by(Build.id.desc()))
            if b.tenant_id == tid and _fuzzy(f.job_name, b.job_name)
            and _exact(f.uuid, b.uuid) and _exact(f.nodeset, b.nodeset)
            and _flag(f.voting, b.voting) and _flag(f.final, b.final) and _flag(f.held, b.held)
            and _results(f, b.result) and _ids(f, b.id) and _ref_matches(f, refs[b.ref_id])
            and _fuzzy(f.pipeline, buildsets[b.buildset_id].pipeline)
            and _exact(f.queue_item_uuid, buildsets[b.buildset_id].queue_item_uuid)
        ]  # fmt: skip
        page = []
        for b in matching_builds[f.skip : f.skip + f.limit]:
            s = buildsets[b.buildset_id]
            duration = (
                (b.end_time - b.start_time).total_seconds() if b.start_time and b.end_time
                else None
            )  # fmt: skip
            artifacts = [
                {"name": a["name"], "url": a["url"], **({"metadata": a["metadata"]}
                                                        if a.get("metadata") else {})}
                for a in b.artifacts
            ]  # fmt: skip
            page.append(
                {"_id": b.id, "uuid": b.uuid, "job_name": b.job_name, "result": b.result,
                 "held": b.held, "execute_time": _text(b.execute_time),
                 "start_time": _text(b.start_time), "end_time": _text(b.end_time),
                 "duration": duration, "voting": b.voting, "log_url": b.log_url,
                 "nodeset": b.nodeset, "error_detail": b.error_detail, "final": b.final,
                 "artifacts": artifacts, "provides": [{"name": p["name"]} for p in b.provides],
                 "ref": _ref_dict(refs[b.ref_id]), "pipeline": s.pipeline,
                 "event_id": s.event_id, "event_timestamp": _text(s.event_timestamp),
                 "queue_item_uuid": s.queue_item_uuid, "buildset": {"uuid": s.uuid}}
            )  # fmt: skip
        return page, len(matching_builds)


def _queries(rng: random.Random, names: tuple[str, ...], count: int) -> list[dict[str, Any]]:
    extra = {
        "uuid": ("b3-0", "b5-1", "bs3", "bs7", "nope"),
        "queue_item_uuid": ("qi1", "qi4", "nope"),
        "ref": ("refs/changes/03/3/1", "refs/changes/05/5/2"),
        "newrev": (f"{3:040x}", f"{4:040x}"),
        "idx_min": ("5", "30"),
        "idx_max": ("20", "60"),
    }
    pools = {**PATTERNS, **extra}
    out = []
    for _ in range(count):
        query: dict[str, Any] = {}
        for name in rng.sample(names, rng.choice((0, 1, 1, 2, 2, 3))):
            values = pools[name]
            single = name.startswith(("idx", "voting", "final", "held", "complete"))
            count = rng.choice((1, 1, 2))
            query[name] = rng.choice(values) if single else rng.sample(values, count)
        query["limit"] = str(rng.choice((1, 3, 7, 50)))
        query["skip"] = str(rng.choice((0, 0, 2, 5)))
        out.append(query)
    return out


@pytest.fixture
def generated(store: Store) -> Store:
    _fill(store, random.Random(20261204))
    return store


@pytest.mark.parametrize(
    ("fanout", "max_names"), [(filters.PARENT_FANOUT, filters.MAX_JOB_NAMES), (0, 0)]
)
def test_builds_pages_equal_the_reference(generated, monkeypatch, fanout, max_names):
    monkeypatch.setattr(filters, "PARENT_FANOUT", fanout)
    monkeypatch.setattr(filters, "MAX_JOB_NAMES", max_names)
    checked = 0
    for query in _queries(random.Random(fanout), BUILD_FILTERS, 150):
        f = filters.HistoryFilter.from_params(query, filters.BUILD_PARAMS)
        rows, total = _reference(generated, f, "builds")
        for _ in range(2):  # the second time from the compiled statement and the kept rows
            page = history.builds_page(generated, "t", f, cap=10000)
            assert (page.rows, page.total, page.capped) == (rows, total, False), query
        checked += bool(rows)
    assert checked > 50  # most queries find something


@pytest.mark.parametrize("fanout", [filters.PARENT_FANOUT, 0])
def test_buildsets_pages_equal_the_reference(generated, monkeypatch, fanout):
    monkeypatch.setattr(filters, "PARENT_FANOUT", fanout)
    checked = 0
    for query in _queries(random.Random(fanout + 1), BUILDSET_FILTERS, 100):
        f = filters.HistoryFilter.from_params(query, filters.BUILDSET_PARAMS)
        rows, total = _reference(generated, f, "buildsets")
        for _ in range(2):
            page = history.buildsets_page(generated, "t", f, cap=10000)
            assert (page.rows, page.total, page.capped) == (rows, total, False), query
        checked += bool(rows)
    assert checked > 30
