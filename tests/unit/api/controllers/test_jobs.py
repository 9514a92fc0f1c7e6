"""Tests of ciweb.api.controllers.jobs: the job list and one job's variants."""

from __future__ import annotations

import pytest

from ciweb.ci import demo_jobs, shapes, writes
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import TENANT, T, error_of, get


@pytest.fixture(scope="module", autouse=True)
def _odd_job(demo_url: str) -> None:
    store = Store(make_engine(demo_url), key_bits=2048)
    writes.upsert_job(store, TENANT, {"name": "a@b/c", "variants": [{"name": "a@b/c"}]})
    store.engine.dispose()


def test_jobs_leave_out_empty_keys(app: Faults) -> None:
    jobs = {j["name"]: j for j in get(app, f"{T}/jobs").json}
    assert jobs["base"] == {"name": "base", "description": "The base job of every job."}
    assert jobs["tox-py311"]["tags"] == ["python", "tox"]
    assert {"parent": "tox", "branches": ["stable/2024.1"]} in jobs["tox-py311"]["variants"]


def test_a_job_is_the_list_of_its_variants(app: Faults) -> None:
    variants = get(app, f"{T}/job/tox-py311").json
    assert [v["branches"] for v in variants] == [[], ["stable/2024.1"]]
    # Each variant exactly as the CI system reported it, with Zuul's defaults filled in.
    reported = demo_jobs.variants("tox-py311")
    assert variants == [shapes.normalize("JobVariant", v, "variant") for v in reported]


@pytest.mark.parametrize("path", ["a%40b%2Fc", "a@b/c"])
def test_a_job_name_is_decoded_like_zuul_does(app: Faults, path: str) -> None:
    response = get(app, f"{T}/job/{path}")
    assert response.status_code == 200
    assert response.json[0]["name"] == "a@b/c"


def test_an_unknown_job_is_404_job_not_found(app: Faults) -> None:
    response = get(app, f"{T}/job/nope")
    assert response.status_code == 404
    assert error_of(response) == "Job not found"
    assert error_of(get(app, "/api/tenant/nope/jobs")) == "Unknown tenant"


def test_every_variant_carries_zuul_14_3s_full_field_set(app: Faults) -> None:
    from tests.unit.ci.test_shapes import JOB_KEYS

    for job in get(app, f"{T}/jobs").json:
        for variant in get(app, f"{T}/job/{job['name']}").json:
            assert set(variant) >= JOB_KEYS, job["name"]
            # A job with nodes has one nodeset, or Zuul's flattened alternatives (every demo
            # job has nodes; this module's a@b/c has none).
            has = ("nodeset" in variant, "nodeset_alternatives" in variant)
            assert has in ((True, False), (False, True)) or job["name"] == "a@b/c"
    integration = get(app, f"{T}/job/project1-integration").json[0]
    assert integration["nodeset"]["name"] == "two-node-noble"
    controller = integration["nodeset"]["nodes"][0]
    assert controller == {
        "name": "controller", "label": "ubuntu-noble", "aliases": [], "id": None,
        "state": "unknown", "hold_job": None, "comment": None, "user_data": None,
        "tenant_name": None, "requestor": None,
    }  # fmt: skip
    webapp = get(app, f"{T}/job/webapp-build").json[0]
    assert [n["name"] for n in webapp["nodeset_alternatives"]] == [
        "ubuntu-noble", "ubuntu-noble-arm64"]  # fmt: skip
