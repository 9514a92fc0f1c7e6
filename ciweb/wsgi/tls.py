"""Server TLS contexts: protocol versions, ciphers, client certificates and key exchange groups.

The key exchange groups need more than Python's :mod:`ssl` offers.  OpenSSL 3 offers
X25519, P-256, X448, P-521, P-384 and the finite-field groups by default, where Mozilla's
"intermediate" profile asks for X25519, P-256 and P-384 only; Python 3.11 to 3.13 can set
exactly one group (``SSLContext.set_ecdh_curve``).  So :func:`set_groups` calls OpenSSL's
``SSL_CTX_set1_groups_list`` on the context's own ``SSL_CTX`` through :mod:`ctypes`, from
the very libssl that Python's ``_ssl`` module is linked to.  It is per context, so it acts
the same in ``ciweb-api``'s workers, under a paste server runner and for a :class:`Server`
built by hand, and touches no other TLS connection of the process (database or ZooKeeper
clients keep OpenSSL's defaults).  An OpenSSL configuration file (``OPENSSL_CONF``) would
have applied to every context of the process instead, and only to processes started with
it.

Reaching the ``SSL_CTX`` relies on CPython's ``PySSLContext`` starting with its pointer
(``Modules/_ssl.c``, unchanged since Python 3.2); :func:`set_groups` checks the pointer
against the context's options before it uses it, and any failure is an error at start-up,
never a silently different group list.
"""

from __future__ import annotations

import ctypes
import functools
import os
import ssl

from ciweb.conf import ConfigError
from ciweb.conf.ssl import DEFAULT_GROUPS

__all__ = ["TLS_VERSIONS", "make_context", "set_groups"]

TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# ssl.h: SSL_CTX_set1_groups_list(ctx, s) is SSL_CTX_ctrl(ctx, SSL_CTRL_SET_GROUPS_LIST, 0, s)
# (OpenSSL 1.1.1 and 3.x).
_SSL_CTRL_SET_GROUPS_LIST = 92


@functools.cache
def _libssl() -> ctypes.CDLL:
    """Return the libssl that Python's ``_ssl`` module uses, with the functions typed."""
    import _ssl

    # dlsym on the extension module's handle searches the libraries it was linked with;
    # a Python with _ssl built in finds them in the main program (path None).
    lib = ctypes.CDLL(getattr(_ssl, "__file__", None))
    lib.SSL_CTX_ctrl.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p)
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_CTX_get_options.argtypes = (ctypes.c_void_p,)
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    lib.ERR_get_error.argtypes = ()
    lib.ERR_get_error.restype = ctypes.c_ulong
    lib.ERR_error_string_n.argtypes = (ctypes.c_ulong, ctypes.c_char_p, ctypes.c_size_t)
    lib.ERR_error_string_n.restype = None
    lib.ERR_clear_error.argtypes = ()
    lib.ERR_clear_error.restype = None
    return lib


def _openssl_error(lib: ctypes.CDLL) -> str:
    code = lib.ERR_get_error()
    lib.ERR_clear_error()
    if not code:
        return "rejected by OpenSSL"
    text = ctypes.create_string_buffer(256)
    lib.ERR_error_string_n(code, text, len(text))
    return text.value.decode("ascii", "replace")


def set_groups(context: ssl.SSLContext, groups: str) -> None:
    """Offer exactly *groups* for the key exchange on *context* (TLS 1.2 and 1.3).

    :param context: a context of Python's :mod:`ssl` module (or a subclass).
    :param groups: an OpenSSL group list, e.g. ``X25519:P-256:P-384``.
    :raises ValueError: when a group is unknown or the context cannot be reached.
    """
    try:
        lib = _libssl()
    except (OSError, AttributeError) as exc:
        raise ValueError(f"cannot reach OpenSSL's libssl: {exc}") from None
    # The first field after the object header of CPython's PySSLContext: SSL_CTX *ctx.
    address = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not address or lib.SSL_CTX_get_options(address) != int(context.options):
        raise ValueError("cannot reach the OpenSSL context of this Python's ssl module")
    if lib.SSL_CTX_ctrl(address, _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode("ascii")) != 1:
        raise ValueError(
            f"{groups!r} names a group this OpenSSL does not know: {_openssl_error(lib)}"
        )


def make_context(
    context_class: type[ssl.SSLContext],
    *,
    cert_file: str,
    key_file: str,
    ca_file: str | None = None,
    min_version: str = "TLSv1.2",
    ciphers: str | None = None,
    groups: str | None = DEFAULT_GROUPS,
) -> ssl.SSLContext:
    """Return a server TLS context of *context_class*; with *ca_file*, clients need a certificate.

    :param context_class: :class:`ssl.SSLContext` or a subclass (eventlet's green one).
    :param cert_file: PEM certificate chain of the server.
    :param key_file: PEM private key.
    :param ca_file: PEM CA bundle that client certificates must chain to.
    :param min_version: ``TLSv1.2`` or ``TLSv1.3``.
    :param ciphers: OpenSSL cipher list for TLS 1.2.
    :param groups: OpenSSL list of key exchange groups; None or empty for OpenSSL's own.
    :raises ConfigError: naming the ``[ssl]`` option that is wrong.
    """
    for option, path in (("cert_file", cert_file), ("key_file", key_file), ("ca_file", ca_file)):
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"[ssl] {option}: file {path} not found")
    if min_version not in TLS_VERSIONS:
        raise ConfigError(
            f"[ssl] min_version: {min_version!r} is not one of {sorted(TLS_VERSIONS)}"
        )
    context = context_class(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[min_version]
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    if ciphers:
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError as exc:
            raise ConfigError(f"[ssl] ciphers: {exc}") from None
    if groups:
        try:
            set_groups(context, groups)
        except ValueError as exc:
            raise ConfigError(f"[ssl] groups: {exc}") from None
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"[ssl] cert_file/key_file: cannot load: {exc}") from None
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"[ssl] ca_file: cannot load: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
