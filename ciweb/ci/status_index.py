"""The queue items of a status document by change, parsed once per document and process.

Zuul answers ``status/change/{id}`` from the status payload it keeps in memory; ciweb keeps
the document in the database with its ETag.  :class:`StatusIndexCache` reads the ETag (a
small query), and only when it differs from the one it holds does it read and parse the
document and index its items by ref id, so an unchanged document is parsed once per process
however many changes are looked up.  Nothing here is global: each read controller owns one
cache, and a stale entry is never served because every lookup compares ETags first.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ciweb.ci import queries
from ciweb.ci.store import Store

__all__ = ["ChangeIndex", "StatusIndexCache", "items_by_change"]


def _items(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for pipeline in document.get("pipelines", ()):
        for queue in pipeline.get("change_queues", ()):
            for head in queue.get("heads", ()):
                yield from head


def items_by_change(document: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return ref id -> the queue items with a ref of that id, in document order.

    A ref's id is ``"N,P"`` for a change and the new revision for a branch (Zuul's
    ``RefFilter``); an item of a circular-dependency bundle is listed under each of its refs.

    :param document: a decoded status document.
    """
    found: dict[str, list[dict[str, Any]]] = {}
    for item in _items(document):
        seen: set[str] = set()
        for ref in item.get("refs", ()):
            ref_id = ref.get("id")
            if isinstance(ref_id, str) and ref_id not in seen:
                seen.add(ref_id)
                found.setdefault(ref_id, []).append(item)
    return found


@dataclasses.dataclass(frozen=True)
class ChangeIndex:
    """A parsed status document: its validators and its items by change."""

    etag: str
    last_modified: dt.datetime
    items: Mapping[str, list[dict[str, Any]]]

    @classmethod
    def parse(cls, status: queries.Status) -> ChangeIndex:
        """Parse and index *status*.

        :param status: the stored document.
        """
        return cls(status.etag, status.last_modified, items_by_change(json.loads(status.body)))

    def lookup(self, change: str) -> list[dict[str, Any]]:
        """Return the items of *change* (``[]`` when none)."""
        return self.items.get(change, [])


class StatusIndexCache:
    """The latest :class:`ChangeIndex` of each tenant, least recently used out first.

    :param store: the CI store.
    :param max_tenants: how many tenants' documents are kept.
    """

    def __init__(self, store: Store, *, max_tenants: int = 256) -> None:
        if max_tenants < 1:
            raise ValueError("max_tenants must be at least 1")
        self.store = store
        self.max_tenants = max_tenants
        self._entries: collections.OrderedDict[str, ChangeIndex] = collections.OrderedDict()
        # A threading lock: green under eventlet's monkey-patching, held for dict updates only.
        self._lock = threading.Lock()

    def index(self, tenant: str) -> ChangeIndex:
        """Return the index of *tenant*'s current status document.

        :raises NotFound: "Unknown tenant".
        """
        validators = queries.status_validators(self.store, tenant)
        if validators is None:
            # Nothing reported yet: the empty document has no items to parse.
            created = queries.tenant_created(self.store, tenant)
            return ChangeIndex("", created, {})
        with self._lock:
            cached = self._entries.get(tenant)
            if cached is not None and cached.etag == validators[0]:
                self._entries.move_to_end(tenant)
                return cached
        # Parsed outside the lock: two requests may parse the same new document once each.
        fresh = ChangeIndex.parse(queries.status(self.store, tenant))
        with self._lock:
            self._entries[tenant] = fresh
            self._entries.move_to_end(tenant)
            while len(self._entries) > self.max_tenants:
                self._entries.popitem(last=False)
        return fresh
