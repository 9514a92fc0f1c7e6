"""Options of one connection to a code forge: a ``[connection <name>]`` group each.

A connection's group is named by data, as Zuul's ``[connection <name>]`` sections are, so it
cannot be declared up front: :func:`find_connections` scans the section names of the parsed
files and each connection's driver registers its options on that group
(:func:`register_connection_opts`).  ``[connection github]``, ``[connection "github"]`` and
``[connection_github]`` all name the connection ``github``::

    [connection github]
    driver = github
    webhook_token_file = /etc/ciweb/github-webhook-secret
    tenants = example-tenant

The sample configuration documents the options under the placeholder group
``[connection_name]``, which is never read as a connection.
"""

from __future__ import annotations

import re

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "connection_name",
    title="One connection",
    help="Rename to [connection <name>] or [connection_<name>] for each connection to a "
    "code forge (GitHub, GitLab, Gitea/Forgejo); its webhook is "
    "/api/connection/<name>/payload. This group itself is never read.",
)
#: The placeholder group of the sample; a section of that name is not a connection.
TEMPLATE_GROUP = GROUP

# Zuul: ^connection ([\'\"]?)(.*)(\1)$; ciweb also takes connection_<name>, the form of
# the sample config's placeholder and of [auth_<name>].
SECTION = re.compile(r"^connection(?: +|_)(['\"]?)(?P<name>.*)\1$", re.IGNORECASE)
# A name is a path segment of /api/connection/<name>/ and a log word: no escaping needed.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Zuul's webhook payloads can reach 25 MB on GitHub; most are a few kilobytes.
MAX_BODY_SIZE_LIMIT = 25 * 1024 * 1024

#: Read first: it says which driver's options the group has.
DRIVER_OPT = cfg.StrOpt(
    "driver",
    default="",
    max_length=64,
    help="Required. The driver of the connection: github, gitlab or gitea (Gitea and "
    "Forgejo), or one that a package adds through the ciweb.connections entry point group.",
)

OPTS: list[cfg.Opt] = [
    DRIVER_OPT,
    cfg.StrOpt(
        "server",
        default="",
        max_length=255,
        help="Host name of the forge; empty means the driver's public one (github.com, "
        "gitlab.com, gitea.com). Listed by /api/connections.",
    ),
    cfg.StrOpt(
        "canonical_hostname",
        default="",
        max_length=255,
        help="The host name in canonical project names; empty means server.",
    ),
    cfg.StrOpt(
        "baseurl",
        default="",
        max_length=1024,
        help="URL of the forge, listed by /api/connections; empty means the driver's "
        "(https://api.github.com or https://<server>/api/v3 for GitHub, https://<server> "
        "for the others).",
    ),
    cfg.StrOpt(
        "webhook_token",
        default="",
        secret=True,
        max_length=4096,
        help="The webhook's secret: GitHub and Gitea/Forgejo sign each payload with it "
        "(HMAC-SHA256), GitLab sends it in X-Gitlab-Token. Give this or webhook_token_file. "
        "(Zuul: webhook_token)",
    ),
    cfg.StrOpt(
        "webhook_token_file",
        default="",
        max_length=4096,
        help="Path of a file that holds the webhook's secret (a trailing newline is "
        "dropped), so that it stays out of ciweb.conf; exclusive with webhook_token.",
    ),
    cfg.IntOpt(
        "max_body_size",
        default=1048576,
        min=1024,
        max=MAX_BODY_SIZE_LIMIT,
        help="Largest webhook payload accepted, in bytes; a larger one is refused with 413 "
        "before it is read. The [sizelimit] filter limits every API request first "
        "(max_request_body_size, 1 MiB by default): raise both for larger payloads.",
    ),
    cfg.ListOpt(
        "tenants",
        default=[],
        item_type=cfg.types.String(max_length=255),
        help="Tenants whose report right lets a token read and acknowledge this "
        "connection's events (GET /api/report/connection/<name>/events); a token with the "
        "report right on every tenant ('*') always may.",
    ),
]


def connection_name(section: str) -> str | None:
    """Return the connection a section of ciweb.conf configures, or None for other sections.

    :param section: a section name, e.g. ``connection github`` or ``connection_github``.
    """
    if section == TEMPLATE_GROUP.name:
        return None
    match = SECTION.match(section)
    return match.group("name") if match else None


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the placeholder group (for the sample and the start-up check) on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def register_connection_opts(
    conf: cfg.ConfigOpts, section: str, opts: list[cfg.Opt] | None = None
) -> None:
    """Register the options of the connection that *section* configures.

    oslo.config reads values lazily, so this works after the files were parsed.

    :param conf: the configuration.
    :param section: the section name exactly as written (``connection github``).
    :param opts: the driver's options; :data:`OPTS` when None.
    """
    if section not in conf:
        conf.register_group(cfg.OptGroup(section, title=f"Connection {section}"))
    conf.register_opts(list(OPTS if opts is None else opts), group=section)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the connection options under their placeholder group, for the sample config."""
    return [(GROUP, OPTS)]
