"""JWT bearer tokens: who may report to, administer or read which tenant.

Tokens are checked as zuul-web checks them: the ``iss`` claim selects the authenticator
(``[auth_<name>] issuer_id``), which verifies the signature (HS256 with a shared secret or
RS256 with a public key), ``aud``, ``exp``, the uid claim and, with ``max_validity_time``,
``iat``.  Rights come from the claims::

    {"ciweb": {"report": ["t1"] | "*", "admin": [...] | "*", "read": [...] | "*"},
     "zuul": {"admin": ["t1"] | "*"}}

``zuul.admin`` is Zuul's admin-override claim and counts as ``ciweb.admin``.  The admin and
report rights on a tenant include reading it.  A missing or bad token is a 401 whose JSON body
names Zuul's error (``MissingAuthError``, ``TokenExpiredError``...); a good token without the
right is a 403.

This module holds the deployment's side: :class:`Auth` (which authenticator, which tenants
are read-protected, which right a request needs), the builders from ciweb.conf, and
:func:`mint_token` for ``ciweb-manage token``.  Checking one token, its claims and the errors
are in :mod:`ciweb.api.tokens`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jwt
import webob
from oslo_config import cfg

from ciweb.api.tokens import (
    ANY,
    Authenticator,
    AuthError,
    ForbiddenError,
    Identity,
    rights_from_claims,
)
from ciweb.conf import ConfigError, config_files
from ciweb.conf import auth as auth_conf

__all__ = [
    "Auth",
    "auth_from_conf",
    "auth_from_config_files",
    "auth_from_paste",
    "authenticator_from_conf",
    "mint_token",
]

LOG = logging.getLogger(__name__)

_BEARER = re.compile(r"^Bearer +([A-Za-z0-9._~+/-]+=*) *$", re.IGNORECASE)


class Auth:
    """The authenticators of a deployment, and the read protection of its tenants."""

    def __init__(
        self, authenticators: Sequence[Authenticator] = (), *, read_protected: Iterable[str] = ()
    ) -> None:
        """Freeze the authenticators.

        :param authenticators: in configuration order.
        :param read_protected: tenants whose reads need a token; ``*`` for every tenant.
        :raises ConfigError: on two authenticators with one issuer, or read protection
            without authenticators.
        """
        self.authenticators = tuple(authenticators)
        self._by_issuer: dict[str, Authenticator] = {}
        for authenticator in self.authenticators:
            if authenticator.issuer_id in self._by_issuer:
                raise ConfigError(
                    f"[auth_{authenticator.name}] issuer_id: {authenticator.issuer_id!r} is "
                    f"used by [auth_{self._by_issuer[authenticator.issuer_id].name}] too"
                )
            self._by_issuer[authenticator.issuer_id] = authenticator
        protected = frozenset(read_protected)
        if protected and not self.authenticators:
            raise ConfigError("[auth] read_protected_tenants: needs [auth] authenticators")
        self._protect_all = ANY in protected
        self._protected = protected - {ANY}
        defaults = [a for a in self.authenticators if a.default] or list(self.authenticators[:1])
        self.default_realm: str | None = defaults[0].realm if defaults else None
        self._capabilities = {a.realm: a.capability() for a in self.authenticators}

    def read_protected(self, tenant: str | None = None) -> bool:
        """Return whether reading *tenant* (or, for None, the tenant list) needs a token."""
        return self._protect_all or (tenant is not None and tenant in self._protected)

    def capabilities(self, tenant: str | None = None) -> dict[str, Any]:
        """Return ``info.capabilities.auth`` as zuul-web gives it.

        :param tenant: the tenant of ``/api/tenant/{t}/info``; None for ``/api/info``.
        """
        return {
            "realms": {realm: dict(cap) for realm, cap in self._capabilities.items()},
            "default_realm": self.default_realm,
            "read_protected": self.read_protected(tenant),
            "auth_log_file_requests": False,
        }

    def _realm(self) -> str | None:
        # None without authenticators, as zuul-web's default realm (and info's) is then.
        return self.default_realm

    def authenticate(self, req: webob.Request) -> Identity:
        """Return the identity of the request's bearer token.

        :raises AuthError: ``MissingAuthError``, ``InvalidAuthFormat``,
            ``AuthTokenUndecodedException``, ``MissingClaimError``, ``IssuerUnknownError`` or
            the authenticator's error.
        """
        header = req.headers.get("Authorization")
        if header is None:
            raise AuthError("MissingAuthError", 'Missing "Authorization" header', self._realm())
        # RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token (the scheme is case-insensitive).
        match = _BEARER.match(header)
        if match is None:
            raise AuthError(
                "InvalidAuthFormat", 'Authorization header must be "Bearer <token>"', self._realm()
            )
        return self.identify(match.group(1))

    def identify(self, token: str) -> Identity:
        """Return the identity of *token*, a JWT given without the ``Bearer`` scheme.

        :param token: the encoded token.
        :raises AuthError: ``AuthTokenUndecodedException``, ``MissingClaimError``,
            ``IssuerUnknownError`` or the authenticator's error.
        """
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as exc:
            raise AuthError(
                "AuthTokenUndecodedException", f"Cannot decode token: {exc}", self._realm()
            ) from None
        issuer = unverified.get("iss")
        if issuer is None:
            raise AuthError("MissingClaimError", 'Missing "iss" claim', self._realm())
        authenticator = self._by_issuer.get(issuer) if isinstance(issuer, str) else None
        if authenticator is None:
            raise AuthError("IssuerUnknownError", f"Unknown issuer {issuer!r}", self._realm())
        claims = authenticator.decode(token)
        rights = rights_from_claims(claims, authenticator.realm)
        return Identity(
            uid=claims[authenticator.uid_claim],
            realm=authenticator.realm,
            claims=claims,
            rights=rights,
        )

    def authorize(self, req: webob.Request, tenant: str, right: str) -> Identity:
        """Return the identity of the token if it has *right* on *tenant*.

        :raises AuthError: 401 for a missing or invalid token.
        :raises ForbiddenError: 403 for a valid token without the right.
        """
        return self._require(self.authenticate(req), right, tenant)

    @staticmethod
    def _require(identity: Identity, right: str, tenant: str) -> Identity:
        if not identity.can(right, tenant):
            raise ForbiddenError(
                f"{identity.uid} has no {right} right on tenant {tenant}", identity.realm
            )
        return identity

    def auth_capabilities(self, tenant: str | None) -> dict[str, Any]:
        """Return ``info.capabilities.auth`` for *tenant*; see :meth:`capabilities`."""
        return self.capabilities(tenant)

    def read_identity(self, req: webob.Request, tenant: str | None) -> Identity | None:
        """Check a read of *tenant* (None: the tenant list); None when it needs no token.

        :raises AuthError: 401 for a protected tenant and a missing or invalid token.
        :raises ForbiddenError: 403 for a token without a right on the tenant.
        """
        if not self.read_protected(tenant):
            return None
        if tenant is None:
            # Only the token's validity is checked: readable_tenants() filters the list.
            return self.authenticate(req)
        return self.authorize(req, tenant, "read")

    def readable_tenants(self, req: webob.Request, names: Sequence[str]) -> list[str]:
        """Return the tenants of *names* that *req* may read, in their order.

        With ``*`` the list itself needs a valid token, and shows only the tenants the token
        has a right on.  Otherwise the list is open: the tenants protected one by one are shown
        only to a valid token with a right on them; a bad token there counts as none, as an
        open read never fails on a token.

        :param req: the request (its ``Authorization`` header).
        :param names: every tenant's name.
        :raises AuthError: 401 when ``*`` protects the list and the token is missing or invalid.
        """
        identity = self.read_identity(req, None)
        if identity is None:
            if not self._protected:
                return list(names)
            identity = self._optional_identity(req)
        if identity is None:
            return [name for name in names if not self.read_protected(name)]
        return [n for n in names if not self.read_protected(n) or identity.can("read", n)]

    def _optional_identity(self, req: webob.Request) -> Identity | None:
        if req.headers.get("Authorization") is None:
            return None
        try:
            return self.authenticate(req)
        except AuthError as exc:
            LOG.debug("tenant list read as anonymous: %s: %s", exc.error, exc.description)
            return None

    def check_read_token(self, token: str | None, tenant: str) -> Identity | None:
        """Check a read of *tenant* with a token given outside a header; None when it needs none.

        The console stream gets its token in the first websocket message, not in an
        ``Authorization`` header.  As for the REST reads, a tenant that is not read-protected
        needs no token, and a token given for it is not even decoded.

        :param token: the encoded token; None or empty when the client sent none.
        :param tenant: the tenant read.
        :raises AuthError: 401 ``MissingAuthError`` or the token's error, for a protected tenant.
        :raises ForbiddenError: 403 for a valid token without a right on the tenant.
        """
        if not self.read_protected(tenant):
            return None
        if not token:
            raise AuthError("MissingAuthError", "Missing token", self._realm())
        return self._require(self.identify(token), "read", tenant)

    def authorize_read(self, req: webob.Request, tenant: str | None) -> None:
        """Raise unless *req* may read *tenant* (None: the tenant list); see :meth:`read_identity`.

        :raises AuthError: 401 for a protected tenant and a missing or invalid token.
        :raises ForbiddenError: 403 for a token without a right on the tenant.
        """
        self.read_identity(req, tenant)


def authenticator_from_conf(conf: cfg.ConfigOpts, name: str) -> Authenticator:
    """Return the authenticator of ``[auth_<name>]`` in *conf* (registering the group).

    :raises ConfigError: naming the option.
    """
    group_name = auth_conf.register_authenticator_opts(conf, name)
    try:
        values = {opt.dest: conf[group_name][opt.dest] for opt in auth_conf.AUTHENTICATOR_OPTS}
    except (ValueError, cfg.Error) as exc:
        raise ConfigError(f"[{group_name}] {exc}") from None
    public_key: bytes = b""
    if values["driver"] == "RS256":
        path = values["public_key"]
        if not path:
            raise ConfigError(f"[{group_name}] public_key: is required for RS256")
        try:
            with open(path, "rb") as stream:
                public_key = stream.read(1 << 16)
        except OSError as exc:
            raise ConfigError(f"[{group_name}] public_key: {path}: {exc.strerror}") from None
    values["public_key"] = public_key
    return Authenticator(name, **values)


def auth_from_conf(conf: cfg.ConfigOpts) -> Auth:
    """Return the :class:`Auth` of the ``[auth]`` options of *conf*.

    :param conf: a parsed ``ConfigOpts`` with ``[auth]`` registered.
    :raises ConfigError: naming the bad option.
    """
    names = conf.auth.authenticators
    if len(set(names)) != len(names):
        raise ConfigError("[auth] authenticators: a name is listed twice")
    return Auth(
        [authenticator_from_conf(conf, name) for name in names],
        read_protected=conf.auth.read_protected_tenants,
    )


def auth_from_config_files(config_files: Sequence[str]) -> Auth:
    """Return the :class:`Auth` configured in *config_files* (ciweb.conf).

    :raises ConfigError: naming the file or option.
    """
    conf = cfg.ConfigOpts()
    auth_conf.register_opts(conf)
    try:
        conf([], project="ciweb", default_config_files=list(config_files), default_config_dirs=[])
        conf.auth.authenticators  # noqa: B018 - convert now so a bad value fails here
    except (ValueError, cfg.Error) as exc:
        raise ConfigError(f"[auth] {exc}") from None
    return auth_from_conf(conf)


def auth_from_paste(global_conf: Mapping[str, str]) -> Auth:
    """Return the :class:`Auth` of the ``config_file`` paste hands the app factory.

    :param global_conf: paste's global configuration; ``config_file`` may list several
        files separated by ``os.pathsep``; without it, no authenticator is configured.
    :raises ConfigError: naming the file or option.
    """
    return auth_from_config_files(config_files(global_conf))


def mint_token(
    *,
    issuer: str,
    audience: str,
    subject: str,
    key: Any,
    algorithm: str = "HS256",
    rights: Mapping[str, Sequence[str] | str] | None = None,
    expires_in: int = 3600,
    uid_claim: str = "sub",
    now: float | None = None,
) -> str:
    """Return a signed token carrying ``{"ciweb": rights}``.

    :param issuer: the ``iss`` claim.
    :param audience: the ``aud`` claim.
    :param subject: the user, in *uid_claim*.
    :param key: the HS256 secret or the RS256 private key (PEM or key object).
    :param algorithm: ``HS256`` or ``RS256``.
    :param rights: right -> tenant list or ``"*"``.
    :param expires_in: seconds until ``exp``.
    :param uid_claim: the claim naming the user.
    :param now: the issue time (epoch seconds); the current time when None.
    """
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        uid_claim: subject,
        "iat": issued,
        "exp": issued + expires_in,
    }
    if rights:
        claims["ciweb"] = {k: (v if v == ANY else list(v)) for k, v in rights.items()}
    return jwt.encode(claims, key, algorithm=algorithm)
