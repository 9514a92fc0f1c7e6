"""Option declarations (oslo.config), one module per group, and helpers to parse them.

Nothing here holds a global ``CONF``: :func:`load` builds a fresh ``ConfigOpts`` that the
caller passes down, and :func:`paste_options` gives a paste factory the typed values of one
group, with the filter's local ini keys winning over ``ciweb.conf``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from oslo_config import cfg

from ciweb.conf import opts

__all__ = ["ConfigError", "config_files", "load", "paste_options"]


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the option."""


def load(
    args: Sequence[str] | None = None,
    *,
    config_files: Sequence[str] | None = None,
    prog: str = "ciweb",
) -> cfg.ConfigOpts:
    """Return a new ``ConfigOpts`` with every ciweb option registered and parsed.

    :param args: command-line arguments (``--config-file`` and friends); ``[]`` for none.
    :param config_files: configuration files read when *args* names none.
    :param prog: program name shown in usage messages.
    :raises ConfigError: when a value in a configuration file is invalid.
    """
    conf = cfg.ConfigOpts()
    opts.register_all(conf)
    conf(
        list(args or []),
        project="ciweb",
        prog=prog,
        default_config_files=list(config_files or []),
        default_config_dirs=[],
        validate_default_values=True,
    )
    check(conf)
    return conf


def check(conf: cfg.ConfigOpts) -> None:
    """Read every registered option once so that a bad value fails now, naming itself.

    oslo.config converts values lazily; without this a typo in ``ciweb.conf`` would only
    surface on first use, possibly in a request.

    :raises ConfigError: naming ``[group] option`` and the reason.
    """
    for group, group_opts in opts.list_opts():
        for opt in group_opts:
            try:
                conf[group.name][opt.dest]
            except (ValueError, cfg.Error) as exc:
                raise ConfigError(f"[{group.name}] {opt.dest}: {exc}") from None


def config_files(global_conf: Mapping[str, str]) -> list[str]:
    """Return the ciweb.conf files that paste's ``config_file`` names.

    ``ciweb-api`` hands every ``--config-file`` to paste joined by ``os.pathsep`` (later
    files win, as on its command line).

    :param global_conf: paste's global configuration.
    """
    return [path for path in global_conf.get("config_file", "").split(os.pathsep) if path]


def paste_options(
    global_conf: Mapping[str, str],
    local_conf: Mapping[str, str],
    group: cfg.OptGroup,
    group_opts: Sequence[cfg.Opt],
) -> dict[str, Any]:
    """Return the typed values of *group* for one paste factory call.

    Defaults come from the option declarations, then from the ``[group]`` section of the
    file named by ``config_file`` in *global_conf* (``ciweb-api`` sets it), then from the
    factory's local ini keys, which win for this filter instance only.

    :param global_conf: paste's global configuration (strings).
    :param local_conf: the local keys of the filter's ini section (strings).
    :param group: the option group the filter reads.
    :param group_opts: the options of that group.
    :raises ConfigError: naming the unknown key or the bad value.
    """
    by_name = {opt.name: opt for opt in group_opts}
    by_name.update({opt.dest: opt for opt in group_opts})
    values: dict[str, Any] = {opt.dest: opt.default for opt in group_opts}
    files = config_files(global_conf)
    if files:
        conf = cfg.ConfigOpts()
        conf.register_group(group)
        conf.register_opts(list(group_opts), group=group)
        try:
            conf([], project="ciweb", default_config_files=files, default_config_dirs=[])
        except cfg.Error as exc:
            raise ConfigError(f"{', '.join(files)}: {exc}") from None
        for opt in group_opts:
            try:
                values[opt.dest] = conf[group.name][opt.dest]
            except (ValueError, cfg.Error) as exc:
                raise ConfigError(f"[{group.name}] {opt.dest}: {exc}") from None
    for key, raw in local_conf.items():
        found = by_name.get(key)
        if found is None:
            known = ", ".join(sorted(o.name for o in group_opts))
            raise ConfigError(f"[{group.name}] unknown option {key!r} (known: {known})")
        try:
            values[found.dest] = found.type(raw)
        except ValueError as exc:
            raise ConfigError(f"[{group.name}] {key} = {raw!r}: {exc}") from None
    return values
