"""Writes of a tenant's configuration: a new project and its keys are one write."""

from __future__ import annotations

import pytest

from ciweb.ci import keys, queries, writes
from ciweb.ci.errors import Conflict, NotFound
from tests.unit.ci.test_store import concurrent_insert

PROJECT = {"name": "org/new", "connection_name": "gerrit", "type": "untrusted"}


def names(store):
    return [p["name"] for p in queries.projects(store, "t")]


def test_a_new_project_is_saved_with_its_keys(store):
    writes.upsert_project(store, "t", PROJECT)
    assert "org/new" in names(store)
    assert keys.public_key(store, "t", "org/new").startswith("-----BEGIN PUBLIC KEY-----")


def test_a_project_whose_keys_fail_to_be_written_is_not_saved_either(store):
    with concurrent_insert(store, "project_keys") as fired, pytest.raises(Conflict):
        writes.upsert_project(store, "t", PROJECT)
    assert fired
    assert "org/new" not in names(store)


def test_updating_a_keyed_project_keeps_its_keys(store):
    writes.upsert_project(store, "t", PROJECT)
    before = keys.public_key(store, "t", "org/new")
    writes.upsert_project(store, "t", {**PROJECT, "type": "config"})
    assert keys.public_key(store, "t", "org/new") == before
    assert queries.projects(store, "t")[names(store).index("org/new")]["type"] == "config"


def test_a_project_saved_without_keys_gets_them_on_its_next_update(store):
    writes.upsert_project(store, "t", PROJECT, with_keys=False)
    with pytest.raises(NotFound, match="no key"):
        keys.public_key(store, "t", "org/new")
    writes.upsert_project(store, "t", PROJECT)
    assert keys.ssh_public_key(store, "t", "org/new").startswith("ssh-rsa ")


def test_a_project_of_an_unknown_tenant_is_not_found(store):
    with pytest.raises(NotFound, match="Unknown tenant"):
        writes.upsert_project(store, "nope", PROJECT)
