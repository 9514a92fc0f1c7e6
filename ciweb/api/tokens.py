"""JWT bearer tokens: checking one, the rights its claims grant, and the errors in Zuul's names.

An :class:`Authenticator` verifies the tokens of one issuer (RFC 7519, RFC 7518) and
:func:`rights_from_claims` reads what they grant into an :class:`Identity`; a failure is an
:class:`AuthError` (401) or, for a valid token without the right, a :class:`ForbiddenError`
(403), each with its RFC 6750 challenge.  :mod:`ciweb.api.auth` builds the authenticators of
a deployment from its options and decides which requests need which right; this module
knows nothing of requests or options, which keeps both under the size of one reading.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import webob
import webob.exc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ciweb.conf import ConfigError
from ciweb.conf import auth as auth_conf

__all__ = [
    "ANY",
    "RIGHTS",
    "AuthError",
    "Authenticator",
    "ForbiddenError",
    "Identity",
    "rights_from_claims",
]

ANY = "*"
RIGHTS = ("read", "report", "admin")
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
MIN_SECRET_BYTES = 32
# RFC 7518 §3.3: RS256 keys of 2048 bits or larger MUST be used.
MIN_RSA_BITS = 2048
# RFC 6750 §3: error_description may hold only %x20-21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION_CHARS = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


class _TokenError:
    """What the 401 and the 403 share: zuul-web's JSON answer with the RFC 6750 challenge."""

    code: int
    error: str
    description: str
    realm: str | None

    def challenge(self) -> str:
        """Return the ``WWW-Authenticate`` value."""
        raise NotImplementedError

    def json_response(self, request_id: str | None = None) -> webob.Response:
        """Return the JSON answer: ``{error, description, realm, request_id}`` (zuul-web's keys)."""
        return _json_response(
            self.code,
            {"error": self.error, "description": self.description, "realm": self.realm},
            request_id,
            [("WWW-Authenticate", self.challenge())],
        )


class AuthError(_TokenError, webob.exc.HTTPUnauthorized):
    """A missing or invalid token (401); :attr:`error` is Zuul's name for the failure."""

    def __init__(self, error: str, description: str, realm: str | None) -> None:
        """Build the error.

        :param error: Zuul's error name, e.g. ``TokenExpiredError``.
        :param description: what is wrong, for the client.
        :param realm: the realm named in ``WWW-Authenticate``; None when the deployment has
            no authenticator (``info`` then says ``default_realm: null`` too).
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
            return _challenge(self.realm)
        text = _NOT_DESCRIPTION_CHARS.sub(" ", self.description)
        return _challenge(self.realm, 'error="invalid_token"', f'error_description="{text}"')


class ForbiddenError(_TokenError, webob.exc.HTTPForbidden):
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
        return _challenge(self.realm, 'error="insufficient_scope"')


def _challenge(realm: str | None, *params: str) -> str:
    # RFC 6750 §3: every auth-param of the Bearer challenge is optional, realm included.
    parts = ([f"realm={_quote(realm)}"] if realm is not None else []) + list(params)
    return "Bearer " + ", ".join(parts) if parts else "Bearer"


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


def _check_settings(
    group: str, issuer_id: str, client_id: str, uid_claim: str, max_validity_time: int, leeway: int
) -> None:
    """Raise ConfigError naming the first missing or out-of-range setting of *group*."""
    if not issuer_id:
        raise ConfigError(f"{group} issuer_id: is required")
    if not client_id:
        raise ConfigError(f"{group} client_id: is required")
    if not uid_claim:
        raise ConfigError(f"{group} uid_claim: must not be empty")
    if max_validity_time < 0 or leeway < 0:
        raise ConfigError(f"{group} max_validity_time and leeway: must be >= 0")


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
        _check_settings(group, issuer_id, client_id, uid_claim, max_validity_time, leeway)
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
