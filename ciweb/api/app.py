"""The paste application factory of the CI web service."""

from __future__ import annotations

from collections.abc import Mapping

from ciweb.api.controllers.info import InfoController
from ciweb.api.routes import make_mapper
from ciweb.conf import ConfigError
from ciweb.wsgi.router import Router

__all__ = ["app_factory"]


def app_factory(global_conf: Mapping[str, str], **local_conf: str) -> Router:
    """Build the API application from its ``[app:...]`` section.

    :param global_conf: paste's ``[DEFAULT]`` values; ``config_file`` names ciweb.conf.
    :param local_conf: ``tenant`` pins a whitelabel deployment to one tenant.
    :raises ConfigError: on an unknown key.
    """
    unknown = set(local_conf) - {"tenant"}
    if unknown:
        raise ConfigError(f"[app] unknown option(s): {', '.join(sorted(unknown))}")
    tenant = local_conf.get("tenant") or None
    return Router(make_mapper(info=InfoController(tenant=tenant)))
