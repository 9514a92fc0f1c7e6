"""Options of the ``[ssl]`` group: TLS on the listening socket."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "ssl",
    title="TLS",
    help="TLS for the listening socket. TLS is on when cert_file and key_file are both set.",
)

# Mozilla's "intermediate" TLS 1.2 suites: forward secrecy and AEAD only.  TLS 1.3 suites are
# not configurable through OpenSSL's cipher string and are all acceptable.
DEFAULT_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)

# Mozilla's "intermediate" key exchange groups; OpenSSL would also offer X448, P-521 and the
# finite-field groups, which slow handshakes down and add nothing for today's clients.
DEFAULT_GROUPS = "X25519:P-256:P-384"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "cert_file",
        help="PEM certificate (chain) of the server. (nova: ssl_cert_file)",
    ),
    cfg.StrOpt(
        "key_file",
        help="PEM private key of the server certificate. (nova: ssl_key_file)",
    ),
    cfg.StrOpt(
        "ca_file",
        help="PEM CA bundle. When set, clients must present a certificate signed by one "
        "of these CAs. (nova: ssl_ca_file)",
    ),
    cfg.StrOpt(
        "min_version",
        default="TLSv1.2",
        choices=[("TLSv1.2", "TLS 1.2 and 1.3"), ("TLSv1.3", "TLS 1.3 only")],
        help="Oldest TLS version accepted.",
    ),
    cfg.StrOpt(
        "ciphers",
        default=DEFAULT_CIPHERS,
        help="OpenSSL cipher list for TLS 1.2 connections (TLS 1.3 suites are always "
        "the OpenSSL defaults).",
    ),
    cfg.StrOpt(
        "groups",
        default=DEFAULT_GROUPS,
        help="Key exchange groups offered for TLS 1.2 and 1.3, in OpenSSL's list syntax "
        "(colon-separated, most preferred first). A client offering none of them is refused "
        "at the handshake. Empty: OpenSSL's defaults (which add X448, P-521 and finite-field "
        "groups).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[ssl]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[ssl]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
