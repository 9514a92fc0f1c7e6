"""WSGI filters (paste filter_factory), one module per filter."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ciweb.conf import ConfigError, paste_options

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from oslo_config import cfg

__all__ = ["options_filter_factory", "plain_filter_factory"]

FilterFactory = Callable[..., Callable[["WSGIApplication"], Any]]


def options_filter_factory(
    cls: Callable[..., Any], group: cfg.OptGroup, opts: Sequence[cfg.Opt]
) -> FilterFactory:
    """Return the ``paste.filter_factory`` of a filter whose options are one group.

    The factory reads the group's values (ciweb.conf named by ``config_file``, then the
    filter section's local keys, which win) once, and wraps each application in
    ``cls(application, **options)``.

    :param cls: the filter class.
    :param group: its option group.
    :param opts: the group's options.
    """

    def filter_factory(global_conf: Mapping[str, str], **local_conf: str) -> Any:
        options = paste_options(global_conf, local_conf, group, opts)

        def _filter(app: WSGIApplication) -> Any:
            return cls(app, **options)

        return _filter

    filter_factory.__doc__ = (
        f"Return a paste filter that wraps an application in {cls.__name__} "
        f"(options: [{group.name}] of ciweb.conf; the section's local keys win).\n\n"
        ":raises ConfigError: naming an unknown or bad option."
    )
    return filter_factory


def plain_filter_factory(cls: Callable[..., Any], name: str) -> FilterFactory:
    """Return the ``paste.filter_factory`` of a filter that takes no options.

    :param cls: the filter class, called as ``cls(application)``.
    :param name: the filter's name, used in the error for an unexpected key.
    """

    def filter_factory(global_conf: Mapping[str, str], **local_conf: str) -> Any:
        if local_conf:
            raise ConfigError(f"[{name}] unknown option(s): {', '.join(sorted(local_conf))}")

        def _filter(app: WSGIApplication) -> Any:
            return cls(app)

        return _filter

    filter_factory.__doc__ = (
        f"Return a paste filter that wraps an application in {cls.__name__} (no options).\n\n"
        ":raises ConfigError: naming any key given."
    )
    return filter_factory
