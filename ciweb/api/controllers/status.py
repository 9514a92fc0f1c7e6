"""``status`` and ``status/change/{change}``: the live pipelines of a tenant.

The status document is stored pre-serialised with its ``ETag`` and ``Last-Modified``; it is
sent as stored, and a conditional request that matches is answered ``304 Not Modified``
here, so that it works under any pipeline (the cache filter does the same for the variants
it compresses, whose tags carry a coding suffix).
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING

import webob

from ciweb.api.controllers.base import ApiController
from ciweb.ci import queries
from ciweb.ci.status_index import StatusIndexCache
from ciweb.wsgi.router import JSON_CONTENT_TYPE, json_body

if TYPE_CHECKING:
    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = ["STATUS_CACHE_CONTROL", "StatusController", "http_date", "not_modified"]


# zuul-web's status cache lives one second, and its answers say so.
STATUS_CACHE_CONTROL = "public, max-age=1"


def http_date(value: dt.datetime) -> str:
    """Return the naive UTC *value* as an HTTP date (RFC 9110 §5.6.7)."""
    return format_datetime(value.replace(tzinfo=dt.UTC, microsecond=0), usegmt=True)


def _etag_list(header: str) -> list[str]:
    # RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, comma-separated.
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag:
            tags.append(tag)
    return tags


def not_modified(req: Request, etag: str, last_modified: dt.datetime) -> bool:
    """Return whether the client's copy is current, by RFC 9110 §13.2.2's order.

    :param req: the request, with ``If-None-Match`` and/or ``If-Modified-Since``.
    :param etag: the strong entity tag of the document (quoted).
    :param last_modified: when it changed, naive UTC.
    """
    inm = req.headers.get("If-None-Match")
    if inm is not None:
        # RFC 9110 §13.1.2: weak comparison; If-None-Match makes If-Modified-Since ignored.
        return inm.strip() == "*" or etag in _etag_list(inm)
    ims = req.headers.get("If-Modified-Since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False  # RFC 9110 §13.1.3: an invalid date is ignored
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    # HTTP dates have whole seconds: compare at that precision.
    changed = last_modified.replace(tzinfo=dt.UTC, microsecond=0)
    return changed <= since


class StatusController(ApiController):
    """Serve the status document and the items of one change."""

    def __init__(self, context: ApiContext) -> None:
        """Build the controller with its own cache of parsed documents.

        :param context: the API context.
        """
        super().__init__(context)
        self._indexes = StatusIndexCache(context.store)

    def status(self, req: Request, tenant: str) -> webob.Response:
        """Return the stored status bytes with ``ETag`` and ``Last-Modified``, or a 304."""
        self.context.authorize_read(req, tenant)
        doc = queries.status(self.context.store, tenant)
        validators = [("ETag", doc.etag), ("Last-Modified", http_date(doc.last_modified))]
        if not_modified(req, doc.etag, doc.last_modified):
            # RFC 9110 §15.4.5: no content; the ETag the 200 would carry (Last-Modified
            # adds nothing next to it).
            return webob.Response(status=304, headerlist=validators[:1])
        return webob.Response(
            body=doc.body,
            headerlist=[("Content-Type", JSON_CONTENT_TYPE), *validators],
        )

    def status_change(self, req: Request, tenant: str, change: str) -> webob.Response:
        """Return every queue item with a ref whose id is *change*; ``[]`` when none.

        Served from the document parsed once per ETag (Zuul answers from its status cache),
        with the headers of Zuul's status cache: ``Cache-Control: public, max-age=1`` and
        the document's ``Last-Modified``.
        """
        self.context.authorize_read(req, tenant)
        index = self._indexes.index(tenant)
        return webob.Response(
            body=json_body(index.lookup(change)),
            headerlist=[
                ("Content-Type", JSON_CONTENT_TYPE),
                ("Cache-Control", STATUS_CACHE_CONTROL),
                ("Last-Modified", http_date(index.last_modified)),
            ],
        )
