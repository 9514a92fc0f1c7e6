"""Zuul's console-stream websocket as a paste filter in front of the API.

Path and protocol are zuul-web's (reference/zuul-api.md §2): ``GET
/api/tenant/{tenant}/console-stream`` (or ``/api/console-stream`` with a whitelabel
``tenant``) upgrades to a websocket (RFC 6455); the client's first text message is
``{"uuid": ..., "logfile": ..., "token"?: ...}`` (both ``uuid`` and ``logfile`` required);
the server sends the console as text frames and closes with

* 4000: a bad request (not JSON, a key missing), or a refused token: the reason is Zuul's
  error name (``MissingAuthError``, ``TokenExpiredError``...) or "Authorization error" for a
  valid token without a right on the tenant;
* 4011: "Build not found" (unknown build, or a build of another tenant), "Build did not
  start yet", "Error with log streaming" (the finger streamer is unreachable);
* 1000 "No more data" at the end of the stream, 1000 "Remote error" when the streamer fails;
* 1001 "Idle timeout" after ``idle_timeout`` seconds without new text.

Two sources, chosen per build:

* **reported text** (the default): console chunks a CI system appends through the reporting
  API (:func:`ciweb.ci.admin.append_console`).  A late viewer gets the whole log, then
  follows by polling the database every ``poll_interval`` seconds, so it works across
  workers and hosts.  The stream ends at the end marker or once the build has a result.
* **a finger streamer**: a build with an artifact whose ``url`` is
  ``finger://HOST:PORT[/...]`` and no reported text is relayed from Zuul's log streaming
  protocol: connect, send ``"<uuid>\\n"``, forward what arrives in reads of up to 1024 bytes.
  A CI system records it when the build starts, e.g. ``update_build(..., {"artifacts":
  [{"name": "console stream", "url": "finger://executor1:7900"}]})``.

Read protection is the REST API's (:class:`ciweb.api.auth.Auth`, ``[auth]
read_protected_tenants`` of the same ciweb.conf): the stream of a protected tenant needs the
``token`` of the first message, with a read (or report or admin) right on the tenant, and it
is checked before the build is looked up, so a refused client learns nothing of the builds.
For an open tenant the token is ignored, not even decoded, as a REST read without protection
ignores it.  A token that expires while its stream runs does not end that stream.

Bounds: ``max_streams`` per process (503 before the upgrade, so a refused client costs
nothing), ``idle_timeout``, and backpressure: each frame is sent before the next chunk is
read, and a send that waits longer than ``send_timeout`` for the viewer drops the stream,
so a slow viewer never grows the server's memory.

The websocket framing is eventlet's (:class:`eventlet.websocket.WebSocketWSGI`), imported on
the first upgrade only: eventlet stays out of every other host's import path
(ARCHITECTURE.md).  Under another WSGI host the path answers 501 in JSON.

This module is the filter: which requests become streams, and how many at once.  What one
stream does, from the first message to the close frame, is :mod:`ciweb.api.console_session`.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ciweb.api.app import make_store
from ciweb.api.auth import Auth, auth_from_paste
from ciweb.api.console_session import Handler, Limits
from ciweb.ci.store import Store
from ciweb.conf import ConfigError, paste_options
from ciweb.conf import console as console_conf
from ciweb.conf import database as database_conf
from ciweb.middleware.faults import json_error

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

LOG = logging.getLogger(__name__)

__all__ = ["ConsoleStream", "filter_factory"]

TENANT_PATH = re.compile(r"^/api/tenant/(?P<tenant>[^/]+)/console-stream/?$")
WHITELABEL_PATH = re.compile(r"^/api/console-stream/?$")
MAX_INCOMING = 64 * 1024  # the client only ever sends one small JSON request


class ConsoleStream:
    """Answer the console-stream paths with a websocket; pass every other request on.

    :param application: the API application wrapped.
    :param store: the CI store console text and builds are read from.
    :param auth: the read protection of tenants and the token check; None protects nothing.
    :param tenant: whitelabel tenant for ``/api/console-stream``; empty disables that form.
    :param max_streams: most streams open at once in this process.
    :param poll_interval: seconds between database reads of a followed stream.
    :param read_batch: most chunks read from the database at once.
    :param idle_timeout: seconds without new text before the stream is closed.
    :param first_message_timeout: seconds the client has to send its request.
    :param send_timeout: seconds one frame may wait for the viewer's socket.
    :param heartbeat: seconds between pings on a quiet stream; 0 disables them.
    :param finger_connect_timeout: seconds to connect to a finger streamer.
    """

    def __init__(
        self,
        application: WSGIApplication,
        *,
        store: Store,
        auth: Auth | None = None,
        tenant: str = "",
        max_streams: int = 100,
        poll_interval: float = 0.25,
        read_batch: int = 50,
        idle_timeout: float = 600.0,
        first_message_timeout: float = 30.0,
        send_timeout: float = 60.0,
        heartbeat: float = 20.0,
        finger_connect_timeout: float = 5.0,
    ) -> None:
        positive = {
            "max_streams": max_streams,
            "poll_interval": poll_interval,
            "read_batch": read_batch,
            "idle_timeout": idle_timeout,
            "first_message_timeout": first_message_timeout,
            "send_timeout": send_timeout,
            "finger_connect_timeout": finger_connect_timeout,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"[console] {name}: must be positive, not {value!r}")
        if heartbeat < 0:
            raise ConfigError(f"[console] heartbeat: must not be negative, not {heartbeat!r}")
        self.application = application
        self.store = store
        self.auth = auth if auth is not None else Auth()
        self.tenant = tenant or None
        self.max_streams = max_streams
        self.limits = Limits(
            poll_interval=poll_interval,
            read_batch=read_batch,
            idle_timeout=idle_timeout,
            first_message_timeout=first_message_timeout,
            send_timeout=send_timeout,
            heartbeat=heartbeat,
            finger_connect_timeout=finger_connect_timeout,
        )
        self._lock = threading.Lock()
        self._active = 0
        self._websocket_class: Any = None

    @property
    def active(self) -> int:
        """Return how many streams are open now."""
        return self._active

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve a console stream, or pass the request to the wrapped application."""
        # PATH_INFO alone, as the API's routes: a proxy prefix lives in SCRIPT_NAME.
        tenant = self._tenant_of(environ.get("PATH_INFO") or "/")
        if tenant is None:
            return self.application(environ, start_response)
        refused = _refuse_before_upgrade(environ, start_response)
        if refused is not None:
            return refused
        with self._lock:
            full = self._active >= self.max_streams
            if not full:
                self._active += 1
        if full:
            LOG.warning("console stream refused: %s streams open", self.max_streams)
            return json_error(
                environ,
                start_response,
                "503 Service Unavailable",
                "Too many console streams",
                [("Retry-After", "5")],
            )
        try:
            handler = self.handler_for(tenant, environ.get("ciweb.request_id"))
            websocket = self._websocket(handler)
            return websocket(environ, start_response)
        finally:
            with self._lock:
                self._active -= 1

    def handler_for(self, tenant: str, request_id: str | None = None) -> Handler:
        """Return the handler of one stream of *tenant*, sharing this filter's store and auth.

        :param tenant: the tenant whose build is streamed.
        :param request_id: the request's id, for the log.
        """
        return Handler(self.store, self.auth, tenant, self.limits, request_id)

    def _tenant_of(self, path: str) -> str | None:
        match = TENANT_PATH.match(path)
        if match is not None:
            return urllib.parse.unquote(match["tenant"])
        if self.tenant is not None and WHITELABEL_PATH.match(path):
            return self.tenant
        return None

    def _websocket(self, handler: Handler) -> Any:
        if self._websocket_class is None:
            # Imported on first use: only the eventlet host ever gets here (see module doc).
            from eventlet import websocket

            self._websocket_class = websocket.WebSocketWSGI
        return self._websocket_class(handler, max_frame_length=MAX_INCOMING)


def _refuse_before_upgrade(
    environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes] | None:
    """Answer a request that cannot become a stream (not a websocket GET, or no eventlet).

    :returns: the answer's body, or None when the request may be upgraded.
    """
    method = environ.get("REQUEST_METHOD", "GET")
    if method == "OPTIONS":
        start_response("204 No Content", [("Allow", "GET, OPTIONS")])
        return []
    if method != "GET":
        return json_error(
            environ,
            start_response,
            "405 Method Not Allowed",
            "console-stream answers GET (websocket) only",
            [("Allow", "GET, OPTIONS")],
        )
    if not _is_upgrade(environ):
        return json_error(
            environ,
            start_response,
            "400 Bad Request",
            "console-stream is a websocket: send Upgrade: websocket",
        )
    if "eventlet.input" not in environ:
        return json_error(
            environ,
            start_response,
            "501 Not Implemented",
            "console-stream needs the eventlet server (ciweb-api)",
        )
    return None


def _is_upgrade(environ: WSGIEnvironment) -> bool:
    """Return whether the request asks for a websocket upgrade (RFC 6455 §4.2.1)."""
    connection = {p.strip().lower() for p in environ.get("HTTP_CONNECTION", "").split(",")}
    return "upgrade" in connection and environ.get("HTTP_UPGRADE", "").lower() == "websocket"


def filter_factory(
    global_conf: Mapping[str, str], **local_conf: str
) -> Callable[[WSGIApplication], ConsoleStream]:
    """Return a paste filter that puts :class:`ConsoleStream` in front of the API.

    The store and the auth are built here, once per filter, from the same ciweb.conf files
    as the API's: the stream of a tenant is protected exactly when its REST reads are.

    :param global_conf: paste's global configuration; ``config_file`` names the ciweb.conf
        files, whose ``[database]`` gives the store, ``[auth]`` the read protection and
        ``[console]`` the defaults.
    :param local_conf: the filter section's keys, overriding ``[console]``.
    :raises ConfigError: naming an unknown or bad option.
    """
    options = paste_options(global_conf, local_conf, console_conf.GROUP, console_conf.OPTS)
    auth = auth_from_paste(global_conf)
    # The filter's local keys are [console] options; the store is the API's, from ciweb.conf.
    store = make_store(paste_options(global_conf, {}, database_conf.GROUP, database_conf.OPTS))

    def _filter(app: WSGIApplication) -> ConsoleStream:
        return ConsoleStream(app, store=store, auth=auth, **options)

    return _filter
