"""Serve the Zuul dashboard's static files, with the single-page application's fallback.

The rules are zuul-web's ``StaticHandler`` (reference/zuul-api.md §1, "Static dashboard
fallback"), made safer:

* a query string containing ``path=`` is refused with 403, as Zuul does;
* a path that leaves ``static_path`` (``..`` segments, however encoded: the server has
  decoded ``%2e%2e`` and ``%2f`` into PATH_INFO already, and ``RAW_URI`` is checked as
  well; NUL bytes, backslashes, or a symlink pointing outside) is refused with 403;
* ``<path>/index.html`` if it exists, else the file itself, else the root ``index.html``
  with 200, so that deep links such as ``/t/{t}/build/{uuid}`` load the application;
* a path under ``/api/`` never falls back to ``index.html`` (Zuul's accident: unknown API
  paths answered 200 HTML); it gets a JSON 404, and so does a missing ``/assets/`` file
  (an HTML answer to a ``<script type=module>`` only hides the error);
* without ``index.html`` the dashboard is not installed: JSON 404 with the command to run.

Caching (RFC 9111): hashed Vite assets (``assets/index-Tpas1i_p.js``) never change, so they
are ``public, max-age=31536000, immutable`` (RFC 8246); ``index.html`` is ``no-cache`` so
that a browser revalidates it and picks up a new release at once; every file carries an
``ETag`` and ``Last-Modified``, and ``If-None-Match`` (or else ``If-Modified-Since``) is
answered 304 (RFC 9110 §13.1.1-2, §13.2.2).  JavaScript is ``text/javascript`` (RFC 9239),
which the compress filter in front of this application encodes like any ``text/*``.
"""

from __future__ import annotations

import email.utils
import logging
import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from ciweb.conf import ConfigError, paste_options
from ciweb.conf import dashboard as dashboard_conf
from ciweb.middleware.faults import json_error

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

LOG = logging.getLogger(__name__)

__all__ = ["Dispatch", "StaticFiles", "app_factory", "composite_factory"]

INDEX = "index.html"
NOT_INSTALLED = "dashboard not installed: run ciweb-manage dashboard install"
BLOCK_SIZE = 64 * 1024

# RFC 9239: text/javascript is the media type of JavaScript; the rest are IANA registrations.
CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".eot": "application/vnd.ms-fontobject",
    ".yaml": "application/yaml",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Vite names a built asset <name>-<8+ base64url characters>.<ext>: its content never changes.
HASHED_ASSET = re.compile(r"^/assets/(?:[^/]+/)*[^/]+-[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Percent-encoded dot segments or separators in the raw target, checked before decoding.
ENCODED_ESCAPE = re.compile(r"%2e%2e|%2f|%5c|%00", re.IGNORECASE)


class StaticFiles:
    """A WSGI application serving *static_path* with Zuul's single-page-application rules.

    :param static_path: the directory served; nothing outside it is ever read.
    :param max_age: Cache-Control max-age of files whose names carry no content hash; 0
        sends ``no-cache``.
    :param version: unused here (the release ``install`` fetches); accepted so that one
        ``[dashboard]`` group configures both.
    :param index_url: unused here, as *version*.
    """

    def __init__(
        self, static_path: str, *, max_age: int = 0, version: str = "", index_url: str = ""
    ) -> None:
        if not static_path:
            raise ConfigError("[dashboard] static_path: must not be empty")
        if max_age < 0:
            raise ConfigError(f"[dashboard] max_age: {max_age} is negative")
        self.root = os.path.realpath(static_path)
        self.plain_cache_control = f"public, max-age={max_age}" if max_age else REVALIDATE

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one request for a file, the application's index, or an error."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _error(
                environ,
                start_response,
                "405 Method Not Allowed",
                "GET, HEAD only",
                [("Allow", "GET, HEAD")],
            )
        # PATH_INFO alone: a proxy's prefix (SCRIPT_NAME) is not part of the file's name.
        path = environ.get("PATH_INFO") or "/"
        if "path=" in environ.get("QUERY_STRING", ""):
            # zuul-web refuses any query naming a path (StaticHandler.default).
            return _error(environ, start_response, "403 Forbidden", "Forbidden")
        segments = _segments(path, environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
        if segments is None:
            return _error(environ, start_response, "403 Forbidden", "Forbidden")
        found = self._resolve(segments)
        if found == "":
            return _error(environ, start_response, "403 Forbidden", "Forbidden")
        if found is None:
            if path.startswith("/api/") or path == "/api" or path.startswith("/assets/"):
                return _error(environ, start_response, "404 Not Found", "Not Found")
            found = os.path.join(self.root, INDEX)
            if not os.path.isfile(found):
                return _error(environ, start_response, "404 Not Found", NOT_INSTALLED)
        return self._serve(environ, start_response, path, found, method == "HEAD")

    def _resolve(self, segments: list[str]) -> str | None:
        """Return the file to serve, None when there is none, "" when it lies outside."""
        candidate = os.path.realpath(os.path.join(self.root, *segments))
        if os.path.isdir(candidate):
            candidate = os.path.realpath(os.path.join(candidate, INDEX))
        # Symlinks are resolved first, so one pointing outside the root is caught here.
        if not candidate.startswith(self.root + os.sep):
            return ""
        return candidate if os.path.isfile(candidate) else None

    def _serve(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        path: str,
        filename: str,
        head_only: bool,
    ) -> Iterable[bytes]:
        try:
            handle = open(filename, "rb")  # noqa: SIM115 - closed by _FileBody
        except OSError:
            LOG.warning("cannot read %s", filename)
            return _error(environ, start_response, "404 Not Found", "Not Found")
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            handle.close()
            return _error(environ, start_response, "404 Not Found", "Not Found")
        etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
        last_modified = email.utils.formatdate(int(info.st_mtime), usegmt=True)
        headers = [
            ("Cache-Control", self._cache_control(path, filename)),
            ("ETag", etag),
            ("Last-Modified", last_modified),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if _not_modified(environ, etag, int(info.st_mtime)):
            handle.close()
            start_response("304 Not Modified", headers)
            return []
        ext = os.path.splitext(filename)[1].lower()
        headers += [
            ("Content-Type", CONTENT_TYPES.get(ext, DEFAULT_CONTENT_TYPE)),
            ("Content-Length", str(info.st_size)),
        ]
        start_response("200 OK", headers)
        if head_only:
            handle.close()
            return []
        return _FileBody(handle)

    def _cache_control(self, path: str, filename: str) -> str:
        if os.path.basename(filename) == INDEX:
            # RFC 9111 §5.2.2.4: stored but revalidated on every use, so a new release shows.
            return REVALIDATE
        if HASHED_ASSET.match(path):
            # RFC 8246: a content-hashed name never changes content; no revalidation needed.
            return IMMUTABLE
        return self.plain_cache_control


class _FileBody:
    """Iterate a file in blocks; ``close()`` closes it (PEP 3333)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self.handle.read(BLOCK_SIZE)
            if not block:
                return
            yield block

    def close(self) -> None:
        self.handle.close()


def _segments(path: str, raw_target: str) -> list[str] | None:
    """Return the safe path segments of *path*, or None when it tries to escape."""
    raw_path = raw_target.split("?", 1)[0]
    if ENCODED_ESCAPE.search(raw_path) or "\x00" in path or "\\" in path:
        return None
    segments = [s for s in path.split("/") if s and s != "."]
    if any(s == ".." for s in segments):
        return None
    return segments


def _not_modified(environ: WSGIEnvironment, etag: str, mtime: int) -> bool:
    """Evaluate the conditional request headers against the file (RFC 9110 §13.2.2)."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        # RFC 9110 §13.1.2: weak comparison; "*" matches any current representation.
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False  # RFC 9110 §13.1.3: an invalid date is ignored
        return mtime <= since.timestamp()
    return False


def _error(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    description: str,
    extra: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    """Answer a JSON error in the faults filter's shape, never stored by a cache."""
    no_store = [("Cache-Control", "no-store"), *(extra or [])]
    return json_error(environ, start_response, status, description, no_store)


def app_factory(global_conf: Mapping[str, str], **local_conf: str) -> StaticFiles:
    """Return the dashboard application configured by ``[dashboard]`` and local ini keys.

    :param global_conf: paste's global configuration; ``config_file`` names ciweb.conf.
    :param local_conf: the app section's keys (``static_path``, ``max_age``...).
    :raises ConfigError: naming an unknown or bad option.
    """
    options: dict[str, Any] = paste_options(
        global_conf, local_conf, dashboard_conf.GROUP, dashboard_conf.OPTS
    )
    app = StaticFiles(**options)
    if not os.path.isfile(os.path.join(app.root, INDEX)):
        LOG.warning("%s: %s", app.root, NOT_INSTALLED)
    return app


class Dispatch:
    """Send API paths to the API pipeline unchanged and every other path to the dashboard.

    paste's ``urlmap`` would move the ``/api`` prefix into SCRIPT_NAME, but the API's routes
    and filters (cache policies, healthcheck) match full ``/api/...`` paths in PATH_INFO;
    this dispatcher leaves the environ as it is.

    :param api: the API pipeline.
    :param dashboard: the dashboard pipeline.
    :param api_paths: path prefixes (whole segments) that belong to the API.
    """

    def __init__(
        self,
        api: WSGIApplication,
        dashboard: WSGIApplication,
        *,
        api_paths: Sequence[str] = ("/api", "/healthcheck"),
    ) -> None:
        for prefix in api_paths:
            if not prefix.startswith("/") or prefix.endswith("/"):
                raise ConfigError(f"api_paths: {prefix!r} must start and not end with /")
        self.api = api
        self.dashboard = dashboard
        self.api_paths = tuple(api_paths)
        self.api_trees = tuple(p + "/" for p in api_paths)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Pass the request to the API or to the dashboard."""
        path = environ.get("PATH_INFO") or "/"
        if path in self.api_paths or path.startswith(self.api_trees):
            return self.api(environ, start_response)
        return self.dashboard(environ, start_response)


def composite_factory(loader: Any, global_conf: Mapping[str, str], **local_conf: str) -> Dispatch:
    """Return a :class:`Dispatch` of the apps named by the ``api`` and ``dashboard`` keys.

    :param loader: paste's loader of the other sections.
    :param global_conf: paste's global configuration.
    :param local_conf: ``api`` and ``dashboard`` (section names), optional ``api_paths``
        (space-separated prefixes, default ``/api /healthcheck``).
    :raises ConfigError: when a key is missing or unknown.
    """
    unknown = set(local_conf) - {"api", "dashboard", "api_paths"}
    if unknown or "api" not in local_conf or "dashboard" not in local_conf:
        raise ConfigError(
            "dashboard dispatch: needs the keys api and dashboard (and optionally api_paths)"
        )
    api_paths = local_conf.get("api_paths", "/api /healthcheck").split()
    return Dispatch(
        loader.get_app(local_conf["api"], global_conf=global_conf),
        loader.get_app(local_conf["dashboard"], global_conf=global_conf),
        api_paths=api_paths,
    )
