"""ciweb's reporting API: a CI backend pushes configuration, history, status and console text.

Every path is under ``/api/report/tenant/{tenant}/`` and needs a bearer token with the
``report`` right on the tenant (see :mod:`ciweb.api.auth`).  Bodies are JSON objects sent as
``application/json``; the data layer validates the whole body and writes in one transaction,
so a 400 (which names the field) means nothing was written.  The contract is documented in
``ciweb/api/openapi/write.yaml``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import webob
import webob.exc

from ciweb.api.auth import Auth
from ciweb.api.controllers.errors import http_error
from ciweb.api.tokens import AuthError, ForbiddenError, Identity
from ciweb.ci import admin, reporting, validate, writes
from ciweb.ci.errors import CIError, NotFound, ValidationError
from ciweb.wsgi.router import JSON_CONTENT_TYPE, Controller, json_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = [
    "ReportingController",
    "WriteController",
    "check_name",
    "check_uuid",
    "decode_json",
    "error_response",
    "feed_query",
]

LOG = logging.getLogger(__name__)

# Zuul's uuids are uuid4().hex; the hyphenated form (RFC 9562 §4) is accepted too.
UUID = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$")
# Names are identifiers (org/project, tox-py311, a@b/c): no blanks, quotes, semicolons,
# backslashes or control characters, so a SQL or shell fragment is refused where a name goes.
NAME = re.compile(r"^[^\s'\";\\`\x00-\x1f\x7f]{1,255}$")
JSON_MEDIA_TYPE = "application/json"


def check_uuid(field: str, value: Any) -> str:
    """Return *value* if it is a uuid (32 hex digits, or hyphenated).

    :raises ValidationError: naming *field* otherwise.
    """
    if not isinstance(value, str) or not UUID.match(value):
        raise ValidationError(field, "must be a uuid (32 hexadecimal digits)")
    return value


def check_name(field: str, value: Any) -> str:
    """Return *value* if it is a name: 1-255 characters, no blank, quote, ``;``, ``\\``.

    :raises ValidationError: naming *field* otherwise.
    """
    if not isinstance(value, str) or not NAME.match(value):
        raise ValidationError(field, "must be a name: 1-255 characters without blanks, quotes, ';'")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # RFC 8259 §4: names SHOULD be unique; a repeated one is ambiguous, so refused.
            raise ValidationError(key, "appears twice in the object")
        out[key] = value
    return out


def _no_constant(word: str) -> Any:
    raise ValidationError("body", f"{word} is not JSON (RFC 8259 §6)")


def parse_json(req: Request) -> Any:
    """Return the decoded JSON body of *req*.

    :raises webob.exc.HTTPUnsupportedMediaType: unless the type is ``application/json``.
    :raises ValidationError: "body" for bytes that are not UTF-8 JSON.
    """
    if req.content_type != JSON_MEDIA_TYPE:
        raise webob.exc.HTTPUnsupportedMediaType(
            detail=f"Content-Type must be {JSON_MEDIA_TYPE}, not {req.content_type or 'none'}"
        )
    return decode_json(req.body)


def decode_json(data: bytes, field: str = "body") -> Any:
    """Return the value of the UTF-8 JSON text *data*, refusing duplicate names and constants.

    :param data: the bytes.
    :param field: the field named by the errors.
    :raises ValidationError: naming *field* for bytes that are not UTF-8 JSON.
    """
    try:
        # RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValidationError(field, "is not UTF-8") from None
    except RecursionError:
        raise ValidationError(field, "is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(field, f"invalid JSON: {exc}") from None
    if "\\u" in text:
        _check_surrogates(value, field)
    return value


# A UTF-16 surrogate left alone after decoding: json pairs the valid ones into one character.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(value: Any, field: str = "body") -> None:
    """Refuse a string with an unpaired surrogate escape, which no UTF-8 text can hold.

    RFC 8259 §8.2: such a string's behaviour is unpredictable; here it would fail later,
    when encoded for the database, as a 500.  *field* is the top-level key it is under.
    """
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise ValidationError(field, "has an unpaired UTF-16 surrogate (RFC 8259 §8.2)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_surrogates(key, field)  # never named: the answer could not hold it
            _check_surrogates(item, key if field == "body" else field)
    elif isinstance(value, list):
        for item in value:
            _check_surrogates(item, field)


def parse_object(req: Request) -> dict[str, Any]:
    """Return the JSON object body of *req*; see :func:`parse_json`.

    :raises ValidationError: "body" when it is not an object.
    """
    data = parse_json(req)
    if not isinstance(data, dict):
        raise ValidationError("body", "must be a JSON object")
    return data


def feed_query(req: Request) -> dict[str, Any]:
    """Return the query of an event feed: ``pending`` (default true), ``after_id`` (from
    ``after``, default 0) and ``limit`` (default 100, at most 1000).

    :raises ValidationError: naming an unknown or bad query parameter.
    """
    params = req.GET.dict_of_lists()
    validate.check_keys(params, {"pending", "after", "limit"}, field="query")
    pending = validate.param_bool(params, "pending")
    limit = validate.param_int(params, "limit", 100) or 100
    return {
        "pending": True if pending is None else pending,
        "after_id": validate.param_int(params, "after", 0) or 0,
        "limit": min(limit, 1000),
    }


def error_response(req: Request, status: int, error: str, description: str, **extra: Any):
    """Return the JSON error answer ``{error, description, request_id, **extra}``."""
    body = {"error": error, "description": description, "request_id": req.request_id, **extra}
    return webob.Response(
        status=status, body=json_body(body), headerlist=[("Content-Type", JSON_CONTENT_TYPE)]
    )


def created(value: Any, location: str | None = None) -> webob.Response:
    """Return a 201 JSON answer, with ``Location`` when given (RFC 9110 §15.3.2)."""
    headers = [("Content-Type", JSON_CONTENT_TYPE)]
    if location:
        headers.append(("Location", location))
    return webob.Response(status=201, body=json_body(value), headerlist=headers)


class WriteController(Controller):
    """Base of the write controllers: authorise, parse JSON, map domain errors to HTTP.

    Auth failures are answered with Zuul's JSON (error names, ``WWW-Authenticate``); a
    :class:`ValidationError` is a 400 whose body also carries ``field``; other domain errors
    are raised as ``webob.exc`` errors for the faults filter.
    """

    def __init__(self, context: ApiContext, auth: Auth) -> None:
        """Build the controller.

        :param context: the store and options.
        :param auth: the authenticators that check bearer tokens.
        """
        self.context = context
        self.store = context.store
        self.auth = auth

    def authorize(self, req: Request, tenant: str, right: str) -> Identity:
        """Return the token's identity if it has *right* on *tenant*; raise 401/403 otherwise."""
        return self.auth.authorize(req, tenant, right)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        req = self.request_class(environ)
        try:
            return super().__call__(environ, start_response)
        except (AuthError, ForbiddenError) as exc:
            response = exc.json_response(req.request_id)
        except ValidationError as exc:
            response = error_response(req, 400, "Bad Request", str(exc), field=exc.field)
        except NotFound as exc:
            raise webob.exc.HTTPNotFound(detail=str(exc)) from None
        except CIError as exc:
            raise http_error(exc) from None
        return response(environ, start_response)


def _same_name(body: Mapping[str, Any], name: str) -> None:
    if body.get("name", name) != name:
        raise ValidationError("name", "must be the name in the path")


def _check_refs(body: Mapping[str, Any]) -> None:
    refs = body.get("refs")
    for i, ref in enumerate(refs if isinstance(refs, list) else ()):
        if isinstance(ref, Mapping) and "project" in ref:
            check_name(f"refs[{i}].project", ref["project"])


class ReportingController(WriteController):
    """Actions of ``/api/report/tenant/{tenant}/...``; each needs the ``report`` right."""

    def _begin(self, req: Request, tenant: str) -> Identity:
        identity = self.authorize(req, tenant, "report")
        LOG.info("report %s %s by %s", req.method, req.path, identity.uid)
        return identity

    def put_tenant(self, req: Request, tenant: str) -> dict[str, Any]:
        """Create the tenant (``PUT /api/report/tenant/{tenant}``, body ``{}`` or empty)."""
        self._begin(req, tenant)
        body = parse_object(req) if req.body else {}
        validate.check_keys(body, {"name"})
        _same_name(body, tenant)
        return writes.upsert_tenant(self.store, tenant)

    def put_project(self, req: Request, tenant: str, name: str) -> dict[str, Any]:
        """Create or update a project (``PUT .../projects/{name}``)."""
        self._begin(req, tenant)
        check_name("name", name)
        body = parse_object(req)
        _same_name(body, name)
        if "canonical_name" in body:
            check_name("canonical_name", body["canonical_name"])
        return writes.upsert_project(self.store, tenant, {**body, "name": name})

    def put_pipeline(self, req: Request, tenant: str, name: str) -> dict[str, Any]:
        """Create or update a pipeline (``PUT .../pipelines/{name}``)."""
        self._begin(req, tenant)
        check_name("name", name)
        body = parse_object(req)
        _same_name(body, name)
        return writes.upsert_pipeline(self.store, tenant, {**body, "name": name})

    def put_job(self, req: Request, tenant: str, name: str) -> list[dict[str, Any]]:
        """Create a job or replace its variants (``PUT .../jobs/{name}``)."""
        self._begin(req, tenant)
        check_name("name", name)
        body = parse_object(req)
        _same_name(body, name)
        return writes.upsert_job(self.store, tenant, {**body, "name": name})

    def create_buildset(self, req: Request, tenant: str) -> webob.Response:
        """Record a buildset (``POST .../buildsets``); 201 with its ``Location``."""
        self._begin(req, tenant)
        body = parse_object(req)
        check_uuid("uuid", body.get("uuid"))
        if body.get("queue_item_uuid") is not None:
            check_uuid("queue_item_uuid", body["queue_item_uuid"])
        check_name("pipeline", body.get("pipeline"))
        _check_refs(body)
        buildset = reporting.create_buildset(self.store, tenant, body)
        return created(buildset, f"/api/tenant/{tenant}/buildset/{buildset['uuid']}")

    def update_buildset(self, req: Request, tenant: str, uuid: str) -> dict[str, Any]:
        """Set a buildset's result, message or times (``PATCH .../buildsets/{uuid}``)."""
        self._begin(req, tenant)
        check_uuid("uuid", uuid)
        return reporting.update_buildset(self.store, tenant, uuid, parse_object(req))

    def add_buildset_event(self, req: Request, tenant: str, uuid: str) -> webob.Response:
        """Record an event of a buildset (``POST .../buildsets/{uuid}/events``)."""
        self._begin(req, tenant)
        check_uuid("uuid", uuid)
        return created(reporting.add_buildset_event(self.store, tenant, uuid, parse_object(req)))

    def create_build(self, req: Request, tenant: str, uuid: str) -> webob.Response:
        """Record a build of a buildset (``POST .../buildsets/{uuid}/builds``); 201."""
        self._begin(req, tenant)
        check_uuid("buildset", uuid)
        body = parse_object(req)
        check_uuid("uuid", body.get("uuid"))
        check_name("job_name", body.get("job_name"))
        ref = body.get("ref")
        if isinstance(ref, Mapping) and "project" in ref:
            check_name("ref.project", ref["project"])
        build = reporting.create_build(self.store, tenant, uuid, body)
        return created(build, f"/api/tenant/{tenant}/build/{build['uuid']}")

    def update_build(self, req: Request, tenant: str, uuid: str) -> dict[str, Any]:
        """Record a build's progress or result (``PATCH .../builds/{uuid}``)."""
        self._begin(req, tenant)
        check_uuid("uuid", uuid)
        return reporting.update_build(self.store, tenant, uuid, parse_object(req))

    def append_console(self, req: Request, tenant: str, uuid: str) -> dict[str, Any]:
        """Append console text (``POST .../builds/{uuid}/console``, ``{text, end?}``)."""
        self._begin(req, tenant)
        check_uuid("uuid", uuid)
        body = parse_object(req)
        validate.check_keys(body, {"text", "end"})
        text = body.get("text", "")
        end = validate.boolean(body, "end", default=False)
        sequence = admin.append_console(self.store, tenant, uuid, text, end=end)
        return {"sequence": sequence, "end": end}

    def put_status(self, req: Request, tenant: str) -> dict[str, Any]:
        """Replace the tenant's status document (``PUT .../status``), stored byte for byte."""
        self._begin(req, tenant)
        parse_object(req)  # the media type, UTF-8, duplicates and constants
        status = writes.put_status(self.store, tenant, req.body)
        return {"etag": status.etag, "last_modified": status.last_modified.isoformat()}

    def put_config_errors(self, req: Request, tenant: str) -> dict[str, Any]:
        """Replace the tenant's configuration errors (``PUT .../config-errors``, a list)."""
        self._begin(req, tenant)
        count = writes.replace_config_errors(self.store, tenant, parse_json(req))
        return {"count": count}

    def list_events(self, req: Request, tenant: str) -> list[dict[str, Any]]:
        """List management events (``GET .../events?pending=&after=&limit=``), oldest first."""
        self._begin(req, tenant)
        return admin.list_events(self.store, tenant, **feed_query(req))

    def ack_event(self, req: Request, tenant: str, event_id: str) -> dict[str, Any]:
        """Mark a management event as carried out (``POST .../events/{id}/ack``)."""
        self._begin(req, tenant)
        event = validate.id_param(event_id, ValidationError("id", "must be an event id"))
        return admin.acknowledge_event(self.store, tenant, event)
