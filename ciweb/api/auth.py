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
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
import webob
import webob.exc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oslo_config import cfg

from ciweb.conf import ConfigError, config_files
from ciweb.conf import auth as auth_conf

__all__ = [
    "ANY",
    "RIGHTS",
    "Auth",
    "AuthError",
    "Authenticator",
    "ForbiddenError",
    "Identity",
    "auth_from_conf",
    "auth_from_config_files",
    "auth_from_paste",
    "mint_token",
]

LOG = logging.getLogger(__name__)

ANY = "*"
RIGHTS = ("read", "report", "admin")
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32
# RFC 7518 §3.3: RS256 keys of 2048 bits or larger MUST be used.
MIN_RSA_BITS = 2048
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9._~+/-]+=*) *$", re.IGNORECASE)
# RFC 6750 §3: error_description may hold only %x20-21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class AuthError(webob.exc.HTTPUnauthorized):
    """A missing or invalid token (401); :attr:`error` is Zuul's name for the failure."""

    def __init__(self, error: str, description: str, realm: str) -> None:
        """Build the error.

        :param error: Zuul's error name, e.g. ``TokenExpiredError``.
        :param description: what is wrong, for the client.
        :param realm: the realm named in ``WWW-Authenticate``.
        """
        super().__init__(detail=description)
        self.error = error
        self.description = description
        self.realm = realm
        self.error_fields = {"realm": realm}
        self.headers["WWW-Authenticate"] = self.challenge()

    def challenge(self) -> str:
        """Return the ``WWW-Authenticate`` value (RFC 6750 §3)."""
        if self.error == "MissingAuthError":
            # RFC 6750 §3.1: a request without credentials gets no error code.
            return f"Bearer realm={_quote(self.realm)}"
        text = _NOT_DESCRIPTION_CHARS.sub(" ", self.description)
        return (
            f'Bearer realm={_quote(self.realm)}, error="invalid_token", error_description="{text}"'
        )

    def json_response(self, request_id: str | None = None) -> webob.Response:
        """Return the JSON answer: ``{error, description, realm, request_id}`` (zuul-web's keys)."""
        return _json_response(
            self.code,
            {"error": self.error, "description": self.description, "realm": self.realm},
            request_id,
            [("WWW-Authenticate", self.challenge())],
        )


class ForbiddenError(webob.exc.HTTPForbidden):
    """A valid token without the right needed (403)."""

    def __init__(self, description: str, realm: str) -> None:
        """Build the error.

        :param description: which right on which tenant is missing.
        :param realm: the realm of the token's authenticator.
        """
        super().__init__(detail=description)
        self.error = "Forbidden"
        self.description = description
        self.realm = realm
        self.error_fields = {"realm": realm}
        # RFC 6750 §3.1: insufficient_scope goes with 403.
        self.headers["WWW-Authenticate"] = self.challenge()

    def challenge(self) -> str:
        """Return the ``WWW-Authenticate`` value (RFC 6750 §3.1, insufficient_scope)."""
        return f'Bearer realm={_quote(self.realm)}, error="insufficient_scope"'

    def json_response(self, request_id: str | None = None) -> webob.Response:
        """Return the JSON answer ``{error, description, realm, request_id}``."""
        return _json_response(
            self.code,
            {"error": self.error, "description": self.description, "realm": self.realm},
            request_id,
            [("WWW-Authenticate", self.challenge())],
        )


def _quote(value: str) -> str:
    # RFC 9110 §5.6.4: quoted-string escapes backslash and double quote.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json_response(
    status: int, body: dict[str, Any], request_id: str | None, headers: list[tuple[str, str]]
) -> webob.Response:
    document = {**body, "request_id": request_id}
    response = webob.Response(
        status=status,
        body=json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(),
        headerlist=[("Content-Type", JSON_CONTENT_TYPE), *headers],
    )
    return response


@dataclass(frozen=True)
class Identity:
    """Who a valid token speaks for, and its rights: right -> tenants, or ``None`` for all."""

    uid: str
    realm: str
    claims: Mapping[str, Any] = field(repr=False)
    rights: Mapping[str, frozenset[str] | None]

    def can(self, right: str, tenant: str) -> bool:
        """Return whether the token has *right* on *tenant* (admin and report include read).

        :param right: ``read``, ``report`` or ``admin``.
        :param tenant: the tenant's name.
        """
        implied = RIGHTS if right == "read" else (right,)
        for name in implied:
            tenants = self.rights.get(name, frozenset())
            if tenants is None or tenant in tenants:
                return True
        return False


def _tenant_list(value: Any, claim: str, error: str, realm: str) -> frozenset[str] | None:
    if value == ANY:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise AuthError(error, f'"{claim}" must be a list of tenant names or "*"', realm)


def _merge(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    return None if a is None or b is None else a | b


def rights_from_claims(claims: Mapping[str, Any], realm: str) -> dict[str, frozenset[str] | None]:
    """Return the rights the ``ciweb`` and ``zuul`` claims grant.

    :raises AuthError: ``IncorrectZuulAdminClaimError`` or ``IncorrectCiwebClaimError`` when a
        claim is malformed.
    """
    rights: dict[str, frozenset[str] | None] = {name: frozenset() for name in RIGHTS}
    ciweb = claims.get("ciweb")
    if ciweb is not None:
        if not isinstance(ciweb, Mapping):
            raise AuthError("IncorrectCiwebClaimError", '"ciweb" must be an object', realm)
        for name in RIGHTS:
            if name in ciweb:
                granted = _tenant_list(
                    ciweb[name], f"ciweb.{name}", "IncorrectCiwebClaimError", realm
                )
                rights[name] = _merge(rights[name], granted)
    zuul = claims.get("zuul")
    if zuul is not None:
        if not isinstance(zuul, Mapping) or "admin" not in zuul:
            raise AuthError("IncorrectZuulAdminClaimError", '"zuul" must hold "admin"', realm)
        granted = _tenant_list(zuul["admin"], "zuul.admin", "IncorrectZuulAdminClaimError", realm)
        rights["admin"] = _merge(rights["admin"], granted)
    return rights


class Authenticator:
    """One ``[auth_<name>]`` authenticator: checks the tokens of one issuer."""

    def __init__(
        self,
        name: str,
        *,
        issuer_id: str,
        client_id: str,
        driver: str = "HS256",
        realm: str = "",
        audience: str = "",
        secret: str = "",
        public_key: str | bytes = "",
        uid_claim: str = "sub",
        max_validity_time: int = 0,
        leeway: int = 0,
        default: bool = False,
    ) -> None:
        """Check the settings and load the key.

        :param name: the authenticator's name (group ``[auth_<name>]``).
        :param issuer_id: the ``iss`` claim of its tokens.
        :param client_id: the client id; the default audience.
        :param driver: ``HS256`` or ``RS256``.
        :param realm: the realm; defaults to *name*.
        :param audience: the ``aud`` claim required; defaults to *client_id*.
        :param secret: HS256: the shared secret (at least 32 bytes).
        :param public_key: RS256: the PEM text of the public key.
        :param uid_claim: the claim naming the user.
        :param max_validity_time: if not 0, the maximum age of ``iat`` in seconds.
        :param leeway: clock skew allowed, in seconds.
        :param default: whether its realm is the default one.
        :raises ConfigError: naming ``[auth_<name>] option``.
        """
        group = f"[{auth_conf.AUTHENTICATOR_PREFIX}{name}]"
        if not issuer_id:
            raise ConfigError(f"{group} issuer_id: is required")
        if not client_id:
            raise ConfigError(f"{group} client_id: is required")
        if not uid_claim:
            raise ConfigError(f"{group} uid_claim: must not be empty")
        if max_validity_time < 0 or leeway < 0:
            raise ConfigError(f"{group} max_validity_time and leeway: must be >= 0")
        self.name = name
        self.driver = driver
        self.realm = realm or name
        self.issuer_id = issuer_id
        self.client_id = client_id
        self.audience = audience or client_id
        self.uid_claim = uid_claim
        self.max_validity_time = max_validity_time
        self.leeway = leeway
        self.default = default
        self._key: Any = self._load_key(group, driver, secret, public_key)
        self._required = ("exp", "iss", "aud")

    @staticmethod
    def _load_key(group: str, driver: str, secret: str, public_key: str | bytes) -> Any:
        if driver == "HS256":
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"{group} secret: must be at least {MIN_SECRET_BYTES} bytes")
            return secret.encode()
        if driver == "RS256":
            pem = public_key.encode() if isinstance(public_key, str) else public_key
            try:
                key = serialization.load_pem_public_key(pem)
            except ValueError as exc:
                raise ConfigError(f"{group} public_key: not a PEM public key ({exc})") from None
            if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
                raise ConfigError(
                    f"{group} public_key: must be an RSA key of >= {MIN_RSA_BITS} bits"
                )
            return key
        raise ConfigError(f"{group} driver: must be HS256 or RS256, not {driver!r}")

    def capability(self) -> dict[str, Any]:
        """Return this authenticator's entry in ``capabilities.auth.realms`` (Zuul's keys)."""
        return {
            "authority": self.issuer_id,
            "client_id": self.client_id,
            "type": "JWT",
            "driver": self.driver,
        }

    def decode(self, token: str) -> dict[str, Any]:
        """Verify *token* and return its claims.

        :raises AuthError: naming Zuul's error.
        """
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.driver],
                audience=self.audience,
                issuer=self.issuer_id,
                leeway=self.leeway,
                options={"require": list(self._required)},
            )
        except jwt.ExpiredSignatureError:
            raise self._error("TokenExpiredError", "Token has expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise self._error("MissingClaimError", f'Missing "{exc.claim}" claim') from None
        except jwt.InvalidAudienceError:
            raise self._error("IncorrectAudienceError", "Token has the wrong audience") from None
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            raise self._error(
                "AuthTokenInvalidSignatureException", f"Token is not signed by {self.realm}"
            ) from None
        except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
            raise self._error("AuthTokenUnauthorizedException", "Token is not valid yet") from None
        except jwt.InvalidTokenError as exc:
            raise self._error(
                "AuthTokenUndecodedException", f"Cannot decode token: {exc}"
            ) from None
        self._check_validity(claims)
        if not isinstance(claims.get(self.uid_claim), str) or not claims[self.uid_claim]:
            raise self._error("MissingUIDClaimError", f'Missing "{self.uid_claim}" claim')
        return claims

    def _check_validity(self, claims: Mapping[str, Any]) -> None:
        if not self.max_validity_time:
            return
        issued = claims.get("iat")
        if issued is None:
            raise self._error("MissingClaimError", 'Missing "iat" claim')
        # RFC 7519 §4.1.6: "iat" is a NumericDate, a JSON number; PyJWT accepts a numeric
        # string, which would fail the arithmetic below (and bool is an int to Python).
        if isinstance(issued, bool) or not isinstance(issued, (int, float)):
            raise self._error("MissingClaimError", '"iat" claim must be a number')
        if time.time() - issued > self.max_validity_time + self.leeway:
            raise self._error("TokenExpiredError", "Token was issued too long ago")

    def _error(self, error: str, description: str) -> AuthError:
        return AuthError(error, description, self.realm)


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

    def _realm(self) -> str:
        return self.default_realm or "ciweb"

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
