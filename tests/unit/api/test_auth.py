"""Tests of ciweb.api.auth: token checks with Zuul's error names, rights, options."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import webob
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ciweb.api import auth, tokens
from ciweb.conf import ConfigError

SECRET = "s" * 32
OTHER_SECRET = "o" * 32


def hs256(name: str = "ci", **kwargs: Any) -> tokens.Authenticator:
    options: dict[str, Any] = {"issuer_id": f"iss-{name}", "client_id": f"client-{name}"}
    options.update(kwargs)
    options.setdefault("secret", SECRET)
    return tokens.Authenticator(name, **options)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    out: dict[str, Any] = {
        "iss": "iss-ci",
        "aud": "client-ci",
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        "ciweb": {"report": ["t1"], "admin": ["t2"]},
    }
    out.update(overrides)
    return {k: v for k, v in out.items() if v is not None}


def token(secret: str = SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm)


def request(value: str | None) -> webob.Request:
    req = webob.Request.blank("/api/tenant/t1/promote")
    if value is not None:
        req.headers["Authorization"] = value
    return req


def bearer(value: str) -> webob.Request:
    return request(f"Bearer {value}")


def error_of(a: auth.Auth, req: webob.Request) -> tokens.AuthError:
    with pytest.raises(tokens.AuthError) as info:
        a.authenticate(req)
    return info.value


@pytest.fixture
def ci() -> auth.Auth:
    return auth.Auth([hs256()])


def test_a_valid_token_gives_the_user_and_rights(ci: auth.Auth) -> None:
    identity = ci.authenticate(bearer(token()))
    assert identity.uid == "alice"
    assert identity.realm == "ci"
    assert identity.can("report", "t1") and not identity.can("report", "t2")
    assert identity.can("admin", "t2") and not identity.can("admin", "t1")


def test_the_bearer_scheme_is_case_insensitive(ci: auth.Auth) -> None:
    assert ci.authenticate(request(f"bearer {token()}")).uid == "alice"


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, "MissingAuthError"),
        ("Basic YWxpY2U6cHc=", "InvalidAuthFormat"),
        ("Bearer", "InvalidAuthFormat"),
        ("Bearer a b", "InvalidAuthFormat"),
        ("Bearer not-a-jwt", "AuthTokenUndecodedException"),
    ],
)
def test_a_malformed_header_is_refused_with_zuuls_error_name(
    ci: auth.Auth, header: str | None, error: str
) -> None:
    assert error_of(ci, request(header)).error == error


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"iss": None}, "MissingClaimError"),
        ({"iss": "someone-else"}, "IssuerUnknownError"),
        ({"aud": None}, "MissingClaimError"),
        ({"aud": "another-client"}, "IncorrectAudienceError"),
        ({"exp": None}, "MissingClaimError"),
        ({"exp": int(time.time()) - 10}, "TokenExpiredError"),
        ({"sub": None}, "MissingUIDClaimError"),
        ({"zuul": {"admin": "t1"}}, "IncorrectZuulAdminClaimError"),
        ({"zuul": ["t1"]}, "IncorrectZuulAdminClaimError"),
        ({"ciweb": {"report": [1]}}, "IncorrectCiwebClaimError"),
        ({"ciweb": "all"}, "IncorrectCiwebClaimError"),
        ({"nbf": int(time.time()) + 600}, "AuthTokenUnauthorizedException"),
    ],
)
def test_a_bad_claim_is_refused_with_zuuls_error_name(
    ci: auth.Auth, overrides: dict[str, Any], error: str
) -> None:
    assert error_of(ci, bearer(token(**overrides))).error == error


def test_a_token_signed_with_another_secret_has_an_invalid_signature(ci: auth.Auth) -> None:
    assert error_of(ci, bearer(token(OTHER_SECRET))).error == "AuthTokenInvalidSignatureException"


def test_an_unsigned_token_is_refused(ci: auth.Auth) -> None:
    unsigned = jwt.encode(claims(), None, algorithm="none")
    assert error_of(ci, bearer(unsigned)).error == "AuthTokenInvalidSignatureException"


def test_max_validity_time_refuses_old_tokens_and_requires_iat() -> None:
    strict = auth.Auth([hs256(max_validity_time=60)])
    old = token(iat=int(time.time()) - 120)
    assert error_of(strict, bearer(old)).error == "TokenExpiredError"
    assert error_of(strict, bearer(token(iat=None))).error == "MissingClaimError"
    assert strict.authenticate(bearer(token())).uid == "alice"


@pytest.mark.parametrize("issued", ["now", True])
def test_max_validity_time_refuses_an_iat_that_is_not_a_number(issued: Any) -> None:
    strict = auth.Auth([hs256(max_validity_time=60)])
    # PyJWT itself accepts a numeric string such as "1700000000".
    value = str(int(time.time())) if issued == "now" else issued
    error = error_of(strict, bearer(token(iat=value)))
    assert (error.code, error.error) == (401, "MissingClaimError")
    assert "iat" in error.description


def test_leeway_accepts_a_token_just_expired() -> None:
    lenient = auth.Auth([hs256(leeway=30)])
    assert lenient.authenticate(bearer(token(exp=int(time.time()) - 5))).uid == "alice"


def test_the_issuer_selects_the_authenticator() -> None:
    two = auth.Auth([hs256("a"), hs256("b", secret=OTHER_SECRET)])
    b_token = token(OTHER_SECRET, iss="iss-b", aud="client-b")
    assert two.authenticate(bearer(b_token)).realm == "b"
    # The same claims signed with a's secret fail b's signature check.
    wrong = token(SECRET, iss="iss-b", aud="client-b")
    assert error_of(two, bearer(wrong)).error == "AuthTokenInvalidSignatureException"


def test_the_audience_defaults_to_the_client_id_and_can_be_set() -> None:
    custom = auth.Auth([hs256(audience="ciweb-api")])
    assert custom.authenticate(bearer(token(aud="ciweb-api"))).uid == "alice"
    assert error_of(custom, bearer(token())).error == "IncorrectAudienceError"


def test_a_custom_uid_claim_names_the_user() -> None:
    by_email = auth.Auth([hs256(uid_claim="email")])
    assert by_email.authenticate(bearer(token(email="a@example.org"))).uid == "a@example.org"
    assert error_of(by_email, bearer(token())).error == "MissingUIDClaimError"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_public(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_rs256_tokens_are_checked_with_the_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    a = auth.Auth([hs256(driver="RS256", secret="", public_key=pem_public(rsa_key))])
    assert a.authenticate(bearer(token(rsa_key, "RS256"))).uid == "alice"  # type: ignore[arg-type]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = token(other, "RS256")  # type: ignore[arg-type]
    assert error_of(a, bearer(forged)).error == "AuthTokenInvalidSignatureException"


def hand_signed_hs256(payload: dict[str, Any], key: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    mac = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def test_an_hs256_token_is_refused_by_an_rs256_authenticator(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_public(rsa_key)
    a = auth.Auth([hs256(driver="RS256", secret="", public_key=pem)])
    # The classic confusion attack: HMAC keyed with the public key's PEM text.
    confused = hand_signed_hs256(claims(), pem)
    assert error_of(a, bearer(confused)).error == "AuthTokenInvalidSignatureException"


def test_rights_include_read_and_star_means_every_tenant(ci: auth.Auth) -> None:
    identity = ci.authenticate(bearer(token(ciweb={"report": "*", "read": ["r"]})))
    assert identity.can("report", "anything")
    assert identity.can("read", "anything")  # report includes read
    assert not identity.can("admin", "anything")
    reader = ci.authenticate(bearer(token(ciweb={"read": ["r"]})))
    assert reader.can("read", "r") and not reader.can("read", "s")
    assert not reader.can("report", "r")


def test_zuuls_admin_claim_counts_as_admin(ci: auth.Auth) -> None:
    identity = ci.authenticate(bearer(token(ciweb=None, zuul={"admin": ["t9"]})))
    assert identity.can("admin", "t9") and identity.can("read", "t9")
    assert not identity.can("report", "t9")
    star = ci.authenticate(bearer(token(ciweb={"admin": ["t1"]}, zuul={"admin": "*"})))
    assert star.can("admin", "any-tenant")


def test_authorize_is_forbidden_without_the_right(ci: auth.Auth) -> None:
    with pytest.raises(tokens.ForbiddenError) as info:
        ci.authorize(bearer(token()), "t1", "admin")
    response = info.value.json_response("req-1")
    assert response.status_code == 403
    assert response.json == {
        "error": "Forbidden",
        "description": "alice has no admin right on tenant t1",
        "realm": "ci",
        "request_id": "req-1",
    }
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ci", error="insufficient_scope"'
    assert ci.authorize(bearer(token()), "t2", "admin").uid == "alice"


def test_a_401_names_the_error_and_challenges_per_rfc_6750(ci: auth.Auth) -> None:
    missing = error_of(ci, request(None)).json_response("r")
    assert missing.status_code == 401
    assert missing.content_type == "application/json"
    assert missing.json == {
        "error": "MissingAuthError",
        "description": 'Missing "Authorization" header',
        "realm": "ci",
        "request_id": "r",
    }
    # RFC 6750 §3.1: no error code when the request has no credentials.
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="ci"'
    expired = error_of(ci, bearer(token(exp=1))).json_response()
    assert expired.headers["WWW-Authenticate"] == (
        'Bearer realm="ci", error="invalid_token", error_description="Token has expired"'
    )


def test_the_challenge_quotes_the_realm_and_cleans_the_description() -> None:
    error = tokens.AuthError("IssuerUnknownError", "Unknown issuer 'x\"y'", 'r"e\\al')
    assert error.challenge() == (
        'Bearer realm="r\\"e\\\\al", error="invalid_token", '
        "error_description=\"Unknown issuer 'x y'\""
    )


def test_read_protection_needs_a_read_right_only_on_protected_tenants() -> None:
    a = auth.Auth([hs256()], read_protected=["secret"])
    assert a.read_identity(request(None), "open") is None
    with pytest.raises(tokens.AuthError):
        a.authorize_read(request(None), "secret")
    with pytest.raises(tokens.ForbiddenError):
        a.authorize_read(bearer(token(ciweb={"read": ["open"]})), "secret")
    a.authorize_read(bearer(token(ciweb={"read": ["secret"]})), "secret")
    a.authorize_read(request(None), None)  # the tenant list stays open


def check_read_error(a: auth.Auth, value: str | None, tenant: str) -> str:
    with pytest.raises(tokens.AuthError) as info:
        a.check_read_token(value, tenant)
    return info.value.error


def test_a_read_token_outside_a_header_is_checked_only_for_protected_tenants() -> None:
    a = auth.Auth([hs256()], read_protected=["secret"])
    # An open tenant ignores the token, even one that would not decode.
    assert a.check_read_token(None, "open") is None
    assert a.check_read_token("not a jwt", "open") is None
    assert check_read_error(a, None, "secret") == "MissingAuthError"
    assert check_read_error(a, "", "secret") == "MissingAuthError"
    assert check_read_error(a, "not a jwt", "secret") == "AuthTokenUndecodedException"
    assert check_read_error(a, token(exp=1), "secret") == "TokenExpiredError"
    assert check_read_error(a, token(OTHER_SECRET), "secret") == (
        "AuthTokenInvalidSignatureException"
    )
    assert check_read_error(a, token(iss="elsewhere"), "secret") == "IssuerUnknownError"
    with pytest.raises(tokens.ForbiddenError):
        a.check_read_token(token(ciweb={"read": ["open"]}), "secret")
    identity = a.check_read_token(token(ciweb={"read": ["secret"]}), "secret")
    assert identity is not None and identity.uid == "alice"
    # The admin and report rights include reading, as for a REST read.
    assert a.check_read_token(token(ciweb={"admin": "*"}), "secret") is not None


def test_a_read_token_and_a_bearer_header_get_the_same_answers() -> None:
    a = auth.Auth([hs256()], read_protected=["*"])
    for value in (token(exp=1), token(OTHER_SECRET), token(sub=None), "x.y.z"):
        with pytest.raises(tokens.AuthError) as header:
            a.authorize_read(bearer(value), "t")
        assert check_read_error(a, value, "t") == header.value.error


def test_star_protects_every_tenant_and_the_tenant_list() -> None:
    a = auth.Auth([hs256()], read_protected=["*"])
    assert a.read_protected("any") and a.read_protected(None)
    with pytest.raises(tokens.AuthError):
        a.authorize_read(request(None), None)
    a.authorize_read(bearer(token(ciweb={})), None)


def test_readable_tenants_keep_the_order_and_only_what_the_token_reads() -> None:
    names = ["a", "b", "c"]
    every = auth.Auth([hs256()], read_protected=["*"])
    with pytest.raises(tokens.AuthError):
        every.readable_tenants(request(None), names)
    assert every.readable_tenants(bearer(token(ciweb={"read": ["c", "a"]})), names) == ["a", "c"]
    assert every.readable_tenants(bearer(token(zuul={"admin": "*"})), names) == names
    one = auth.Auth([hs256()], read_protected=["b"])
    assert one.readable_tenants(request(None), names) == ["a", "c"]
    assert one.readable_tenants(bearer(token(ciweb={"report": ["b"]})), names) == names
    assert one.readable_tenants(bearer(token(exp=1)), names) == ["a", "c"]
    assert auth.Auth([hs256()]).readable_tenants(bearer("x.y.z"), names) == names


def test_capabilities_list_realms_and_the_default_realm() -> None:
    a = auth.Auth(
        [hs256("first"), hs256("second", realm="example.org", default=True)],
        read_protected=["p"],
    )
    caps = a.auth_capabilities("p")
    assert caps["realms"]["example.org"] == {
        "authority": "iss-second",
        "client_id": "client-second",
        "type": "JWT",
        "driver": "HS256",
    }
    assert set(caps["realms"]) == {"first", "example.org"}
    assert caps["default_realm"] == "example.org"
    assert caps["read_protected"] is True
    assert a.auth_capabilities(None)["read_protected"] is False
    assert auth.Auth([hs256("only")]).default_realm == "only"
    assert auth.Auth().capabilities() == {
        "realms": {},
        "default_realm": None,
        "read_protected": False,
        "auth_log_file_requests": False,
    }


def test_without_authenticators_every_token_is_from_an_unknown_issuer() -> None:
    assert error_of(auth.Auth(), bearer(token())).error == "IssuerUnknownError"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"issuer_id": ""}, "[auth_ci] issuer_id"),
        ({"client_id": ""}, "[auth_ci] client_id"),
        ({"secret": "short"}, "[auth_ci] secret"),
        ({"driver": "RS256", "public_key": b"not a key"}, "[auth_ci] public_key"),
        ({"driver": "ES256"}, "[auth_ci] driver"),
    ],
)
def test_a_bad_authenticator_setting_names_the_option(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        hs256(**kwargs)


def test_a_small_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="public_key: must be an RSA key"):
        hs256(driver="RS256", public_key=pem_public(small))


def test_two_authenticators_may_not_share_an_issuer() -> None:
    with pytest.raises(ConfigError, match="issuer_id"):
        auth.Auth([hs256("a", issuer_id="same"), hs256("b", issuer_id="same")])


def test_read_protection_needs_an_authenticator() -> None:
    with pytest.raises(ConfigError, match="read_protected_tenants"):
        auth.Auth([], read_protected=["*"])


def write_conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ciweb.conf"
    path.write_text(text)
    return str(path)


def test_options_build_every_authenticator(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    key_file = tmp_path / "pub.pem"
    key_file.write_bytes(pem_public(rsa_key))
    path = write_conf(
        tmp_path,
        "[auth]\nauthenticators = shared, keyed\nread_protected_tenants = p\n"
        f"[auth_shared]\nissuer_id = i1\nclient_id = c1\nsecret = {SECRET}\n"
        f"[auth_keyed]\ndriver = RS256\nrealm = R\nissuer_id = i2\nclient_id = c2\n"
        f"audience = a2\npublic_key = {key_file}\ndefault = true\n",
    )
    a = auth.auth_from_paste({"config_file": path})
    assert [x.name for x in a.authenticators] == ["shared", "keyed"]
    assert a.default_realm == "R" and a.read_protected("p")
    rs = jwt.encode(
        {"iss": "i2", "aud": "a2", "sub": "bob", "exp": int(time.time()) + 60}, rsa_key, "RS256"
    )
    assert a.authenticate(bearer(rs)).uid == "bob"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[auth]\nauthenticators = x\n[auth_x]\nclient_id = c\nsecret = " + SECRET, "issuer_id"),
        ("[auth]\nauthenticators = x\n[auth_x]\ndriver = PS512\n", r"\[auth_x\].*driver"),
        (
            "[auth]\nauthenticators = x\n[auth_x]\ndriver = RS256\nissuer_id = i\nclient_id = c\n",
            r"\[auth_x\] public_key: is required",
        ),
        (
            "[auth]\nauthenticators = x\n[auth_x]\ndriver = RS256\nissuer_id = i\nclient_id = c\n"
            "public_key = /nonexistent.pem\n",
            r"public_key: /nonexistent.pem",
        ),
        ("[auth]\nauthenticators = x, x\n", "listed twice"),
        ("[auth]\nauthenticators = bad name!\n", r"\[auth\]"),
        ("[auth]\nread_protected_tenants = *\n", "needs"),
    ],
)
def test_bad_options_fail_at_start_up_naming_the_option(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        auth.auth_from_paste({"config_file": write_conf(tmp_path, text)})


def test_no_config_file_means_no_authenticator() -> None:
    assert auth.auth_from_paste({}).authenticators == ()


def test_mint_token_makes_a_token_the_authenticator_accepts(ci: auth.Auth) -> None:
    minted = auth.mint_token(
        issuer="iss-ci",
        audience="client-ci",
        subject="zuul",
        key=SECRET,
        rights={"report": ["t1"], "admin": "*"},
        expires_in=60,
    )
    identity = ci.authenticate(bearer(minted))
    assert identity.uid == "zuul"
    assert identity.can("report", "t1") and identity.can("admin", "x")
    assert identity.claims["exp"] - identity.claims["iat"] == 60
