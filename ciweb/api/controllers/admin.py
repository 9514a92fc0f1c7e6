"""Zuul's admin API: enqueue, dequeue, promote, autohold, tenant state and authorizations.

Paths, bodies and answers are zuul-web's (reference/zuul-api.md §3): ``true`` for the actions,
``null`` for ``state``, 204 for deleting an autohold.  Each action needs the ``admin`` right on
the tenant and is recorded as a management event that the CI backend lists and acknowledges
through the reporting API (ciweb carries nothing out itself).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from ciweb.api.auth import Auth
from ciweb.api.controllers.reporting import (
    ReportingController,
    WriteController,
    parse_object,
)
from ciweb.api.tokens import Identity
from ciweb.ci import admin, queries, validate
from ciweb.ci.errors import ValidationError

if TYPE_CHECKING:
    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = ["AdminController", "WriteControllers", "make_write_controllers"]

# Zuul's audit log of admin actions is zuul.web.audit; ours is this logger.
AUDIT = logging.getLogger("ciweb.audit")

ENQUEUE_FIELDS = frozenset({"pipeline", "change", "ref", "oldrev", "newrev", "parameters"})
DEQUEUE_FIELDS = frozenset({"pipeline", "change", "ref"})
PROMOTE_FIELDS = frozenset({"pipeline", "changes"})
# Zuul's RBAC permissions that its admin rule grants; the dashboard reads admin and enqueue.
ADMIN_PERMISSIONS = ("admin", "enqueue", "dequeue", "promote", "autohold", "set-tenant-state")
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

    def set_state(self, req: Request, tenant: str) -> bytes:
        """Record a tenant state change (``POST state``, zuul-client manage-events); ``null``."""
        identity = self._admin(req, tenant)
        self._record(identity, tenant, "tenant-state", parse_object(req))
        return NULL

    def authorizations(self, req: Request, tenant: str) -> dict[str, Any]:
        """Return the token's rights on *tenant* in Zuul's shape (``GET authorizations``)."""
        identity = self.auth.authenticate(req)
        is_admin = identity.can("admin", tenant)
        permissions: dict[str, bool] = {}
        if identity.can("read", tenant):
            permissions["read"] = True
        if is_admin:
            permissions.update(dict.fromkeys(ADMIN_PERMISSIONS, True))
        return {"zuul": {"admin": is_admin, "permissions": permissions, "scope": [tenant]}}

    def root_authorizations(self, req: Request) -> dict[str, Any]:
        """Return the tenants the token administers (``GET /api/authorizations``)."""
        identity = self.auth.authenticate(req)
        admin_of = [
            t["name"] for t in queries.tenants(self.store) if identity.can("admin", t["name"])
        ]
        return {
            "zuul": {
                "admin": bool(admin_of),
                "permissions": {"admin": True} if admin_of else {},
                "scope": admin_of,
            }
        }


@dataclasses.dataclass(frozen=True)
class WriteControllers:
    """The controllers of the write routes, and the whitelabel tenant they answer for."""

    reporting: ReportingController
    admin: AdminController
    tenant: str | None = None


def make_write_controllers(context: ApiContext) -> WriteControllers:
    """Return the controllers of the write routes: ``reporting`` and ``admin``.

    :param context: the API context; its ``auth`` is the :class:`~ciweb.api.auth.Auth` that
        checks tokens (without one, every write is answered 401).
    """
    auth = context.auth if isinstance(context.auth, Auth) else Auth()
    return WriteControllers(
        reporting=ReportingController(context, auth),
        admin=AdminController(context, auth),
        tenant=context.tenant,
    )
