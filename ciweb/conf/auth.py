"""Options of the ``[auth]`` group and of the ``[auth_<name>]`` group of each authenticator.

``[auth] authenticators`` names the JWT authenticators; each has its own group, registered
once its name is known (:func:`register_authenticator_opts`), in the manner of Zuul's
``[auth <name>]`` sections::

    [auth]
    authenticators = ci
    read_protected_tenants = private

    [auth_ci]
    driver = HS256
    realm = ci.example.org
    issuer_id = ciweb
    client_id = ciweb
    secret = a-long-random-secret
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "auth",
    title="Authentication",
    help="JWT bearer tokens for the reporting API, the admin API and read-protected tenants.",
)

#: Prefix of the group of each authenticator: ``[auth_<name>]``.
AUTHENTICATOR_PREFIX = "auth_"
#: The placeholder group under which the sample configuration documents those options.
TEMPLATE_GROUP = cfg.OptGroup(
    "auth_name",
    title="One JWT authenticator",
    help="Rename to auth_<name> for each <name> listed in [auth] authenticators (one group "
    "per authenticator); this group itself is never read.",
)

# A name must make a valid group name and stay readable in logs.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "authenticators",
        default=[],
        item_type=cfg.types.String(regex=NAME_PATTERN, max_length=64),
        help="Names of the JWT authenticators, each configured in its own [auth_<name>] "
        "group. Empty disables the reporting and admin APIs (401 for every write). "
        "(Zuul: one [auth <name>] section per authenticator)",
    ),
    cfg.ListOpt(
        "read_protected_tenants",
        default=[],
        item_type=cfg.types.String(max_length=255),
        help="Tenants whose read endpoints need a token with the read right (or report or "
        "admin) on the tenant; '*' protects every tenant and the tenant list. The info "
        "endpoints never need a token. (Zuul: anonymous_read_access = false)",
    ),
]

AUTHENTICATOR_OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "driver",
        default="HS256",
        choices=[
            ("HS256", "HMAC with SHA-256 and the shared secret"),
            ("RS256", "RSA with SHA-256, checked with the public_key file"),
        ],
        help="Signature algorithm of the tokens this authenticator accepts.",
    ),
    cfg.StrOpt(
        "realm",
        default="",
        max_length=255,
        help="Authentication realm, sent in WWW-Authenticate and listed in "
        "/api/info capabilities.auth.realms; empty means the authenticator's name.",
    ),
    cfg.StrOpt(
        "issuer_id",
        default="",
        max_length=1024,
        help="Required. The token's 'iss' claim; it selects this authenticator.",
    ),
    cfg.StrOpt(
        "client_id",
        default="",
        max_length=1024,
        help="Required. Client id of the issuer, listed in /api/info.",
    ),
    cfg.StrOpt(
        "audience",
        default="",
        max_length=1024,
        help="The 'aud' claim tokens must carry; empty means client_id.",
    ),
    cfg.StrOpt(
        "secret",
        default="",
        secret=True,
        max_length=4096,
        help="HS256: the shared secret, at least 32 bytes (RFC 7518 §3.2).",
    ),
    cfg.StrOpt(
        "public_key",
        default="",
        max_length=4096,
        help="RS256: path of the PEM file of the issuer's RSA public key.",
    ),
    cfg.StrOpt(
        "uid_claim",
        default="sub",
        max_length=255,
        help="Claim that identifies the user (logged with every write).",
    ),
    cfg.IntOpt(
        "max_validity_time",
        default=0,
        min=0,
        max=31536000,
        help="If not 0, tokens issued ('iat') more than this many seconds ago are refused "
        "even before they expire, and 'iat' is required.",
    ),
    cfg.IntOpt(
        "leeway",
        default=0,
        min=0,
        max=600,
        help="Seconds of clock skew allowed when checking 'exp' and 'iat'.",
    ),
    cfg.BoolOpt(
        "default",
        default=False,
        help="This authenticator's realm is the default_realm of /api/info (else the first "
        "authenticator's is).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[auth]`` options (and the documentation group) on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    conf.register_group(TEMPLATE_GROUP)
    conf.register_opts(AUTHENTICATOR_OPTS, group=TEMPLATE_GROUP)


def register_authenticator_opts(conf: cfg.ConfigOpts, name: str) -> str:
    """Register the group ``[auth_<name>]`` on *conf*; return the group's name.

    oslo.config reads values lazily, so this works after the files were parsed.

    :param conf: the configuration.
    :param name: a name from ``[auth] authenticators``.
    """
    group = cfg.OptGroup(AUTHENTICATOR_PREFIX + name, title=f"JWT authenticator {name}")
    if group.name not in conf:
        conf.register_group(group)
        conf.register_opts(AUTHENTICATOR_OPTS, group=group)
    return group.name


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[auth]`` options and the authenticator template for oslo-config-generator."""
    return [(GROUP, OPTS), (TEMPLATE_GROUP, AUTHENTICATOR_OPTS)]
