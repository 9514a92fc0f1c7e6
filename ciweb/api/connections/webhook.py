"""A forge's webhook: ``POST /api/connection/<name>/payload``, verified, bounded, stored once.

Each delivery is checked before more of it is read than the check needs:

1. the credential header: missing or malformed is a 401 before any of the body is read (a
   GitLab secret token is compared here, in constant time, and the body never read when it
   is wrong);
2. the size: a ``Content-Length`` over ``max_body_size`` is a 413 before the body is read,
   and a chunked body is read no further than one byte past it;
3. an HMAC-SHA256 signature over the exact bytes received, compared with
   ``hmac.compare_digest``: a mismatch is a 401;
4. only then is the payload decoded (JSON, or GitHub's and Gitea's form encoding
   ``payload=<JSON>``) and stored, once per delivery id.

Refusals are JSON errors (the faults filter renders them) and store nothing; a 401 carries
``WWW-Authenticate`` naming the header the forge must send (RFC 9110 §11.6.1).  An accepted
delivery is answered 202 (RFC 9110 §15.3.3: recorded, handled later by the CI backend) with
the stored event's summary and ``duplicate``: true for a redelivery.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import webob
import webob.exc

from ciweb.api.connections import Connection, WebRoute
from ciweb.api.controllers.reporting import decode_json, error_response
from ciweb.ci import webhooks
from ciweb.ci.errors import Conflict, ValidationError
from ciweb.middleware.sizelimit import LimitedInput
from ciweb.wsgi.router import JSON_CONTENT_TYPE, Controller, json_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ciweb.wsgi.request import Request

__all__ = [
    "HmacSha256",
    "Refused",
    "SecretToken",
    "Signature",
    "WebhookConnection",
    "WebhookController",
    "decode_payload",
    "read_body",
    "read_secret",
]

LOG = logging.getLogger(__name__)

_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# A delivery id or event type: printable ASCII, as forges send (a UUID, "push", "Push Hook").
_PRINTABLE = re.compile(r"^[\x20-\x7e]{1,255}$")
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MAX_SECRET_FILE = 65536


class Refused(Exception):
    """A delivery whose credential is missing, malformed or wrong (answered 401)."""


class Signature(Protocol):
    """How a forge proves a delivery: checks it, reading the body only when needed."""

    #: The header the forge sends, named in ``WWW-Authenticate`` on a 401.
    scheme: str

    def verify(self, req: Request, secret: bytes, read_body: Callable[[], bytes]) -> bytes:
        """Return the body of a genuine delivery.

        :param req: the request.
        :param secret: the webhook's secret.
        :param read_body: reads the body, within its size bound (413 otherwise).
        :raises Refused: for a missing, malformed or wrong credential.
        """


class HmacSha256:
    """A hex HMAC-SHA256 of the body in a header (GitHub's ``sha256=<hex>``, Gitea's bare hex).

    :param headers: the headers that may carry it; the first one present is checked.
    :param prefix: what precedes the hex digits (``sha256=``).
    """

    def __init__(self, *headers: str, prefix: str = "") -> None:
        self.headers = headers
        self.prefix = prefix
        self.scheme = headers[0]

    def _given(self, req: Request) -> bytes:
        value = next((req.headers[h] for h in self.headers if h in req.headers), None)
        if value is None:
            raise Refused(f"{self.scheme} header missing")
        digits = value[len(self.prefix) :] if value.startswith(self.prefix) else ""
        if not _HEX_SHA256.match(digits):
            raise Refused(f"{self.scheme} must be {self.prefix}<64 hexadecimal digits>")
        return bytes.fromhex(digits)

    def verify(self, req: Request, secret: bytes, read_body: Callable[[], bytes]) -> bytes:
        """Check the header's form, read the body, then compare the HMAC in constant time."""
        given = self._given(req)
        body = read_body()
        expected = hmac.new(secret, body, hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            raise Refused("the signature does not match the payload: check the webhook's secret")
        return body


class SecretToken:
    """The secret itself in a header (GitLab's ``X-Gitlab-Token``), checked before the body.

    :param header: the header's name.
    """

    def __init__(self, header: str) -> None:
        self.scheme = header

    def verify(self, req: Request, secret: bytes, read_body: Callable[[], bytes]) -> bytes:
        """Compare the header with the secret in constant time, then read the body."""
        value = req.headers.get(self.scheme)
        if value is None:
            raise Refused(f"{self.scheme} header missing")
        # PEP 3333: header values are latin-1 strings of the bytes sent.  Both sides are
        # hashed first, so that the comparison takes the same time whatever the lengths.
        given = hashlib.sha256(value.encode("latin-1")).digest()
        if not hmac.compare_digest(given, hashlib.sha256(secret).digest()):
            raise Refused(f"{self.scheme} does not match the webhook's secret")
        return read_body()


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """Return the request body, refusing one larger than *limit* bytes with 413.

    A ``Content-Length`` over the limit is refused before anything is read; a chunked body
    is read no further than one byte past it (:class:`~ciweb.middleware.sizelimit.LimitedInput`).

    :raises webob.exc.HTTPRequestEntityTooLarge: over *limit*.
    :raises webob.exc.HTTPBadRequest: for a bad ``Content-Length`` or a body cut short.
    """
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        if not length.isdigit():
            raise webob.exc.HTTPBadRequest(detail="invalid Content-Length")
        declared = int(length)
        if declared > limit:
            raise webob.exc.HTTPRequestEntityTooLarge(
                detail=f"the payload is larger than {limit} bytes"
            )
        parts, left = [], declared
        while left > 0 and (data := stream.read(left)):
            parts.append(data)
            left -= len(data)
        if left:
            raise webob.exc.HTTPBadRequest(detail="the body ended before Content-Length bytes")
        return b"".join(parts)
    if "HTTP_TRANSFER_ENCODING" in environ or environ.get("wsgi.input_terminated"):
        return LimitedInput(stream, limit).read()
    return b""


def decode_payload(content_type: str, body: bytes) -> dict[str, Any]:
    """Return the JSON object a forge sent, as ``application/json`` or as a form.

    GitHub and Gitea may send ``application/x-www-form-urlencoded`` with the JSON in the one
    field ``payload``.

    :raises webob.exc.HTTPUnsupportedMediaType: for another media type.
    :raises ValidationError: "body" (or "payload") for anything but a JSON object.
    """
    if content_type == _FORM:
        try:
            fields = urllib.parse.parse_qs(
                body.decode("ascii"), strict_parsing=True, max_num_fields=1, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise ValidationError("body", "is not a form with one payload field") from None
        if list(fields) != ["payload"] or len(fields["payload"]) != 1:
            raise ValidationError("payload", "must be the form's only field")
        payload = decode_json(fields["payload"][0].encode("utf-8"), field="payload")
    elif content_type == _JSON:
        payload = decode_json(body)
    else:
        raise webob.exc.HTTPUnsupportedMediaType(
            detail=f"Content-Type must be {_JSON} or {_FORM}, not {content_type or 'none'}"
        )
    if not isinstance(payload, dict):
        raise ValidationError("body", "must be a JSON object")
    return payload


def _first_header(req: Request, names: Sequence[str]) -> str | None:
    for name in names:
        value = req.headers.get(name)
        if value is not None:
            if not _PRINTABLE.match(value):
                raise ValidationError(name, "must be 1-255 printable ASCII characters")
            return value
    return None


class WebhookController(Controller):
    """Serve a :class:`WebhookConnection`'s ``payload`` route."""

    def __init__(self, connection: WebhookConnection) -> None:
        """Serve *connection*.

        :param connection: the connection whose deliveries this receives.
        """
        self.connection = connection

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return super().__call__(environ, start_response)
        except ValidationError as exc:
            req = self.request_class(environ)
            response = error_response(req, 400, "Bad Request", str(exc), field=exc.field)
        except Conflict as exc:
            raise webob.exc.HTTPConflict(detail=str(exc)) from None
        return response(environ, start_response)

    def _verified_body(self, req: Request) -> bytes:
        conn = self.connection
        try:
            return conn.signature.verify(
                req, conn.secret, lambda: read_body(req.environ, conn.limit)
            )
        except Refused as exc:
            LOG.warning("webhook of %s from %s refused: %s", conn.name, req.remote_addr, exc)
            # RFC 9110 §11.6.1: a 401 names the scheme the client must use.
            challenge = f'{conn.signature.scheme} realm="{conn.name}"'
            raise webob.exc.HTTPUnauthorized(
                detail=str(exc), headers=[("WWW-Authenticate", challenge)]
            ) from None

    def payload(self, req: Request) -> webob.Response:
        """Verify, bound and store one delivery; answer 202 with the stored event."""
        conn = self.connection
        body = self._verified_body(req)
        payload = decode_payload(req.content_type, body)
        event = _first_header(req, conn.event_headers)
        if event is None:
            raise ValidationError(conn.event_headers[0], "header missing")
        # Without a delivery id, the same bytes are the same delivery.
        delivery = _first_header(req, conn.delivery_headers) or (
            f"sha256:{hashlib.sha256(body).hexdigest()}"
        )
        summary, created = webhooks.record_event(
            conn.store,
            connection=conn.name,
            driver=conn.driver,
            delivery=delivery,
            event=event,
            headers=conn.kept_headers_of(req),
            payload=payload,
        )
        LOG.info(
            "webhook %s %s of %s: event %s%s",
            event, delivery, conn.name, summary["id"], "" if created else " (redelivery)",
        )  # fmt: skip
        return webob.Response(
            status=202,
            body=json_body({**summary, "duplicate": not created}),
            headerlist=[("Content-Type", JSON_CONTENT_TYPE)],
        )


def read_secret(connection: Connection, options: Mapping[str, Any]) -> bytes:
    """Return the webhook secret of ``webhook_token`` or ``webhook_token_file``.

    :raises ConfigError: naming the option: neither or both given, an unreadable or empty file.
    """
    literal, path = options.get("webhook_token") or "", options.get("webhook_token_file") or ""
    if literal and path:
        raise connection.option_error("webhook_token_file", "give it or webhook_token, not both")
    if path:
        try:
            with open(path, "rb") as stream:
                literal = stream.read(_MAX_SECRET_FILE).decode("utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise connection.option_error("webhook_token_file", f"{path}: {reason}") from None
        if not literal:
            raise connection.option_error("webhook_token_file", f"{path} is empty")
    if not literal:
        raise connection.option_error("webhook_token", "is required (or webhook_token_file)")
    return literal.encode("utf-8")


class WebhookConnection(Connection):
    """A connection that receives a forge's webhook at ``/api/connection/<name>/payload``.

    Drivers set :attr:`signature`, :attr:`event_headers`, :attr:`delivery_headers` and
    :attr:`kept_headers`.
    """

    #: How the forge proves a delivery.
    signature: ClassVar[Signature]
    #: Headers naming the event type; the first present wins (one is required).
    event_headers: ClassVar[tuple[str, ...]] = ()
    #: Headers carrying the delivery id, the same on a redelivery; without one, the body's
    #: SHA-256 stands for it.
    delivery_headers: ClassVar[tuple[str, ...]] = ()
    #: Headers stored with the event (never a credential).
    kept_headers: ClassVar[tuple[str, ...]] = ("User-Agent",)

    def __init__(self, name: str, options: Mapping[str, Any], **kwargs: Any) -> None:
        """Check the secret and the size bound; see :class:`Connection` for the arguments."""
        super().__init__(name, options, **kwargs)
        self.secret = read_secret(self, options)
        self.limit: int = options["max_body_size"]
        self.controller = WebhookController(self)

    def kept_headers_of(self, req: Request) -> dict[str, str]:
        """Return the :attr:`kept_headers` *req* carries, by lowercase name."""
        return {h.lower(): req.headers[h] for h in self.kept_headers if h in req.headers}

    def web_routes(self) -> Sequence[WebRoute]:
        """Return the ``payload`` route (POST), as zuul-web's GitHub and GitLab drivers."""
        return (WebRoute("payload", self.controller, "payload", ("POST",)),)
