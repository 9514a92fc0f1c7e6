"""Render raised errors as JSON: ``{"error": ..., "description": ..., "request_id": ...}``.

Controllers and the Router raise ``webob.exc`` exceptions; this filter turns them into a
response with the exception's status and its own headers (``Allow``, ``WWW-Authenticate``,
``Location``...), ``Content-Type: application/json; charset=utf-8`` and a JSON body whose
``error`` is the status reason phrase ("Not Found") and ``description`` the exception's
detail, or its explanation when it has none.  zuul-client prints such answers as
``{error}: {description}``.  Any other exception is logged with its traceback and the request
id, and answered with a JSON 500 that says nothing of what went wrong inside.

The body iterable is watched too (only when it is not a list or a tuple, which cannot fail):
an exception raised before the first chunk is rendered the same way; one raised after the
response has started is logged and re-raised, so that the server closes the connection.

A HEAD request gets the same status and headers, and no body.  The filter has no options.

Paste deployment::

    [filter:faults]
    paste.filter_factory = ciweb.middleware.faults:filter_factory
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import webob.exc

from ciweb.middleware import plain_filter_factory
from ciweb.wsgi.router import JSON_CONTENT_TYPE, json_body

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Faults", "filter_factory"]

LOG = logging.getLogger(__name__)

# Headers of the exception's own response that the JSON rendering replaces.
_REPLACED = frozenset({"content-type", "content-length"})
# RFC 9110 §15.3.5, §15.4.5: 204 and 304 never have content; 1xx neither (§15.2).
_NO_CONTENT = frozenset({204, 304})
_INTERNAL_DESCRIPTION = (
    "The server has either erred or is incapable of performing the requested operation."
)


def error_body(
    error: str,
    description: str,
    request_id: str | None,
    fields: Mapping[str, Any] | None = None,
) -> bytes:
    """Return the JSON error document as UTF-8 bytes.

    :param error: the status reason phrase (``"Not Found"``) or a more precise error name.
    :param description: what went wrong, for the client.
    :param request_id: the request's id, or ``None``.
    :param fields: further keys, e.g. the ``realm`` of an authentication error.
    """
    document = {"error": error, "description": description, "request_id": request_id}
    if fields:
        document = {**fields, **document}
    return json_body(document)


def json_error(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    description: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """Answer a request with a JSON error in this filter's shape, from an application itself.

    :param status: the status line, e.g. ``"404 Not Found"``; its reason is the ``error``.
    :param description: what went wrong, for the client.
    :param extra: further response headers.
    """
    body = error_body(status.split(" ", 1)[1], description, environ.get("ciweb.request_id"))
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    start_response(status, [*headers, *(extra or [])])
    # RFC 9110 §9.3.2: the same header fields as GET, without content.
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _http_error_response(
    exc: webob.exc.HTTPException, environ: WSGIEnvironment
) -> tuple[str, list[tuple[str, str]], bytes]:
    response = exc.wsgi_response
    code = int(response.status_code)
    status = str(response.status)
    headers = [(k, v) for k, v in response.headerlist if k.lower() not in _REPLACED]
    if code < 200 or code in _NO_CONTENT:
        return status, headers, b""
    # An exception may name its error more precisely than the reason phrase (Zuul's
    # "TokenExpiredError") and add keys ("realm", "field") through ``error_fields``.
    reason = getattr(exc, "error", None) or status.partition(" ")[2]
    description = getattr(response, "detail", None) or getattr(response, "explanation", "")
    body = error_body(
        reason,
        str(description or reason),
        environ.get("ciweb.request_id"),
        getattr(exc, "error_fields", None),
    )
    headers.append(("Content-Type", JSON_CONTENT_TYPE))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


def _internal_error_response(
    environ: WSGIEnvironment,
) -> tuple[str, list[tuple[str, str]], bytes]:
    body = error_body(
        "Internal Server Error", _INTERNAL_DESCRIPTION, environ.get("ciweb.request_id")
    )
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    return "500 Internal Server Error", headers, body


def _render(exc: BaseException, exchange: _Exchange) -> list[bytes]:
    """Answer the request with the JSON rendering of *exc*, which is being handled."""
    environ = exchange.environ
    if isinstance(exc, webob.exc.HTTPException):
        status, headers, body = _http_error_response(exc, environ)
    else:
        LOG.exception(
            "Unexpected error in %s %s (request %s)",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            environ.get("ciweb.request_id", "-"),
        )
        status, headers, body = _internal_error_response(environ)
    # PEP 3333: when the application already called start_response, exc_info is what
    # allows replacing its headers (none are sent before the first body chunk; a server
    # that did send them re-raises).  Otherwise it is a first call: no exc_info, which
    # webob-based callers would re-raise.
    exchange.start_response(status, headers, sys.exc_info() if exchange.called else None)
    if environ.get("REQUEST_METHOD") == "HEAD":
        # RFC 9110 §9.3.2: the same header fields as GET, without content.
        return []
    return [body] if body else []


class _Exchange:
    """One request's environ and start_response, noting whether the application called it."""

    __slots__ = ("called", "environ", "start_response")

    def __init__(self, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self.environ = environ
        self.start_response = start_response
        self.called = False

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        self.called = True
        return self.start_response(status, headers, exc_info)


class _WatchedBody:
    """The application's body, passed through; an error in it is rendered or re-raised."""

    __slots__ = ("_exchange", "_iterable")

    def __init__(self, iterable: Iterable[bytes], exchange: _Exchange) -> None:
        self._iterable = iterable
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        started = False
        try:
            for chunk in self._iterable:
                if chunk:
                    started = True
                yield chunk
        except Exception as exc:
            if started:
                environ = self._exchange.environ
                LOG.exception(
                    "Error after the response started in %s %s (request %s); "
                    "the connection will be closed",
                    environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"),
                    environ.get("ciweb.request_id", "-"),
                )
                raise
            yield from _render(exc, self._exchange)

    def close(self) -> None:
        close = getattr(self._iterable, "close", None)
        if close is not None:
            close()


class Faults:
    """WSGI filter that renders every error as JSON (see the module docstring)."""

    def __init__(self, application: WSGIApplication) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        """
        self.application = application

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        exchange = _Exchange(environ, start_response)
        try:
            iterable = self.application(environ, exchange)
        except Exception as exc:
            return _render(exc, exchange)
        if isinstance(iterable, list | tuple):
            return iterable
        return _WatchedBody(iterable, exchange)


filter_factory = plain_filter_factory(Faults, "faults")
