"""Refuse request bodies larger than a limit with 413 Content Too Large.

A ``Content-Length`` above ``max_request_body_size`` is refused before the application runs.
A body without ``Content-Length`` (``Transfer-Encoding: chunked``, or any host that marks
its input ``wsgi.input_terminated``) cannot be judged up front: ``wsgi.input`` is wrapped in
a reader that counts what the application reads and raises
``webob.exc.HTTPRequestEntityTooLarge`` once it has read past the limit, never pulling more
than one byte beyond it from the client.  Both are raised, for the faults filter to render
(RFC 9110 §15.5.14: 413).  Requests with a body within a declared ``Content-Length`` pass
through untouched: the server already stops reading at that length.

Paste deployment::

    [filter:sizelimit]
    paste.filter_factory = ciweb.middleware.sizelimit:filter_factory
    # Optional; the default comes from [sizelimit] in ciweb.conf (1 MiB).
    # max_request_body_size = 1048576
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import webob.exc

from ciweb.conf import ConfigError
from ciweb.conf import sizelimit as sizelimit_conf
from ciweb.middleware import options_filter_factory

if TYPE_CHECKING:
    from _typeshed.wsgi import InputStream, StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["LimitedInput", "SizeLimit", "filter_factory"]

_READ_CHUNK = 65536


def _too_large(limit: int) -> webob.exc.HTTPRequestEntityTooLarge:
    return webob.exc.HTTPRequestEntityTooLarge(
        detail=f"the request body is larger than {limit} bytes"
    )


class LimitedInput:
    """A ``wsgi.input`` that raises 413 once more than *limit* bytes have been read."""

    def __init__(self, stream: InputStream, limit: int) -> None:
        """Count what is read from *stream*.

        :param stream: the server's ``wsgi.input``.
        :param limit: the largest number of bytes that may be read.
        """
        self._stream = stream
        self._limit = limit
        self._consumed = 0

    def _account(self, data: bytes) -> bytes:
        self._consumed += len(data)
        if self._consumed > self._limit:
            raise _too_large(self._limit)
        return data

    def _allowance(self, size: int | None) -> int:
        # Never ask for more than one byte past the limit: enough to know it is exceeded.
        left = self._limit - self._consumed + 1
        if left <= 0:
            raise _too_large(self._limit)
        return left if size is None or size < 0 else min(size, left)

    def read(self, size: int | None = -1) -> bytes:
        """Read up to *size* bytes (all, when negative), raising 413 past the limit."""
        if size is not None and size >= 0:
            return self._account(self._stream.read(self._allowance(size)))
        parts: list[bytes] = []
        while True:
            data = self._account(self._stream.read(min(self._allowance(None), _READ_CHUNK)))
            if not data:
                return b"".join(parts)
            parts.append(data)

    def readline(self, size: int | None = -1) -> bytes:
        """Read one line of at most *size* bytes, raising 413 past the limit."""
        return self._account(self._stream.readline(self._allowance(size)))

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Read the remaining lines, raising 413 past the limit."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class SizeLimit:
    """WSGI filter that limits the size of request bodies (see the module docstring)."""

    def __init__(self, application: WSGIApplication, *, max_request_body_size: int = 1048576):
        """Wrap *application*.

        :param application: the next WSGI application.
        :param max_request_body_size: largest body accepted, in bytes (at least 1).
        :raises ConfigError: naming the bad option.
        """
        if max_request_body_size < 1:
            raise ConfigError(
                f"[sizelimit] max_request_body_size: {max_request_body_size} is below 1"
            )
        self.application = application
        self.limit = max_request_body_size

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if length:
            try:
                declared = int(length)
            except ValueError:
                raise webob.exc.HTTPBadRequest(detail="invalid Content-Length") from None
            if declared > self.limit:
                raise _too_large(self.limit)
        elif "HTTP_TRANSFER_ENCODING" in environ or environ.get("wsgi.input_terminated"):
            environ["wsgi.input"] = LimitedInput(environ["wsgi.input"], self.limit)
        return self.application(environ, start_response)


filter_factory = options_filter_factory(SizeLimit, sizelimit_conf.GROUP, sizelimit_conf.OPTS)
