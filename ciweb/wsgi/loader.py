"""Load a WSGI application from a paste.deploy ini file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from paste import deploy

from ciweb.conf import ConfigError

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["load_app"]


def load_app(
    path: str, name: str = "main", *, global_conf: Mapping[str, str] | None = None
) -> WSGIApplication:
    """Build the application, pipeline or composite *name* of the paste file *path*.

    :param path: the paste ini file.
    :param name: the section name, without its ``app:``/``pipeline:``/``composite:`` prefix.
    :param global_conf: extra ``[DEFAULT]`` values (strings), e.g. ``config_file``.
    :raises ConfigError: naming the file when it is missing, or the file and the name when
        it holds no such application or cannot build it.
    """
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"paste config file {path} not found")
    try:
        return deploy.loadapp(f"config:{path}", name=name, global_conf=dict(global_conf or {}))
    except LookupError as exc:
        raise ConfigError(f"{path}: cannot load application {name!r}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{path}: application {name!r}: {exc}") from None
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"{path}: cannot build application {name!r}: {exc}") from None
