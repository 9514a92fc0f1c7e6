"""Give every request an id, return it in a header and put it on every log line.

The id is stored in ``environ['ciweb.request_id']`` and sent back in a response header
(``X-Request-Id`` by default).  An id sent by the client or by a proxy in that same header
is kept when it is safe: 1 to ``inbound_max_length`` characters among letters, digits and
``. _ : -`` (so it cannot inject anything into a header or a log line); any other value is
replaced by a fresh ``req-`` + 32 hex digits id (``os.urandom``: 0.4 µs, against 1.7 µs for
``uuid4().hex``).

Every log line of the request carries the id through :class:`RequestIdLogFilter`: the
filter sets a :class:`contextvars.ContextVar` for the duration of the request, including
while the server consumes the response body, and resets it when the server closes the
body.  A context variable rather than a thread-local or a global because it is per green
thread under eventlet (greenlet gives each green thread its own context) and per thread
under threaded hosts (waitress, gunicorn gthread), so two requests served at once never see
each other's id, and nothing global is configured.  Add the log filter to the handlers
(``logging.config.dictConfig`` ``filters``; ``fileConfig`` has no filters, so the
``ciweb-api`` logging setup attaches it) and use ``%(request_id)s`` in log formats.

Paste deployment::

    [filter:request_id]
    paste.filter_factory = ciweb.middleware.request_id:filter_factory
    # Optional; defaults come from [request_id] in ciweb.conf.
    # header_name = X-Request-Id
    # accept_inbound = true
    # inbound_max_length = 64
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ciweb.conf import ConfigError
from ciweb.conf import request_id as request_id_conf
from ciweb.middleware import options_filter_factory

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["RequestId", "RequestIdLogFilter", "current_request_id", "filter_factory"]

LOG = logging.getLogger(__name__)

ENVIRON_KEY = "ciweb.request_id"

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "ciweb_request_id", default=None
)

# Letters, digits and . _ : - only: safe in a header value and in a log line.
_SAFE_CHARS = r"[A-Za-z0-9._:-]"
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


def current_request_id() -> str | None:
    """Return the id of the request being served in this (green) thread, if any."""
    return _CURRENT.get()


def generate_request_id() -> str:
    """Return a new request id: ``req-`` and 32 random hex digits."""
    return "req-" + os.urandom(16).hex()


class RequestIdLogFilter(logging.Filter):
    """Put ``record.request_id`` on every log record (``"-"`` outside a request).

    Attach it to handlers so that formats may use ``%(request_id)s``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate *record* with the current request id; never drop it."""
        record.request_id = _CURRENT.get() or "-"
        return True


class _ResetOnClose:
    """The response body, unchanged, that resets the request's context variable on close."""

    __slots__ = ("_iterable", "_token")

    def __init__(self, iterable: Iterable[bytes], token: contextvars.Token[str | None]) -> None:
        self._iterable = iterable
        self._token = token

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._iterable)

    def close(self) -> None:
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            _reset(self._token)


def _reset(token: contextvars.Token[str | None]) -> None:
    try:
        _CURRENT.reset(token)
    except ValueError:
        # Closed from another context than the one that served the request (a host
        # that closes bodies elsewhere): that context never saw the id; clear ours.
        _CURRENT.set(None)


class RequestId:
    """WSGI filter that assigns each request an id (see the module docstring)."""

    def __init__(
        self,
        application: WSGIApplication,
        *,
        header_name: str = "X-Request-Id",
        accept_inbound: bool = True,
        inbound_max_length: int = 64,
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param header_name: response (and inbound request) header of the id.
        :param accept_inbound: keep a safe id sent in that request header.
        :param inbound_max_length: longest inbound id kept, 8 to 256 characters.
        :raises ConfigError: naming the bad option.
        """
        if not _HEADER_NAME.fullmatch(header_name):
            raise ConfigError(f"[request_id] header_name: invalid header name {header_name!r}")
        if not 8 <= inbound_max_length <= 256:
            raise ConfigError(
                f"[request_id] inbound_max_length: {inbound_max_length} is not in 8..256"
            )
        self.application = application
        self.header_name = header_name
        self._environ_header = "HTTP_" + header_name.upper().replace("-", "_")
        self._accept_inbound = accept_inbound
        self._safe_id = re.compile(f"{_SAFE_CHARS}{{1,{inbound_max_length}}}")

    def _request_id(self, environ: WSGIEnvironment) -> str:
        if self._accept_inbound:
            inbound = environ.get(self._environ_header)
            if inbound and self._safe_id.fullmatch(inbound):
                return inbound
        return generate_request_id()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request_id = self._request_id(environ)
        environ[ENVIRON_KEY] = request_id
        header = (self.header_name, request_id)

        def _start_response(
            status: str,
            headers: list[tuple[str, str]],
            exc_info: OptExcInfo | None = None,
        ) -> Callable[[bytes], object]:
            # A new list: the application's own list may be a shared constant.
            return start_response(status, [*headers, header], exc_info)

        token = _CURRENT.set(request_id)
        try:
            iterable = self.application(environ, _start_response)
        except BaseException:
            _reset(token)
            raise
        return _ResetOnClose(iterable, token)


filter_factory = options_filter_factory(RequestId, request_id_conf.GROUP, request_id_conf.OPTS)
