"""The HTTP status of each error the CI domain raises (reference/zuul-api.md §0 and §1)."""

from __future__ import annotations

import webob.exc

from ciweb.ci.errors import (
    CIError,
    Conflict,
    NotFound,
    QueryTimeout,
    Unavailable,
    ValidationError,
)

__all__ = ["IDX_MESSAGE", "http_error"]

# Zuul's own words for a non-integer idx_min or idx_max (zuul/web/__init__.py builds()).
IDX_MESSAGE = "idx_min, idx_max must be integers"
_IDX_FIELDS = frozenset({"idx_min", "idx_max"})
# Seconds a client should wait before retrying a query that ran out of time, or while the
# database is unavailable (a restart or a fail-over takes seconds).
_RETRY_AFTER = "5"


def http_error(exc: CIError) -> webob.exc.HTTPException:
    """Return the ``webob.exc`` error to raise for a CI domain error.

    NotFound is 404 with Zuul's message ("Unknown tenant", "Build not found"...);
    ValidationError is 400 naming the field; Conflict is 409; QueryTimeout and Unavailable
    are 503 with ``Retry-After`` (RFC 9110 §10.2.3, §15.6.4); anything else is a 500.

    :param exc: the error raised by :mod:`ciweb.ci`.
    """
    if isinstance(exc, NotFound):
        return webob.exc.HTTPNotFound(detail=str(exc))
    if isinstance(exc, ValidationError):
        if exc.field in _IDX_FIELDS and exc.message == "must be an integer":
            return webob.exc.HTTPBadRequest(detail=IDX_MESSAGE)
        return webob.exc.HTTPBadRequest(detail=str(exc))
    if isinstance(exc, Conflict):
        return webob.exc.HTTPConflict(detail=str(exc))
    if isinstance(exc, QueryTimeout | Unavailable):
        return webob.exc.HTTPServiceUnavailable(
            detail=str(exc), headers=[("Retry-After", _RETRY_AFTER)]
        )
    return webob.exc.HTTPInternalServerError(detail="unexpected CI error")
