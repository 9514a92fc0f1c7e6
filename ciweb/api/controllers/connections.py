"""``/api/connections`` (Zuul's list) and a connection's webhook events for the CI backend.

A connection serves the whole deployment, as in Zuul, where the scheduler routes a forge's
event to the tenants whose projects it concerns.  Its events therefore belong to no single
tenant: the CI backend reads them from the connection's own feed,
``GET /api/report/connection/{connection}/events``, and acknowledges each with
``POST .../events/{id}/ack``, as it does a tenant's management events.  A token may do so
with the ``report`` right on one of the tenants the connection lists (``[connection <name>]
tenants``), or on every tenant.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ciweb.api.connections import connection_list
from ciweb.api.controllers.base import ApiController
from ciweb.api.controllers.reporting import WriteController, feed_query
from ciweb.api.tokens import ForbiddenError, Identity
from ciweb.ci import documents, validate, webhooks
from ciweb.ci.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from ciweb.api.auth import Auth
    from ciweb.api.connections import Connection
    from ciweb.api.context import ApiContext
    from ciweb.wsgi.request import Request

__all__ = ["ConnectionEventsController", "ConnectionsController"]

LOG = logging.getLogger(__name__)


class ConnectionsController(ApiController):
    """``GET /api/connections``: the connections in zuul-web's shape, those configured in
    ciweb.conf first (by name), then those the CI system reported
    (``PUT /api/report/connections``) under a name no configured one has."""

    def connections(self, req: Request) -> list[dict[str, Any]]:
        """Return ``[{name, driver, baseurl, canonical_hostname, server, ...}]``."""
        self.context.authorize_read(req, None)
        configured = connection_list(self.context.connections)
        names = {c["name"] for c in configured}
        reported = documents.connections(self.context.store)
        return configured + [c for c in reported if c.get("name") not in names]


class ConnectionEventsController(WriteController):
    """Actions of ``/api/report/connection/{connection}/...``: the webhook event feed."""

    def __init__(self, context: ApiContext, auth: Auth) -> None:
        """Build the controller.

        :param context: the store and the configured connections.
        :param auth: the authenticators that check bearer tokens.
        """
        super().__init__(context, auth)
        self.by_name = {c.name: c for c in context.connections}

    def _begin(self, req: Request, name: str) -> Connection:
        identity = self.auth.authenticate(req)
        connection = self.by_name.get(name)
        if connection is None:
            raise NotFound("Unknown connection")
        if not _may_report(identity, connection):
            raise ForbiddenError(
                f"{identity.uid} has no report right on a tenant of connection {name}",
                identity.realm,
            )
        LOG.info("report %s %s by %s", req.method, req.path, identity.uid)
        return connection

    def list_events(self, req: Request, connection: str) -> list[dict[str, Any]]:
        """List webhook events (``GET .../events?pending=&after=&limit=``), oldest first."""
        self._begin(req, connection)
        return webhooks.list_events(self.store, connection, **feed_query(req))

    def ack_event(self, req: Request, connection: str, event_id: str) -> dict[str, Any]:
        """Mark a webhook event as handled (``POST .../events/{id}/ack``); idempotent."""
        self._begin(req, connection)
        event = validate.id_param(event_id, ValidationError("id", "must be an event id"))
        return webhooks.acknowledge_event(self.store, connection, event)


def _may_report(identity: Identity, connection: Connection) -> bool:
    if identity.rights.get("report", frozenset()) is None:  # "report": "*"
        return True
    return any(identity.can("report", tenant) for tenant in connection.tenants)
