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
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ciweb.api.app import make_store
from ciweb.api.auth import Auth, auth_from_paste
from ciweb.api.tokens import AuthError, ForbiddenError
from ciweb.ci.errors import NotFound
from ciweb.ci.models import Build, ConsoleChunk, Tenant
from ciweb.ci.store import Store
from ciweb.conf import ConfigError, paste_options
from ciweb.conf import console as console_conf
from ciweb.conf import database as database_conf
from ciweb.middleware.faults import JSON_CONTENT_TYPE, error_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

LOG = logging.getLogger(__name__)

__all__ = ["ConsoleStream", "filter_factory"]

TENANT_PATH = re.compile(r"^/api/tenant/(?P<tenant>[^/]+)/console-stream/?$")
WHITELABEL_PATH = re.compile(r"^/api/console-stream/?$")
FINGER_READ = 1024  # zuul-web forwards reads of up to 1024 bytes (reference §2)
MAX_FRAME_CHARS = 16 * 1024  # reported chunks (up to 1 MiB) are sent in frames this size
MAX_INCOMING = 64 * 1024  # the client only ever sends one small JSON request
# RFC 6455 §5.5: a control frame carries at most 125 bytes, 2 of them the close code.
MAX_REASON_BYTES = 123
AUTHORIZATION_ERROR = "Authorization error"  # zuul-web's reason when the token lacks the right

# RFC 6455 §7.4.1 and zuul-web's application codes.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_BAD_REQUEST = 4000
CLOSE_STREAM_ERROR = 4011


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
        self.limits = _Limits(
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
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            start_response("204 No Content", [("Allow", "GET, OPTIONS")])
            return []
        if method != "GET":
            return _json_error(
                environ,
                start_response,
                "405 Method Not Allowed",
                "console-stream answers GET (websocket) only",
                [("Allow", "GET, OPTIONS")],
            )
        if not _is_upgrade(environ):
            return _json_error(
                environ,
                start_response,
                "400 Bad Request",
                "console-stream is a websocket: send Upgrade: websocket",
            )
        if "eventlet.input" not in environ:
            return _json_error(
                environ,
                start_response,
                "501 Not Implemented",
                "console-stream needs the eventlet server (ciweb-api)",
            )
        with self._lock:
            full = self._active >= self.max_streams
            if not full:
                self._active += 1
        if full:
            LOG.warning("console stream refused: %s streams open", self.max_streams)
            return _json_error(
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

    def handler_for(self, tenant: str, request_id: str | None = None) -> _Handler:
        """Return the handler of one stream of *tenant*, sharing this filter's store and auth.

        :param tenant: the tenant whose build is streamed.
        :param request_id: the request's id, for the log.
        """
        return _Handler(self.store, self.auth, tenant, self.limits, request_id)

    def _tenant_of(self, path: str) -> str | None:
        match = TENANT_PATH.match(path)
        if match is not None:
            return urllib.parse.unquote(match["tenant"])
        if self.tenant is not None and WHITELABEL_PATH.match(path):
            return self.tenant
        return None

    def _websocket(self, handler: _Handler) -> Any:
        if self._websocket_class is None:
            # Imported on first use: only the eventlet host ever gets here (see module doc).
            from eventlet import websocket

            self._websocket_class = websocket.WebSocketWSGI
        return self._websocket_class(handler, max_frame_length=MAX_INCOMING)


@dataclasses.dataclass(frozen=True)
class _Limits:
    """The frozen timing and size limits of every stream."""

    poll_interval: float
    read_batch: int
    idle_timeout: float
    first_message_timeout: float
    send_timeout: float
    heartbeat: float
    finger_connect_timeout: float


class _Closed(Exception):
    """The viewer went away or is too slow: stop without a closing handshake."""


class _Handler:
    """Run one stream on an upgraded websocket (called by eventlet's WebSocketWSGI)."""

    def __init__(
        self, store: Store, auth: Auth, tenant: str, limits: _Limits, request_id: str | None
    ) -> None:
        import eventlet

        self.eventlet = eventlet
        self.store = store
        self.auth = auth
        self.tenant = tenant
        self.limits = limits
        self.request_id = request_id
        self.gone = False
        self.last_sent = time.monotonic()

    def __call__(self, ws: Any) -> None:
        """Read the request, pick the source and stream it; always end with a close frame."""
        code, reason = CLOSE_NORMAL, "No more data"
        try:
            code, reason = self._serve(ws)
        except _Closed:
            LOG.info("console stream %s: viewer gone", self.request_id)
            return
        LOG.info("console stream %s closed: %s %s", self.request_id, code, reason)
        ws.close(close_data=(code, _close_reason(reason)))

    def _serve(self, ws: Any) -> tuple[int, str]:
        request = self._first_message(ws)
        if isinstance(request, tuple):
            return request
        # Before the lookup: a refused client must not learn whether the build exists.
        refused = self._authorize(request.get("token"))
        if refused is not None:
            return refused
        uuid = request["uuid"]
        build = _find_build(self.store, self.tenant, uuid)
        if build is None:
            # zuul-web: unknown build and a build of another tenant look the same.
            return CLOSE_STREAM_ERROR, "Build not found"
        reader = self.eventlet.spawn(self._drain, ws)
        try:
            finger = _finger_address(build.artifacts)
            if finger is not None and not _read_chunks(self.store, build.id, 0, 1)[0]:
                return self._relay_finger(ws, uuid, finger)
            if build.start_time is None and build.result is None:
                return CLOSE_STREAM_ERROR, "Build did not start yet"
            return self._follow(ws, build.id)
        finally:
            reader.kill()

    def _first_message(self, ws: Any) -> dict[str, Any] | tuple[int, str]:
        try:
            with self.eventlet.Timeout(self.limits.first_message_timeout):
                message = ws.wait()
        except self.eventlet.Timeout:
            return CLOSE_BAD_REQUEST, "No request received"
        if message is None:
            raise _Closed
        try:
            request = json.loads(message)
        except (TypeError, ValueError):
            return CLOSE_BAD_REQUEST, "Invalid request payload"
        if not isinstance(request, dict):
            return CLOSE_BAD_REQUEST, "Invalid request payload"
        for key in ("uuid", "logfile"):
            if key not in request:
                return CLOSE_BAD_REQUEST, f"'{key}' missing from request payload"
        if not isinstance(request["uuid"], str) or not request["uuid"]:
            return CLOSE_BAD_REQUEST, "'uuid' must be a string"
        if request.get("token") is not None and not isinstance(request["token"], str):
            return CLOSE_BAD_REQUEST, "'token' must be a string"
        return request

    def _authorize(self, token: str | None) -> tuple[int, str] | None:
        """Return the close of a refused token, or None when the tenant may be read."""
        try:
            identity = self.auth.check_read_token(token, self.tenant)
        except AuthError as exc:
            # zuul-web: close 4000 with the error name (reference/zuul-api.md §2).
            LOG.info("console stream %s refused: %s", self.request_id, exc.error)
            return CLOSE_BAD_REQUEST, exc.error
        except ForbiddenError as exc:
            LOG.info("console stream %s refused: %s", self.request_id, exc.description)
            return CLOSE_BAD_REQUEST, AUTHORIZATION_ERROR
        if identity is not None:
            LOG.info("console stream %s: %s reads %s", self.request_id, identity.uid, self.tenant)
        return None

    def _drain(self, ws: Any) -> None:
        # zuul-web ignores messages after the first; reading them notices the viewer leaving.
        try:
            while ws.wait() is not None:
                pass
        except OSError:
            pass
        self.gone = True

    def _send(self, ws: Any, text: str) -> None:
        """Send one frame, blocking while the viewer's socket is full (backpressure)."""
        if self.gone:
            raise _Closed
        try:
            with self.eventlet.Timeout(self.limits.send_timeout):
                ws.send(text)
        except (OSError, self.eventlet.Timeout):
            raise _Closed from None
        self.last_sent = time.monotonic()

    def _ping(self, ws: Any) -> None:
        heartbeat = self.limits.heartbeat
        if heartbeat and time.monotonic() - self.last_sent >= heartbeat:
            try:
                with self.eventlet.Timeout(self.limits.send_timeout):
                    ws.send(b"", control_code=0x9)  # RFC 6455 §5.5.2: ping
            except (OSError, self.eventlet.Timeout):
                raise _Closed from None
            self.last_sent = time.monotonic()

    def _follow(self, ws: Any, build_id: int) -> tuple[int, str]:
        """Send the reported console text, then poll the database for more until the end.

        :param build_id: the build's row id, resolved once when the stream started: a poll
            is then one indexed read of ``console_chunks`` (build_id, sequence).
        """
        after, last_text = 0, time.monotonic()
        while True:
            chunks, end = _read_chunks(self.store, build_id, after, self.limits.read_batch)
            for sequence, text in chunks:
                after = sequence
                for start in range(0, len(text), MAX_FRAME_CHARS):
                    self._send(ws, text[start : start + MAX_FRAME_CHARS])
            if end:
                return CLOSE_NORMAL, "No more data"
            if chunks:
                last_text = time.monotonic()
                if len(chunks) == self.limits.read_batch:
                    continue  # more is waiting: read it now
            else:
                try:
                    if self._finished(build_id, after):
                        return CLOSE_NORMAL, "No more data"
                except NotFound:
                    return CLOSE_STREAM_ERROR, "Build not found"
            if time.monotonic() - last_text >= self.limits.idle_timeout:
                return CLOSE_GOING_AWAY, "Idle timeout"
            if self.gone:
                raise _Closed
            self._ping(ws)
            self.eventlet.sleep(self.limits.poll_interval)

    def _finished(self, build_id: int, after: int) -> bool:
        """Return whether the build has a result and no text after *after* is left.

        :raises NotFound: when the build was deleted while it was followed.
        """
        with self.store.read() as session:
            row = session.execute(select(Build.result).where(Build.id == build_id)).first()
            if row is None:
                raise NotFound("Build not found")
            if row.result is None:
                return False
            # Text appended just before the result must still be sent: look once more.
            left = session.scalar(
                select(ConsoleChunk.id)
                .where(ConsoleChunk.build_id == build_id, ConsoleChunk.sequence > after)
                .limit(1)
            )
        return left is None

    def _relay_finger(self, ws: Any, uuid: str, address: tuple[str, int]) -> tuple[int, str]:
        """Relay Zuul's finger log streaming protocol: send the uuid, forward what comes."""
        from eventlet.green import socket

        try:
            sock = socket.create_connection(address, timeout=self.limits.finger_connect_timeout)
        except OSError as exc:
            LOG.warning("console stream %s: finger %s:%s: %s", self.request_id, *address, exc)
            return CLOSE_STREAM_ERROR, "Error with log streaming"
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            sock.sendall(f"{uuid}\n".encode())
            sock.settimeout(self.limits.idle_timeout)
            while True:
                try:
                    data = sock.recv(FINGER_READ)
                except TimeoutError:
                    return CLOSE_GOING_AWAY, "Idle timeout"
                except OSError:
                    return CLOSE_NORMAL, "Remote error"
                text = decoder.decode(data, final=not data)
                if text:
                    self._send(ws, text)
                if not data:
                    return CLOSE_NORMAL, "No more data"
        finally:
            sock.close()


def _find_build(store: Store, tenant: str, uuid: str) -> Any:
    """Return the build's id, start time, result and artifacts in one query, or None.

    :param store: the CI store.
    :param tenant: the tenant the build must belong to.
    :param uuid: the build's uuid.
    """
    with store.read() as session:
        return session.execute(
            select(Build.id, Build.start_time, Build.result, Build.artifacts)
            .join(Tenant, Tenant.id == Build.tenant_id)
            .where(Tenant.name == tenant, Build.uuid == uuid)
        ).first()


def _read_chunks(
    store: Store, build_id: int, after: int, limit: int
) -> tuple[list[tuple[int, str]], bool]:
    """Return up to *limit* ``(sequence, text)`` chunks after *after*, and whether the end
    marker was among them.

    :param store: the CI store.
    :param build_id: the build's row id.
    :param after: the last sequence already sent.
    :param limit: most chunks returned.
    """
    with store.read() as session:
        rows = session.execute(
            select(ConsoleChunk.sequence, ConsoleChunk.text, ConsoleChunk.end)
            .where(ConsoleChunk.build_id == build_id, ConsoleChunk.sequence > after)
            .order_by(ConsoleChunk.sequence)
            .limit(limit)
        ).all()
    return [(row.sequence, row.text) for row in rows], any(row.end for row in rows)


def _finger_address(artifacts: Iterable[Mapping[str, Any]] | None) -> tuple[str, int] | None:
    """Return the (host, port) of the first ``finger://`` artifact, or None."""
    for artifact in artifacts or ():
        url = artifact.get("url") or ""
        if not url.startswith("finger://"):
            continue
        parsed = urllib.parse.urlsplit(url)
        try:
            port = parsed.port or 79  # RFC 1288: finger's port
        except ValueError:
            continue
        if parsed.hostname:
            return parsed.hostname, port
    return None


def _close_reason(reason: str) -> str:
    """Return *reason* cut to the bytes a close frame holds, on a UTF-8 character boundary."""
    return reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


def _is_upgrade(environ: WSGIEnvironment) -> bool:
    """Return whether the request asks for a websocket upgrade (RFC 6455 §4.2.1)."""
    connection = {p.strip().lower() for p in environ.get("HTTP_CONNECTION", "").split(",")}
    return "upgrade" in connection and environ.get("HTTP_UPGRADE", "").lower() == "websocket"


def _json_error(
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: str,
    description: str,
    extra: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    body = error_body(status.split(" ", 1)[1], description, environ.get("ciweb.request_id"))
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))]
    start_response(status, [*headers, *(extra or [])])
    return [body]


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
