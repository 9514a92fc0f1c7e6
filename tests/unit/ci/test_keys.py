"""Project keys: public halves in Zuul's formats, private halves never read back."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from ciweb.ci import history, keys, queries, writes
from ciweb.ci.errors import NotFound


@pytest.fixture
def keyed(store):
    writes.upsert_project(store, "t", {"name": "org/keyed", "connection_name": "gerrit",
                                       "type": "untrusted"})
    return store


def test_the_secrets_key_is_a_pem_rsa_public_key_of_the_configured_size(keyed):
    pem = keys.public_key(keyed, "t", "org/keyed")
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert serialization.load_pem_public_key(pem.encode()).key_size == 2048


def test_the_ssh_key_is_an_openssh_rsa_line(keyed):
    line = keys.ssh_public_key(keyed, "t", "org/keyed")
    assert line.startswith("ssh-rsa AAAA") and line.endswith("\n")
    serialization.load_ssh_public_key(line.encode())


def test_keys_are_made_once(keyed):
    before = keys.public_key(keyed, "t", "org/keyed")
    assert keys.ensure_project_keys(keyed, "t", "org/keyed") is False
    assert keys.public_key(keyed, "t", "org/keyed") == before


def test_no_read_function_returns_a_private_key(keyed):
    reads = [
        keys.public_key(keyed, "t", "org/keyed"),
        keys.ssh_public_key(keyed, "t", "org/keyed"),
        queries.projects(keyed, "t"),
        queries.project(keyed, "t", "org/keyed"),
        history.builds(keyed, "t", {}),
    ]
    assert "PRIVATE" not in repr(reads)
    assert "PRIVATE" not in repr(keys.generate(1024, 1024))


def test_a_project_without_keys_has_no_public_key(store):
    with pytest.raises(NotFound):
        keys.public_key(store, "t", "org/project")
    with pytest.raises(NotFound, match="Unknown project"):
        keys.public_key(store, "t", "org/nope")
