"""The list of every option group of ciweb, for oslo-config-generator and for registration."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType

from oslo_config import cfg

import ciweb.conf

# Every other module of ciweb/conf/ declares one group: GROUP, OPTS, register_opts(),
# list_opts().  They are found by listing the package, in name order.
_NOT_GROUPS = frozenset({"opts"})


def _modules() -> Iterator[ModuleType]:
    for info in sorted(pkgutil.iter_modules(ciweb.conf.__path__), key=lambda i: i.name):
        if info.name not in _NOT_GROUPS and not info.name.startswith("_"):
            yield importlib.import_module(f"ciweb.conf.{info.name}")


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return ``(group, options)`` pairs of every ciweb option (oslo.config.opts entry point)."""
    pairs: list[tuple[cfg.OptGroup, list[cfg.Opt]]] = []
    for module in _modules():
        pairs.extend(module.list_opts())
    return pairs


def register_all(conf: cfg.ConfigOpts) -> None:
    """Register every ciweb option group on *conf*."""
    for module in _modules():
        module.register_opts(conf)
