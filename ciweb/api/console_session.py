"""One console stream: the websocket session behind :class:`ciweb.api.console.ConsoleStream`.

A :class:`Handler` runs on the websocket eventlet's ``WebSocketWSGI`` hands it: it reads the
client's request, checks its token, finds the build and sends its console, either the text
reported through the API (followed by polling the database) or what a finger streamer
sends; then it closes with zuul-web's codes (RFC 6455 §7.4.1).  The protocol and the bounds
are described in :mod:`ciweb.api.console`; the filter there decides whether a request gets
a stream at all, and this module is what a stream does.  Eventlet is imported when a handler
is made, on an upgrade, never when the module is (ARCHITECTURE.md).
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import logging
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from ciweb.api.auth import Auth
from ciweb.api.tokens import AuthError, ForbiddenError
from ciweb.ci.errors import NotFound
from ciweb.ci.models import Build, ConsoleChunk, Tenant
from ciweb.ci.store import Store

LOG = logging.getLogger(__name__)

__all__ = ["Handler", "Limits"]

FINGER_READ = 1024  # zuul-web forwards reads of up to 1024 bytes (reference §2)
MAX_FRAME_CHARS = 16 * 1024  # reported chunks (up to 1 MiB) are sent in frames this size
# RFC 6455 §5.5: a control frame carries at most 125 bytes, 2 of them the close code.
MAX_REASON_BYTES = 123
AUTHORIZATION_ERROR = "Authorization error"  # zuul-web's reason when the token lacks the right

# RFC 6455 §7.4.1 and zuul-web's application codes.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_BAD_REQUEST = 4000
CLOSE_STREAM_ERROR = 4011


@dataclasses.dataclass(frozen=True)
class Limits:
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


class Handler:
    """Run one stream on an upgraded websocket (called by eventlet's WebSocketWSGI)."""

    def __init__(
        self, store: Store, auth: Auth, tenant: str, limits: Limits, request_id: str | None
    ) -> None:
        """Prepare one stream; nothing is read or sent until the handler is called.

        :param store: the CI store console text and builds are read from.
        :param auth: the read protection of tenants and the token check.
        :param tenant: the tenant whose build is streamed.
        :param limits: the timing and size limits of the stream.
        :param request_id: the upgrade request's id, for the log.
        """
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
