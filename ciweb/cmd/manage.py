"""``ciweb-manage``: operator commands: the database, demo data, tokens, discovery, config check.

::

    ciweb-manage --config-file etc/ciweb.conf db upgrade
    ciweb-manage --config-file etc/ciweb.conf db current
    ciweb-manage --config-file etc/ciweb.conf demo
    ciweb-manage --config-file etc/ciweb.conf token --authenticator ci --sub zuul \\
        --report example-tenant --admin example-tenant --expires-in 86400
    ciweb-manage --config-file etc/ciweb.conf discover /ciweb/servers --hosts zk1:2181
    ciweb-manage --config-file etc/ciweb.conf config-check

Exit status: 0 on success, 1 when the command failed (e.g. ZooKeeper unreachable), 2 on a
usage or configuration error (one line on stderr, as ``ciweb-api`` does).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from oslo_config import cfg
from sqlalchemy.exc import SQLAlchemyError

from ciweb import conf as ciweb_conf
from ciweb.ci.errors import CIError
from ciweb.conf import ConfigError

if TYPE_CHECKING:
    from ciweb.ci.store import Store

__all__ = ["main"]

LOG = logging.getLogger("ciweb.manage")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
PROG = "ciweb-manage"


class _Usage(Exception):
    """A usage error found after argparse (exit 2)."""


def _store(conf: cfg.ConfigOpts) -> Store:
    """Return the store of ``[database]``, built as the API builds it (ConfigError if bad)."""
    from ciweb.api.app import make_store
    from ciweb.conf import database as database_conf

    group = conf[database_conf.GROUP.name]
    return make_store({opt.dest: group[opt.dest] for opt in database_conf.OPTS})


def cmd_db_upgrade(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Migrate the database to *args.revision* (head by default)."""
    store = _store(conf)
    store.upgrade(args.revision)
    out.write(f"database at revision {store.current_revision()}\n")
    return EXIT_OK


def cmd_db_current(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Print the database's revision and the head; exit 1 when they differ."""
    store = _store(conf)
    current, head = store.current_revision(), store.head_revision()
    out.write(f"current {current or 'none'} head {head}\n")
    return EXIT_OK if current == head else EXIT_FAILED


def cmd_demo(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Load the demo tenant, which fills every page of the dashboard (idempotent: no history is
    added twice, and the live status, its builds and the resources are refreshed); the
    database must be migrated."""
    from ciweb.ci import demo

    store = _store(conf)
    store.check_migrated()
    added = demo.load_demo(store)
    out.write(f"demo tenant {demo.TENANT}: {added.get('buildsets', 0)} buildsets added\n")
    return EXIT_OK


def _private_key(path: str) -> object:
    from cryptography.hazmat.primitives import serialization

    try:
        with open(path, "rb") as stream:
            return serialization.load_pem_private_key(stream.read(1 << 16), password=None)
    except OSError as exc:
        raise _Usage(f"--private-key: {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise _Usage(f"--private-key: {path}: not an unencrypted PEM private key ({exc})") from None


def cmd_token(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Print a token signed for ``[auth_<name>]``: HS256 with its secret, or RS256 with a key."""
    from ciweb.api import auth, tokens

    if args.authenticator not in conf.auth.authenticators:
        raise _Usage(f"--authenticator: {args.authenticator!r} is not in [auth] authenticators")
    authenticator = auth.authenticator_from_conf(conf, args.authenticator)
    group = conf[f"auth_{args.authenticator}"]
    if authenticator.driver == "RS256":
        if not args.private_key:
            raise _Usage("--private-key: is required for an RS256 authenticator")
        key = _private_key(args.private_key)
    else:
        key = group.secret
    rights = {
        name: ("*" if "*" in values else values)
        for name, values in (("report", args.report), ("admin", args.admin), ("read", args.read))
        if values
    }
    try:
        token = auth.mint_token(
            issuer=authenticator.issuer_id,
            audience=authenticator.audience,
            subject=args.sub,
            key=key,
            algorithm=authenticator.driver,
            rights=rights,
            expires_in=args.expires_in,
            uid_claim=authenticator.uid_claim,
        )
    except (ValueError, TypeError) as exc:
        raise _Usage(f"--private-key: cannot sign with it ({exc})") from None
    try:
        # The token must pass the server's own check (e.g. a private key of another pair).
        authenticator.decode(token)
    except tokens.AuthError as exc:
        raise _Usage(f"the token fails [auth_{args.authenticator}]: {exc.description}") from None
    out.write(token + "\n")
    return EXIT_OK


def cmd_discover(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Print ``name data`` for each live instance registered under *args.path*."""
    import json

    from ciweb.discovery import zookeeper

    hosts = args.hosts or conf.zookeeper.hosts
    if not hosts:
        raise _Usage("--hosts: is required when [zookeeper] hosts is empty")
    try:
        instances = zookeeper.discover(hosts, args.path, timeout=args.timeout)
    except TimeoutError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        raise _Usage(f"PATH: {exc}") from None
    for name, data in instances:
        out.write(f"{name} {json.dumps(data, sort_keys=True, separators=(',', ':'))}\n")
    return EXIT_OK


def cmd_config_check(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Parse every option, the authenticators and the paste pipeline; print ``OK``."""
    from ciweb.api.auth import auth_from_conf
    from ciweb.cmd.api import load_pipeline

    auth_from_conf(conf)
    load_pipeline(conf)
    out.write("configuration OK\n")
    return EXIT_OK


def cmd_dashboard(conf: cfg.ConfigOpts, args: argparse.Namespace, out: TextIO) -> int:
    """Run ``dashboard install ...`` (see :func:`ciweb.api.dashboard.cli`)."""
    from ciweb.api import dashboard

    return dashboard.cli(args.arguments, conf, out)


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 10 * 365 * 86400:
        raise argparse.ArgumentTypeError("must be between 1 and 315360000 seconds")
    return value


def _timeout(text: str) -> float:
    value = float(text)
    if not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError("must be between 0.1 and 600 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``ciweb-manage`` and its subcommands."""
    parser = argparse.ArgumentParser(prog=PROG, description="Manage a ciweb deployment.")
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="ciweb.conf to read (repeatable; later files win)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    upgrade = db.add_parser("upgrade", help="migrate the database (to head)")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    db.add_parser("current", help="print the current and head revisions").set_defaults(
        func=cmd_db_current
    )
    commands.add_parser(
        "demo", help="load the demo tenant that fills every dashboard page (idempotent)"
    ).set_defaults(func=cmd_demo)
    token = commands.add_parser("token", help="print a signed bearer token")
    token.add_argument("--authenticator", required=True, metavar="NAME")
    token.add_argument("--sub", required=True, metavar="USER", help="the user (uid claim)")
    for right in ("report", "admin", "read"):
        token.add_argument(
            f"--{right}",
            action="append",
            default=[],
            metavar="TENANT",
            help=f"grant the {right} right on TENANT (repeatable; '*' for every tenant)",
        )
    token.add_argument("--expires-in", type=_positive, default=3600, metavar="SECONDS")
    token.add_argument("--private-key", metavar="FILE", help="RS256: PEM private key")
    token.set_defaults(func=cmd_token)
    discover = commands.add_parser("discover", help="list servers registered in ZooKeeper")
    discover.add_argument("path", metavar="PATH")
    discover.add_argument("--hosts", metavar="H", help="ZooKeeper hosts ([zookeeper] hosts)")
    discover.add_argument("--timeout", type=_timeout, default=10.0, metavar="SECONDS")
    discover.set_defaults(func=cmd_discover)
    commands.add_parser(
        "config-check", help="check the options and load the paste pipeline"
    ).set_defaults(func=cmd_config_check)
    dashboard = commands.add_parser(
        "dashboard", help="install the Zuul dashboard: dashboard install [--help]", add_help=False
    )
    dashboard.add_argument("arguments", nargs=argparse.REMAINDER)
    dashboard.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``ciweb-manage``; return the exit status.

    :param argv: arguments without the program name (``sys.argv[1:]`` when None).
    :param out: where results are written (stdout when None).
    """
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    func: Callable[[cfg.ConfigOpts, argparse.Namespace, TextIO], int] = args.func
    try:
        conf = ciweb_conf.load([], config_files=args.config_file, prog=PROG)
        return func(conf, args, out or sys.stdout)
    except (ConfigError, cfg.Error, _Usage) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (CIError, SQLAlchemyError, OSError) as exc:
        # The command ran and failed (database unreachable, not migrated...): one line.
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
