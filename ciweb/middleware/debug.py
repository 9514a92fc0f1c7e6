"""Log each request's environ, response status and headers, and body chunks, at DEBUG.

nova's ``Debug`` filter, logged instead of printed: the request environ (sorted by key), the
response status and headers, then each chunk of the body as it passes.  The body is
streamed, never buffered.  Credentials are masked (``Authorization``, ``Cookie``,
``X-Auth-Token``, ``Set-Cookie``): logs travel further than responses.  When the
``ciweb.middleware.debug`` logger is not enabled for DEBUG, requests pass through at the
cost of one level check.  The filter has no options; turn it on with the logger level.

Paste deployment::

    [filter:debug]
    paste.filter_factory = ciweb.middleware.debug:filter_factory

    [logger_debug]
    level = DEBUG
    handlers =
    qualname = ciweb.middleware.debug
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ciweb.middleware import plain_filter_factory

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["Debug", "filter_factory"]

LOG = logging.getLogger(__name__)

_SECRET_ENVIRON = frozenset({"HTTP_AUTHORIZATION", "HTTP_COOKIE", "HTTP_X_AUTH_TOKEN"})
_SECRET_HEADERS = frozenset({"set-cookie", "authorization", "www-authenticate"})
_MASK = "***"
_BANNER = "*" * 40


class _LoggedBody:
    """The application's body, each chunk logged as it passes."""

    __slots__ = ("_iterable",)

    def __init__(self, iterable: Iterable[bytes]) -> None:
        self._iterable = iterable

    def __iter__(self) -> Iterator[bytes]:
        LOG.debug("%s BODY", _BANNER)
        for chunk in self._iterable:
            LOG.debug("%r", chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self._iterable, "close", None)
        if close is not None:
            close()


def _log_start_response(start_response: StartResponse) -> StartResponse:
    def _start_response(
        status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        LOG.debug("%s RESPONSE %s", _BANNER, status)
        for name, value in headers:
            LOG.debug("%s = %s", name, _MASK if name.lower() in _SECRET_HEADERS else value)
        return start_response(status, headers, exc_info)

    return _start_response


class Debug:
    """WSGI filter that logs requests and responses at DEBUG (see the module docstring)."""

    def __init__(self, application: WSGIApplication) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        """
        self.application = application

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not LOG.isEnabledFor(logging.DEBUG):
            return self.application(environ, start_response)
        LOG.debug("%s REQUEST ENVIRON", _BANNER)
        for key in sorted(environ):
            LOG.debug("%s = %s", key, _MASK if key in _SECRET_ENVIRON else environ[key])
        iterable = self.application(environ, _log_start_response(start_response))
        return _LoggedBody(iterable)


filter_factory = plain_filter_factory(Debug, "debug")
