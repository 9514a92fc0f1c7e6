"""Schemathesis against ``/api/openapi.yaml`` of a live ciweb-api: every operation, read,
reporting and admin, gets generated requests (a token with every right, so writes run too,
on a throwaway SQLite database with the demo data); no answer may be a 500, and every answer
must conform to the document: status code, content type, headers and body schema.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ciweb.api.auth import mint_token
from ciweb.api.openapi import load_document
from tests.conftest import write_conf
from tests.functional.ciweb_process import LISTENING, ciweb_api
from tests.services import in_ci

SECRET = "schemathesis-secret-0123456789abcdef"
CHECKS = {
    # Requests the document allows: answers conform to it exactly.
    GenerationMode.POSITIVE: [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ],
    # Requests it does not allow: never a 500.  (Some are refused by the HTTP front end
    # before any route, e.g. a control character in the path: a text/plain 400 that the
    # document does not list on every operation.)
    GenerationMode.NEGATIVE: [not_a_server_error],
}


@dataclass
class Live:
    """The running ciweb-api and a token that may do everything."""

    url: str
    token: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from ciweb.ci import demo
    from ciweb.ci.engine import database_url, make_engine
    from ciweb.ci.store import Store

    tmp = tmp_path_factory.mktemp("schemathesis")
    conf = write_conf(tmp)
    with conf.open("a") as file:
        file.write(
            "[process]\nworkers = 1\n"
            "[auth]\nauthenticators = ci\n"
            f"[auth_ci]\nissuer_id = https://ci.example.org\nclient_id = ciweb\nsecret = {SECRET}\n"
        )
    store = Store(make_engine(database_url("", str(tmp / "state"))))
    try:
        demo.load_demo(store)
    finally:
        store.engine.dispose()
    rights = {"report": "*", "admin": "*", "read": "*"}
    token = mint_token(issuer="https://ci.example.org", audience="ciweb", subject="st",
                       key=SECRET, rights=rights, expires_in=3600, now=time.time())  # fmt: skip
    with ciweb_api(conf) as server:
        yield Live(server.wait_for(LISTENING, timeout=60).group(1), token)


# The operations come from the fragments in the source tree (the served document is the same
# bytes, see the last test), so that they can be test parameters, one per operation.
OPERATIONS = {
    result.ok().label: result.ok()
    for result in schemathesis.openapi.from_dict(load_document()).get_all_operations()
}
# Per operation and mode (fewer invalid ones): 57 operations, about a minute of
# CPU.  CI replays the same examples every run; a developer's run explores new ones.
EXAMPLES = settings(
    max_examples=10,
    deadline=None,
    derandomize=in_ci(),
    database=None,
    suppress_health_check=list(HealthCheck),
)


# An operation without parameters nor body has no invalid request to make.
CASES = [
    (label, mode)
    for label, operation in sorted(OPERATIONS.items())
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or any(operation.iter_parameters())
    or len(list(operation.body))
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_every_answer_conforms_to_the_openapi_document(
    live: Live, label: str, mode: GenerationMode
) -> None:
    @settings(EXAMPLES, max_examples=8 if mode is GenerationMode.POSITIVE else 4)
    @given(OPERATIONS[label].as_strategy(generation_mode=mode))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=live.url,
            headers={"Authorization": f"Bearer {live.token}"},
            checks=CHECKS[mode],
            timeout=30,
        )

    call()


def test_the_served_document_is_the_one_of_the_fragments(live: Live) -> None:
    with urllib.request.urlopen(f"{live.url}/api/openapi.yaml", timeout=30) as response:
        assert yaml.safe_load(response.read()) == load_document()
