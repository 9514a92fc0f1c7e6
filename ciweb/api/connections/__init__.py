"""Connections to code forges, and the plugin point through which drivers add them.

As zuul-web mounts each connection's web controller under ``/api/connection/<name>/``
(``zuul/web/__init__.py``; GitHub's webhook is ``.../payload``), ciweb mounts the
:class:`WebRoute` s of each configured :class:`Connection` there.  A driver is a
:class:`Connection` subclass published under the ``ciweb.connections`` entry point group,
whose entry point name is the ``driver`` of a ``[connection <name>]`` group of ciweb.conf::

    [options.entry_points]
    ciweb.connections =
        github = ciweb.api.connections.forges:GithubConnection

Its class attribute :attr:`Connection.opts` lists the options of its groups (those of
:mod:`ciweb.conf.connection`, plus its own); its constructor checks them and raises
:class:`~ciweb.conf.ConfigError` naming the option, so a bad connection stops start-up.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from oslo_config import cfg

from ciweb.conf import ConfigError
from ciweb.conf import connection as connection_conf

if TYPE_CHECKING:
    from ciweb.ci.store import Store
    from ciweb.wsgi.router import Controller

__all__ = [
    "ENTRY_POINT_GROUP",
    "PATH_PREFIX",
    "Connection",
    "WebRoute",
    "connection_list",
    "connections_from_conf",
    "connections_from_config_files",
    "load_drivers",
]

ENTRY_POINT_GROUP = "ciweb.connections"
#: Where a connection's routes live: ``/api/connection/<name>/<route path>``.
PATH_PREFIX = "/api/connection/"


@dataclasses.dataclass(frozen=True)
class WebRoute:
    """One route a connection serves under ``/api/connection/<name>/``.

    :param path: the path after the connection's prefix, e.g. ``payload``.
    :param controller: the :class:`~ciweb.wsgi.router.Controller` that serves it.
    :param action: the controller's method, called as ``action(req, **urlvars)``.
    :param methods: the HTTP methods of the route.
    """

    path: str
    controller: Controller
    action: str
    methods: tuple[str, ...] = ("POST",)


class Connection:
    """A configured connection: what ``/api/connections`` shows of it, and its routes.

    Subclasses (drivers) set :attr:`opts`, :attr:`default_server` and override
    :meth:`web_routes` and :meth:`default_baseurl`.

    :param name: the connection's name (``github`` for ``[connection github]``).
    :param options: the typed values of :attr:`opts` by option name.
    :param driver: the driver's entry point name.
    :param store: the CI store, where the connection records what it receives.
    :param section: the configuration section, for error messages.
    :raises ConfigError: naming the bad option.
    """

    #: The options of this driver's ``[connection <name>]`` groups.
    opts: ClassVar[Sequence[cfg.Opt]] = tuple(connection_conf.OPTS)
    #: The forge's host when ``server`` is empty.
    default_server: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        driver: str,
        store: Store,
        section: str | None = None,
    ) -> None:
        self.name = name
        self.driver = driver
        self.store = store
        self.section = section or f"connection {name}"
        self.server: str = options.get("server") or self.default_server
        self.canonical_hostname: str = options.get("canonical_hostname") or self.server
        self.baseurl: str = (options.get("baseurl") or self.default_baseurl()).rstrip("/")
        self.tenants: frozenset[str] = frozenset(options.get("tenants") or ())

    def option_error(self, option: str, message: str) -> ConfigError:
        """Return the start-up error for *option* of this connection's section.

        :param option: the option's name.
        :param message: what is wrong with it.
        """
        return ConfigError(f"[{self.section}] {option}: {message}")

    def default_baseurl(self) -> str:
        """Return the forge's URL when ``baseurl`` is empty: ``https://<server>``."""
        return f"https://{self.server}" if self.server else ""

    def to_dict(self) -> dict[str, Any]:
        """Return the connection as zuul-web's ``/api/connections`` lists it."""
        return {
            "name": self.name,
            "driver": self.driver,
            "baseurl": self.baseurl,
            "canonical_hostname": self.canonical_hostname,
            "server": self.server,
        }

    def web_routes(self) -> Sequence[WebRoute]:
        """Return the routes this connection serves (none by default)."""
        return ()


def connection_list(connections: Sequence[Connection]) -> list[dict[str, Any]]:
    """Return ``/api/connections``: every configured connection, by name.

    :param connections: the configured connections.
    """
    return [c.to_dict() for c in sorted(connections, key=lambda c: c.name)]


def load_drivers() -> dict[str, type[Connection]]:
    """Return the drivers published under the ``ciweb.connections`` entry point group.

    :raises ConfigError: when an entry point does not load or is not a Connection class.
    """
    drivers: dict[str, type[Connection]] = {}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"connection driver {entry_point.name}: {exc}") from None
        if not (isinstance(loaded, type) and issubclass(loaded, Connection)):
            raise ConfigError(f"connection driver {entry_point.name}: not a Connection class")
        drivers[entry_point.name] = loaded
    return drivers


def _option_values(conf: cfg.ConfigOpts, section: str, opts: Sequence[cfg.Opt]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for opt in opts:
        try:
            values[opt.dest] = conf[section][opt.dest]
        except (ValueError, cfg.Error) as exc:
            raise ConfigError(f"[{section}] {opt.dest}: {exc}") from None
    return values


def _driver_of(
    conf: cfg.ConfigOpts, section: str, drivers: Mapping[str, type[Connection]]
) -> tuple[str, type[Connection]]:
    connection_conf.register_connection_opts(conf, section, [connection_conf.DRIVER_OPT])
    name = _option_values(conf, section, [connection_conf.DRIVER_OPT])["driver"]
    if name in drivers:
        return name, drivers[name]
    known = ", ".join(sorted(drivers)) or "none installed"
    problem = f"unknown driver {name!r}" if name else "is required"
    raise ConfigError(f"[{section}] driver: {problem} (known: {known})")


def _build(
    conf: cfg.ConfigOpts,
    section: str,
    name: str,
    drivers: Mapping[str, type[Connection]],
    store: Store,
) -> Connection:
    driver, cls = _driver_of(conf, section, drivers)
    opts = [opt for opt in cls.opts if opt.dest != connection_conf.DRIVER_OPT.dest]
    connection_conf.register_connection_opts(conf, section, opts)
    values = _option_values(conf, section, opts)
    return cls(name, values, driver=driver, store=store, section=section)


def _check_placeholder(conf: cfg.ConfigOpts) -> None:
    placeholder = connection_conf.TEMPLATE_GROUP.name
    if placeholder not in conf:
        connection_conf.register_opts(conf)
    if _option_values(conf, placeholder, [connection_conf.DRIVER_OPT])["driver"]:
        raise ConfigError(
            f"[{placeholder}] driver: [{placeholder}] is the sample's placeholder and never "
            "read; rename the section to [connection <name>]"
        )


def connections_from_conf(
    conf: cfg.ConfigOpts,
    *,
    store: Store,
    drivers: Mapping[str, type[Connection]] | None = None,
) -> tuple[Connection, ...]:
    """Return the connections of every ``[connection <name>]`` section of *conf*'s files.

    :param conf: parsed options (the groups of the connections are registered here).
    :param store: the CI store the connections record into.
    :param drivers: driver name -> class; :func:`load_drivers` when None.
    :raises ConfigError: naming the section and option: an unknown or missing driver, a bad
        name, a connection configured twice, or the driver's own complaint.
    """
    drivers = load_drivers() if drivers is None else drivers
    _check_placeholder(conf)
    seen: dict[str, str] = {}
    connections: list[Connection] = []
    for section in conf.list_all_sections():
        name = connection_conf.connection_name(section)
        if name is None:
            continue
        if not connection_conf.NAME_PATTERN.match(name):
            raise ConfigError(
                f"[{section}] {name!r} is not a connection name: 1-64 letters, digits, "
                "'_', '.' or '-', starting with a letter or digit"
            )
        if name in seen:
            raise ConfigError(f"[{section}] connection {name} is configured in [{seen[name]}] too")
        seen[name] = section
        connections.append(_build(conf, section, name, drivers, store))
    return tuple(connections)


def connections_from_config_files(
    config_files: Sequence[str],
    *,
    store: Store,
    drivers: Mapping[str, type[Connection]] | None = None,
) -> tuple[Connection, ...]:
    """Return the connections configured in *config_files* (ciweb.conf); see
    :func:`connections_from_conf`.

    :raises ConfigError: naming the file, section or option.
    """
    conf = cfg.ConfigOpts()
    try:
        conf([], project="ciweb", default_config_files=list(config_files), default_config_dirs=[])
    except cfg.Error as exc:
        raise ConfigError(f"{', '.join(config_files)}: {exc}") from None
    return connections_from_conf(conf, store=store, drivers=drivers)
