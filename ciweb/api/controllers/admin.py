"""Zuul's admin API: enqueue, dequeue, promote, autohold, tenant state, node state, nodeset
requests and authorizations.

Paths, bodies and answers are zuul-web's (reference/zuul-api.md §3): ``true`` for the actions,
``null`` for ``state``, 201 ``null`` for a node's state, 204 for deleting an autohold or a
nodeset request.  Each action needs the ``admin`` right on the tenant and is recorded as a
management event that the CI backend lists and acknowledges through the reporting API (ciweb
carries nothing out itself).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import webob

from ciweb.api.auth import Auth
from ciweb.api.controllers.connections import ConnectionEventsController
from ciweb.api.controllers.report_documents import ReportDocumentsController
from ciweb.api.controllers.reporting import (
    ReportingController,
    WriteController,
    created,
    parse_object,
)
from ciweb.api.tokens import ANY, ForbiddenError, Identity
from ciweb.ci import admin, documents, queries, validate
from ciweb.ci.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = ["AdminController", "WriteControllers", "make_write_controllers"]

# Zuul's audit log of admin actions is zuul.web.audit; ours is this logger.
AUDIT = logging.getLogger("ciweb.audit")

ENQUEUE_FIELDS = frozenset({"pipeline", "change", "ref", "oldrev", "newrev", "parameters"})
DEQUEUE_FIELDS = frozenset({"pipeline", "change", "ref"})
PROMOTE_FIELDS = frozenset({"pipeline", "changes"})
TRUE = b"true"
NULL = b"null"


class AdminController(WriteController):
    """Zuul's tenant-scoped admin actions; each needs the ``admin`` right on the tenant."""

    def _admin(self, req: Request, tenant: str) -> Identity:
        return self.authorize(req, tenant, "admin")

    def _record(self, identity: Identity, tenant: str, kind: str, payload: Any) -> None:
        event = admin.record_event(self.store, tenant, kind, payload)
        AUDIT.info(
            "%s (%s) %s on tenant %s: event %s",
            identity.uid,
            identity.realm,
            kind,
            tenant,
            event.get("id"),
        )

    def enqueue(self, req: Request, tenant: str, project: str) -> bytes:
        """Ask for a change or ref to be enqueued (``POST project/{p}/enqueue``); ``true``."""
        identity = self._admin(req, tenant)
        body = parse_object(req)
        validate.check_keys(body, ENQUEUE_FIELDS)
        if body.get("parameters") is not None:
            ref = body.get("ref") or ""
            if not isinstance(ref, str):
                raise ValidationError("ref", "must be a string")
            # Zuul: parameters only for a branch or tag ref.
            if not isinstance(body["parameters"], dict):
                raise ValidationError("parameters", "must be an object")
            if not ref.startswith(("refs/heads/", "refs/tags/")):
                raise ValidationError("parameters", "only for refs/heads/* or refs/tags/*")
        self._record(identity, tenant, "enqueue", {**body, "project": project})
        return TRUE

    def dequeue(self, req: Request, tenant: str, project: str) -> bytes:
        """Ask for a change or ref to be dequeued (``POST project/{p}/dequeue``); ``true``."""
        identity = self._admin(req, tenant)
        body = parse_object(req)
        validate.check_keys(body, DEQUEUE_FIELDS)
        self._record(identity, tenant, "dequeue", {**body, "project": project})
        return TRUE

    def promote(self, req: Request, tenant: str) -> bytes:
        """Ask for changes to be promoted (``POST promote``, ``{pipeline, changes}``); ``true``."""
        identity = self._admin(req, tenant)
        body = parse_object(req)
        validate.check_keys(body, PROMOTE_FIELDS)
        self._record(identity, tenant, "promote", body)
        return TRUE

    def create_autohold(self, req: Request, tenant: str, project: str) -> bytes:
        """Create an autohold request (``POST project/{p}/autohold``); ``true``."""
        identity = self._admin(req, tenant)
        body = parse_object(req)
        # Zuul: all six keys must be present (null or "" allowed).
        missing = sorted(admin.AUTOHOLD_FIELDS - set(body))
        if missing:
            raise ValidationError(missing[0], "is required (Invalid request body)")
        hold = admin.create_autohold(self.store, tenant, project, body)
        AUDIT.info("%s autohold %s on tenant %s", identity.uid, hold.get("id"), tenant)
        return TRUE

    def delete_autohold(self, req: Request, tenant: str, hold_id: str) -> None:
        """Delete an autohold request (``DELETE autohold/{id}``); 204 with no body."""
        identity = self._admin(req, tenant)
        admin.delete_autohold(self.store, tenant, hold_id)
        AUDIT.info("%s deleted autohold %s on tenant %s", identity.uid, hold_id, tenant)

    def set_node_state(self, req: Request, tenant: str, node_id: str) -> webob.Response:
        """Ask for a node's next state (``PUT nodes/{id}``, ``{state, comment?}``); 201 ``null``.

        zuul-client node-set-state succeeds only on a falsy body, hence zuul-web's ``null``.
        """
        identity = self._admin(req, tenant)
        event = documents.set_node_state(self.store, tenant, node_id, parse_object(req))
        AUDIT.info(
            "%s set node %s to %s on tenant %s: event %s",
            identity.uid,
            node_id,
            event["payload"]["state"],
            tenant,
            event["id"],
        )
        return created(None)

    def delete_nodeset_request(self, req: Request, tenant: str, request_id: str) -> None:
        """Delete a nodeset request (``DELETE nodeset-requests/{id}``); 204 with no body."""
        identity = self._admin(req, tenant)
        event = documents.delete_nodeset_request(self.store, tenant, request_id)
        AUDIT.info(
            "%s deleted nodeset request %s on tenant %s: event %s",
            identity.uid,
            request_id,
            tenant,
            event["id"],
        )

    def set_state(self, req: Request, tenant: str) -> bytes:
        """Record a tenant state change (``POST state``, zuul-client manage-events); ``null``."""
        identity = self._admin(req, tenant)
        self._record(identity, tenant, "tenant-state", parse_object(req))
        return NULL

    def authorizations(self, req: Request, tenant: str) -> dict[str, Any]:
        """Return the token's rights on *tenant* in Zuul's shape (``GET authorizations``).

        As zuul-web without role mappings: ``admin`` and ``permissions.admin`` for an admin of
        the tenant, ``permissions.read`` when the token may read it, ``scope: [tenant]``; a
        token that may not read a read-protected tenant gets 403.
        """
        if not queries.tenant_exists(self.store, tenant):
            raise NotFound("Unknown tenant")
        identity = self.auth.authenticate(req)
        if self.auth.read_protected(tenant) and not identity.can("read", tenant):
            raise ForbiddenError(f"{identity.uid} may not read tenant {tenant}", identity.realm)
        return _authorizations(identity.can("admin", tenant), [tenant])

    def root_authorizations(self, req: Request) -> dict[str, Any]:
        """Return the token's rights on the API root (``GET /api/authorizations``).

        Zuul's root scope is ``["*"]``, and ``admin`` is true only for an admin of every
        tenant (``zuul.admin: "*"``, or ``ciweb.admin: "*"``).
        """
        identity = self.auth.authenticate(req)
        return _authorizations(identity.can("admin", ANY), [ANY])


def _authorizations(is_admin: bool, scope: list[str]) -> dict[str, Any]:
    permissions = {"read": True, "admin": True} if is_admin else {"read": True}
    return {"zuul": {"admin": is_admin, "permissions": permissions, "scope": scope}}


@dataclasses.dataclass(frozen=True)
class WriteControllers:
    """The controllers of the write routes, the whitelabel tenant they answer for, and
    whether Zuul's authenticated routes (enqueue, authorizations...) exist at all."""

    reporting: ReportingController
    admin: AdminController
    connection_events: ConnectionEventsController
    documents: ReportDocumentsController
    tenant: str | None = None
    include_auth: bool = True


def make_write_controllers(context: ApiContext) -> WriteControllers:
    """Return the controllers of the write routes: ``reporting``, ``admin`` and the webhook
    event feed ``connection_events``.

    :param context: the API context; its ``auth`` is the :class:`~ciweb.api.auth.Auth` that
        checks tokens (without one, every write is answered 401).
    """
    auth = context.auth if isinstance(context.auth, Auth) else Auth()
    return WriteControllers(
        reporting=ReportingController(context, auth),
        admin=AdminController(context, auth),
        connection_events=ConnectionEventsController(context, auth),
        documents=ReportDocumentsController(context, auth),
        tenant=context.tenant,
        include_auth=bool(auth.authenticators),
    )
