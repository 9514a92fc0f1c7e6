"""Options of the ``[cors]`` group: cross-origin resource sharing (Fetch standard, §3.2)."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "cors",
    title="CORS",
    help="The cors filter: which web origins may read ciweb's responses from a browser. "
    "The defaults are Zuul's: any origin, no credentials, preflights cached one day.",
)

OPTS = [
    cfg.ListOpt(
        "allowed_origin",
        default=["*"],
        help="Origins allowed to read responses, as scheme://host[:port] (no path), or * "
        "alone for any origin. An empty list disables CORS headers altogether.",
    ),
    cfg.BoolOpt(
        "allow_credentials",
        default=False,
        help="Send Access-Control-Allow-Credentials: true, letting browsers send cookies "
        "and HTTP authentication. Refused at start-up together with allowed_origin = *, "
        "allow_headers = * or expose_headers = * (the Fetch standard gives * no wildcard "
        "meaning with credentials).",
    ),
    cfg.ListOpt(
        "allow_methods",
        default=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        help="Methods a preflight may ask for; a preflight is answered with all of them.",
    ),
    cfg.ListOpt(
        "allow_headers",
        default=["Authorization", "Content-Type"],
        help="Request header fields a preflight may ask for (case-insensitive); * allows "
        "any field except Authorization, which must be listed by name.",
    ),
    cfg.ListOpt(
        "expose_headers",
        default=[],
        help="Response header fields, beyond the CORS-safelisted ones, that scripts may read.",
    ),
    cfg.IntOpt(
        "max_age",
        default=86400,
        min=0,
        max=86400 * 365,
        help="Seconds a browser may cache a preflight answer (Access-Control-Max-Age); "
        "0 makes it ask every time.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[cors]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[cors]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
