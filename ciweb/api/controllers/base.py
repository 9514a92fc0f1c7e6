"""The base of the API controllers: the context, CI errors as HTTP errors, JSON responses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import webob

from ciweb.api.controllers.errors import http_error
from ciweb.ci.errors import CIError
from ciweb.wsgi.router import JSON_CONTENT_TYPE, Controller, json_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ciweb.api.context import ApiContext

__all__ = ["TOTAL_COUNT_HEADER", "ApiController", "json_response", "page_total"]

# Not in Zuul: the number of items the filters match, ignoring limit and skip.
TOTAL_COUNT_HEADER = "X-Total-Count"


def json_response(value: Any, *, total: int | None = None) -> webob.Response:
    """Return a 200 JSON response of *value*, with ``X-Total-Count`` when *total* is given.

    :param value: the document.
    :param total: the number of items of the whole (unpaged) list.
    """
    response = webob.Response(body=json_body(value), charset=None)
    response.headers["Content-Type"] = JSON_CONTENT_TYPE
    if total is not None:
        response.headers[TOTAL_COUNT_HEADER] = str(total)
    return response


class ApiController(Controller):
    """A controller of the CI API: holds the :class:`ApiContext`, maps CI errors to HTTP.

    Actions raise :mod:`ciweb.ci.errors` freely; :meth:`__call__` raises the matching
    ``webob.exc`` error (see :func:`ciweb.api.controllers.errors.http_error`), which the
    faults filter renders as JSON.
    """

    def __init__(self, context: ApiContext) -> None:
        """Build the controller.

        :param context: the store, options and authorisation hooks.
        """
        self.context = context

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return super().__call__(environ, start_response)
        except CIError as exc:
            raise http_error(exc) from None


def page_total(count: int, skip: int, limit: int, recount: Any) -> int:
    """Return the total of a paged list without a count query when the page tells it.

    A page shorter than *limit* that is not empty (or starts at 0) is the last one, so the
    total is ``skip + count``; otherwise *recount* is called.

    :param count: items on this page.
    :param skip: items skipped before it.
    :param limit: the page size asked for.
    :param recount: a callable returning the total from the database.
    """
    if count < limit and (count > 0 or skip == 0):
        return skip + count
    return int(recount())
