"""TLS: TLS 1.2 minimum, client certificates against a CA, handshakes under the head deadline."""

from __future__ import annotations

import select
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection, get, handshake

HEAD_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pems(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"cert_file": folder / "cert.pem", "key_file": folder / "key.pem"}
    cert.cert_chain_pems[0].write_to_path(str(paths["cert_file"]))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(paths["cert_file"]), append=True)
    cert.private_key_pem.write_to_path(str(paths["key_file"]))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return {**{k: str(v) for k, v in paths.items()}, "ca_file": str(folder / "ca.pem")}


@pytest.fixture(scope="module")
def tls_server(pems: dict[str, str]) -> Iterator[ServerProcess]:
    tls = {"cert_file": pems["cert_file"], "key_file": pems["key_file"]}
    with ServerProcess(tls=tls, limits={"header_timeout": HEAD_TIMEOUT}) as proc:
        yield proc


@pytest.fixture(scope="module")
def mtls_server(pems: dict[str, str]) -> Iterator[ServerProcess]:
    with ServerProcess(tls=pems, limits={"header_timeout": HEAD_TIMEOUT}) as proc:
        yield proc


def client_context(ca: trustme.CA, **kw: object) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    for name, value in kw.items():
        setattr(context, name, value)
    return context


def tls_get(port: int, context: ssl.SSLContext) -> bytes:
    with Connection(port) as conn:
        conn.sock = context.wrap_socket(conn.sock, server_hostname="127.0.0.1")
        conn.send(get("/echo"))
        return conn.read_response().body


def test_an_https_request_is_served(tls_server: ServerProcess, ca: trustme.CA) -> None:
    body = tls_get(tls_server.port, client_context(ca))
    assert b'"wsgi.url_scheme": "https"' in body
    assert b'"HTTPS": "on"' in body


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_a_tls_1_1_client_is_refused(tls_server: ServerProcess, ca: trustme.CA) -> None:
    context = client_context(ca)
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_get(tls_server.port, context)


def test_a_client_without_a_certificate_is_refused_when_a_ca_is_set(
    mtls_server: ServerProcess, ca: trustme.CA
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_get(mtls_server.port, client_context(ca))


def test_a_client_with_a_certificate_from_the_ca_is_served(
    mtls_server: ServerProcess, ca: trustme.CA
) -> None:
    context = client_context(ca)
    ca.issue_cert("client@example.org").configure_cert(context)
    assert b'"PATH_INFO": "/echo"' in tls_get(mtls_server.port, context)


def test_a_stalled_handshake_is_closed_at_the_deadline_without_blocking_others(
    tls_server: ServerProcess, ca: trustme.CA
) -> None:
    with Connection(tls_server.port) as stalled:
        started = time.monotonic()
        # Meanwhile another client completes a handshake and a request at once.
        assert b"/echo" in tls_get(tls_server.port, client_context(ca))
        # ...while the stalled one is still open: its green thread blocked nobody.
        assert select.select([stalled.sock], [], [], 0)[0] == []
        assert stalled.read_all() == b""
        # The deadline, with room for a server that two busy cores schedule late.
        assert HEAD_TIMEOUT * 0.8 <= time.monotonic() - started < HEAD_TIMEOUT + 4.0


def test_make_ssl_context_errors_name_the_ssl_option(pems: dict[str, str], tmp_path: Path) -> None:
    from ciweb.conf import ConfigError
    from ciweb.wsgi.server import make_ssl_context

    good = {"cert_file": pems["cert_file"], "key_file": pems["key_file"]}
    missing = str(tmp_path / "missing.pem")
    cases = [
        ({**good, "cert_file": missing}, "[ssl] cert_file"),
        ({**good, "key_file": missing}, "[ssl] key_file"),
        ({**good, "ca_file": missing}, "[ssl] ca_file"),
        ({**good, "min_version": "TLSv1.1"}, "[ssl] min_version"),
        ({**good, "ciphers": "NOT-A-CIPHER"}, "[ssl] ciphers"),
        ({**good, "groups": "X25519:NOT-A-GROUP"}, "[ssl] groups"),
        ({**good, "key_file": pems["ca_file"]}, "[ssl] cert_file/key_file"),
    ]
    for kwargs, option in cases:
        with pytest.raises(ConfigError) as info:
            make_ssl_context(**kwargs)  # type: ignore[arg-type]
        assert str(info.value).startswith(option), info.value
    assert make_ssl_context(**good).minimum_version == ssl.TLSVersion.TLSv1_2


# -- key exchange groups: exactly Mozilla's intermediate X25519, P-256, P-384 -------------


@pytest.fixture(scope="module")
def rsa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # An RSA certificate: with an ECDSA one, a TLS 1.2 client offering only X25519 could
    # not verify its P-256 signature, whatever the server's groups.
    folder = tmp_path_factory.mktemp("rsa")
    cert = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert(
        "127.0.0.1", key_type=trustme.KeyType.RSA
    )
    tls = {"cert_file": str(folder / "cert.pem"), "key_file": str(folder / "key.pem")}
    cert.cert_chain_pems[0].write_to_path(tls["cert_file"])
    cert.private_key_pem.write_to_path(tls["key_file"])
    with ServerProcess(tls=tls, limits={"header_timeout": 2.0}) as proc:
        yield proc


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize(
    ("group", "key"),
    [("X25519", "X25519"), ("P-256", "prime256v1"), ("P-384", "secp384r1")],
)
def test_x25519_p256_and_p384_are_offered(
    rsa_server: ServerProcess, version: str, group: str, key: str
) -> None:
    done = handshake(rsa_server.port, version, group)
    assert done.returncode == 0, done.stderr
    assert f"Server Temp Key: {'ECDH, ' if key != 'X25519' else ''}{key}" in done.stdout


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("group", ["X448", "P-521", "ffdhe2048"])
def test_other_groups_are_refused(rsa_server: ServerProcess, version: str, group: str) -> None:
    done = handshake(rsa_server.port, version, group)
    assert done.returncode != 0
    assert "Server Temp Key" not in done.stdout
