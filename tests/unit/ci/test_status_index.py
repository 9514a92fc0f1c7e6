"""Tests of ciweb.ci.status_index: status/change answered from a document parsed once."""

from __future__ import annotations

import json

import pytest

from ciweb.ci import writes
from ciweb.ci.errors import NotFound
from ciweb.ci.status_index import StatusIndexCache, items_by_change

ITEM_A = {"id": "i1", "live": True, "refs": [{"id": "1,2", "project": "org/project"}]}
ITEM_B = {"id": "i2", "live": True, "refs": [{"id": "3,1"}, {"id": "1,2"}]}
STATUS = {
    "pipelines": [{"name": "check", "change_queues": [
        {"name": "", "heads": [[ITEM_A, ITEM_B]]},
        {"name": "q", "heads": [[{"id": "i3", "refs": [{"id": "abc"}, {"id": "abc"}]}]]},
    ]}],
}  # fmt: skip


def test_items_are_indexed_under_each_of_their_ref_ids_once() -> None:
    found = items_by_change(STATUS)
    assert [i["id"] for i in found["1,2"]] == ["i1", "i2"]
    assert [i["id"] for i in found["3,1"]] == ["i2"]
    assert [i["id"] for i in found["abc"]] == ["i3"]


def test_an_unchanged_document_is_parsed_once(store) -> None:
    writes.put_status(store, "t", STATUS)
    cache = StatusIndexCache(store)
    first = cache.index("t")
    assert cache.index("t") is first
    assert [i["id"] for i in first.lookup("1,2")] == ["i1", "i2"]
    assert first.lookup("9,9") == []


def test_a_new_document_is_parsed_and_served_at_once(store) -> None:
    cache = StatusIndexCache(store)
    writes.put_status(store, "t", STATUS)
    before = cache.index("t")
    changed = json.loads(json.dumps(STATUS))
    changed["pipelines"][0]["change_queues"][0]["heads"] = [[ITEM_A]]
    written = writes.put_status(store, "t", changed)
    after = cache.index("t")
    assert after is not before and after.etag == written.etag
    assert [i["id"] for i in after.lookup("1,2")] == ["i1"]


def test_a_tenant_without_a_document_has_no_items(store) -> None:
    index = StatusIndexCache(store).index("t")
    assert index.lookup("1,2") == []


def test_the_least_recently_used_tenant_leaves_a_full_cache(store) -> None:
    writes.upsert_tenant(store, "u")
    for tenant in ("t", "u"):
        writes.put_status(store, tenant, STATUS)
    cache = StatusIndexCache(store, max_tenants=1)
    first = cache.index("t")
    cache.index("u")
    assert cache.index("t") is not first


def test_an_unknown_tenant_is_not_found(store) -> None:
    with pytest.raises(NotFound, match="Unknown tenant"):
        StatusIndexCache(store).index("nope")
