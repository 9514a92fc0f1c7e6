"""Compress responses with gzip or brotli, chunk by chunk, as the client accepts.

A response is compressed when the client accepts a coding the filter offers (RFC 9110
§12.5.3, q-values honoured, ``q=0`` refuses), its media type is listed, and none of these
holds: the request is HEAD; the status is 1xx, 204 or 304; the response already has a
``Content-Encoding``; its ``Content-Length`` is known and below ``min_size``; it says
``Cache-Control: no-transform`` (RFC 9110 §7.7).  Bodies are never joined: each chunk the
application yields goes through one compressor object and is flushed, so streaming
responses stay streaming.  ``Content-Length`` is removed; ``Vary: Accept-Encoding`` is
added to every response of a compressible type, compressed or not, extending any Vary.

ETag: a compressed response is a different representation, so its entity tag is
suffixed per coding (RFC 9110 §8.8.3.3): ``"abc"`` becomes ``"abc-gzip"`` or ``"abc-br"``
and ``W/"abc"`` becomes ``W/"abc-gzip"``.  Compression is deterministic for a given body,
level and chunking, so the suffixed tag stays strong.  Conditional requests are evaluated
by the cache filter, which sits *outside* compress and so compares the client's
``If-None-Match`` with the tag of the variant actually sent.

Place it inside ``cache`` and ``faults`` (an exception passes through untouched)::

    [filter:compress]
    paste.filter_factory = ciweb.middleware.compress:filter_factory
    # Defaults come from [compress] in ciweb.conf; local keys override them here.
    encodings = br, gzip
    min_size = 1024
    content_types = application/json, application/javascript, application/xml, text/*
    gzip_level = 6
    brotli_quality = 4
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ciweb.conf import ConfigError
from ciweb.conf import compress as compress_conf
from ciweb.middleware import options_filter_factory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is optional
    brotli = None

__all__ = ["Compress", "filter_factory"]

LOG = logging.getLogger(__name__)

# Statuses that never carry content (RFC 9110 §6.4.1, §15.3.5, §15.4.5).
_NO_BODY_STATUS = frozenset({"204", "304"})
# RFC 9110 §12.5.3: at most this many parsed Accept-Encoding values are remembered; clients
# send a handful of distinct strings, so the parse runs once per string, not per request.
_AE_CACHE_SIZE = 256
_VARY_VALUE = "Accept-Encoding"


class _Encoder(Protocol):
    def compress(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Gzip:
    """A gzip stream; each chunk is sync-flushed so the client can decode it at once."""

    __slots__ = ("_z",)

    def __init__(self, level: int) -> None:
        # wbits 31: gzip container with mtime 0, so equal input gives equal bytes.
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _Brotli:
    """A brotli stream, flushed per chunk."""

    __slots__ = ("_b",)

    def __init__(self, quality: int) -> None:
        self._b = brotli.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        return self._b.process(data) + self._b.flush()

    def finish(self) -> bytes:
        return self._b.finish()


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Return the codings of an ``Accept-Encoding`` value with their q-values.

    :param value: the header value, e.g. ``"gzip;q=0.8, br, *;q=0"``.
    """
    accepted: dict[str, float] = {}
    for item in value.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, raw = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(raw.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # RFC 9110 §12.4.2: an invalid weight is no acceptance
        # RFC 9110 §8.4.1.3: x-gzip is gzip.
        accepted["gzip" if coding == "x-gzip" else coding] = q
    return accepted


def _suffix_etag(value: str, coding: str) -> str:
    # RFC 9110 §8.8.3.3: each content coding is its own representation with its own tag.
    if value.endswith('"') and len(value) >= 2:
        return f'{value[:-1]}-{coding}"'
    return value


class _Body:
    """The response iterable: compresses each chunk if start_response decided so."""

    __slots__ = ("_app_iter", "_state")

    def __init__(self, app_iter: Iterable[bytes], state: list[Any]) -> None:
        self._app_iter = app_iter
        self._state = state

    def __iter__(self) -> Iterator[bytes]:
        encoder: _Encoder | None = None
        for chunk in self._app_iter:
            if encoder is None:
                encoder = self._state[0]
                if encoder is None:
                    yield chunk
                    continue
            if chunk:
                out = encoder.compress(chunk)
                if out:
                    yield out
        encoder = self._state[0]
        if encoder is not None:
            yield encoder.finish()

    def close(self) -> None:
        close = getattr(self._app_iter, "close", None)
        if close is not None:
            close()


def _usable_codings(encodings: Iterable[str]) -> list[str]:
    """Return the codings of *encodings* this process can apply, in order.

    :param encodings: the ``encodings`` option.
    :raises ConfigError: on an unknown coding, or when none is left.
    """
    offered: list[str] = []
    for coding in encodings:
        coding = coding.strip().lower()
        if coding not in ("br", "gzip"):
            raise ConfigError(f"[compress] encodings: unknown coding {coding!r}")
        if coding == "br" and brotli is None:
            LOG.info("compress: the brotli module is not installed; offering gzip only")
            continue
        offered.append(coding)
    if not offered:
        raise ConfigError("[compress] encodings: no usable coding left")
    return offered


class Compress:
    """WSGI filter that applies a content coding to compressible responses."""

    def __init__(
        self,
        application: WSGIApplication,
        *,
        encodings: Iterable[str] = ("br", "gzip"),
        min_size: int = 1024,
        content_types: Iterable[str] = ("application/json", "text/*"),
        gzip_level: int = 6,
        brotli_quality: int = 4,
    ) -> None:
        """Wrap *application*.

        :param application: the next WSGI application.
        :param encodings: codings offered, preferred first (``br``, ``gzip``).
        :param min_size: smallest known Content-Length that is compressed.
        :param content_types: media types compressed; ``type/*`` matches a whole type.
        :param gzip_level: zlib level 1-9.
        :param brotli_quality: brotli quality 0-11.
        :raises ConfigError: naming a bad option.
        """
        self.application = application
        offered = _usable_codings(encodings)
        if min_size < 0:
            raise ConfigError("[compress] min_size must be >= 0")
        if not 1 <= gzip_level <= 9:
            raise ConfigError("[compress] gzip_level must be between 1 and 9")
        if not 0 <= brotli_quality <= 11:
            raise ConfigError("[compress] brotli_quality must be between 0 and 11")
        types = [t.strip().lower() for t in content_types if t.strip()]
        if not types or any("/" not in t for t in types):
            raise ConfigError("[compress] content_types: each entry must be type/subtype")
        self._offered = tuple(offered)
        self._min_size = min_size
        self._exact = frozenset(t for t in types if not t.endswith("/*"))
        self._wild = frozenset(t[:-1] for t in types if t.endswith("/*"))
        self._suffixes = tuple(
            s
            for s, t in (("+json", "application/json"), ("+xml", "application/xml"))
            if t in self._exact
        )
        self._factories: dict[str, Callable[[], _Encoder]] = {
            "gzip": lambda: _Gzip(gzip_level),
            "br": lambda: _Brotli(brotli_quality),
        }
        self._choices: dict[str, str | None] = {}

    def _choose(self, accept_encoding: str) -> str | None:
        """Return the coding to use for *accept_encoding*, or None for identity."""
        choice = self._choices.get(accept_encoding, "")
        if choice != "":
            return choice
        accepted = parse_accept_encoding(accept_encoding)
        star = accepted.get("*", 0.0)
        best, best_q = None, 0.0
        for coding in self._offered:  # server preference breaks ties
            q = accepted.get(coding, star)  # RFC 9110 §12.5.3: "*" covers codings not named
            if q > best_q:
                best, best_q = coding, q
        if len(self._choices) < _AE_CACHE_SIZE:
            self._choices[accept_encoding] = best
        return best

    def _compressible(self, content_type: str) -> bool:
        media = content_type.partition(";")[0].strip().lower()
        if media in self._exact:
            return True
        slash = media.find("/")
        if slash > 0 and media[: slash + 1] in self._wild:
            return True
        return bool(self._suffixes) and media.endswith(self._suffixes)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "HEAD":
            return self.application(environ, start_response)
        accept = environ.get("HTTP_ACCEPT_ENCODING")
        coding = self._choose(accept) if accept else None
        state: list[Any] = [None, False]  # [encoder or None, start_response called]

        def _start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            headers = self._rewrite(status, headers, coding, state)
            state[1] = True
            write = start_response(status, headers, exc_info)
            if state[0] is None:
                return write
            encoder: _Encoder = state[0]
            return lambda data: write(encoder.compress(data))

        app_iter = self.application(environ, _start_response)
        if state[1] and state[0] is None:
            return app_iter  # decided already, nothing to encode: no wrapper in the way
        return _Body(app_iter, state)

    def _rewrite(
        self,
        status: str,
        headers: list[tuple[str, str]],
        coding: str | None,
        state: list[Any],
    ) -> list[tuple[str, str]]:
        """Return the headers to send; set ``state[0]`` to an encoder if compressing."""
        state[0] = None
        if status[:1] == "1" or status[:3] in _NO_BODY_STATUS:
            return headers
        content_type = length = None
        vary_at = -1
        for i, (name, value) in enumerate(headers):
            lname = name.lower()
            if lname == "content-type":
                content_type = value
            elif lname == "content-length":
                length = value
            elif lname == "vary":
                vary_at = i
            elif lname == "content-encoding" or (
                # RFC 9110 §7.7 / RFC 9111 §5.2.2.6: no-transform forbids changing the coding.
                lname == "cache-control" and "no-transform" in value.lower()
            ):
                return headers
        if content_type is None or not self._compressible(content_type):
            return headers
        headers = list(headers)
        _add_vary(headers, vary_at)
        if coding is None:
            return headers
        if length is not None and length.strip().isdigit() and int(length) < self._min_size:
            return headers
        out = [("Content-Encoding", coding)]
        for name, value in headers:
            lname = name.lower()
            if lname == "content-length":
                continue  # the compressed length is not known in advance
            if lname == "etag":
                value = _suffix_etag(value, coding)
            out.append((name, value))
        state[0] = self._factories[coding]()
        return out


def _add_vary(headers: list[tuple[str, str]], vary_at: int) -> None:
    """Add Accept-Encoding to the Vary header at *vary_at* (or a new one), never replacing."""
    if vary_at < 0:
        headers.append(("Vary", _VARY_VALUE))
        return
    name, value = headers[vary_at]
    fields = {f.strip().lower() for f in value.split(",")}
    if "*" in fields or "accept-encoding" in fields:
        return
    # RFC 9110 §12.5.5: Vary is a list; extend it.
    headers[vary_at] = (name, f"{value}, {_VARY_VALUE}" if value.strip() else _VARY_VALUE)


filter_factory = options_filter_factory(Compress, compress_conf.GROUP, compress_conf.OPTS)
