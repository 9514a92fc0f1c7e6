"""The in-process reading of the differential test is the server's: generated requests sent
over a socket get the answers :func:`~tests.unit.wsgi.differential.ciweb_read` predicts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, assume, given, note, settings

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection
from tests.services import in_ci
from tests.unit.wsgi.differential import CLOSED, INCOMPLETE, REFUSED, Request, ciweb_read, requests


@pytest.fixture(scope="module")
def strict() -> Iterator[ServerProcess]:
    """A server with the default limits (the generated requests stay far below them)."""
    with ServerProcess(limits={"header_timeout": 5.0, "keepalive_timeout": 5.0}) as proc:
        yield proc


@settings(
    max_examples=40,
    deadline=None,
    derandomize=in_ci(),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(requests())
def test_the_server_answers_what_the_in_process_reading_predicts(
    strict: ServerProcess, request: Request
) -> None:
    # The echo application reads every body, so that a body's framing fault is found
    # before an answer (an application that ignores the body gets its answer out first).
    for start in ("/", "http://example.org/"):
        if request.target.startswith(start):
            target = start + "echo" + request.target.removeprefix(start.rstrip("/"))
            request = dataclasses.replace(request, target=target)
    raw = request.render()
    predicted = ciweb_read(raw)
    note(f"{raw!r} -> {predicted}")
    assume(predicted.end != INCOMPLETE)  # the server would wait for the rest
    with Connection(strict.port, timeout=10) as conn:
        conn.send(raw)
        for message in predicted.messages:
            response = conn.read_response(head_only=message.method == "HEAD")
            assert response.status == 200, (raw, response)
            if message.method != "HEAD" and "/echo" in message.target:
                assert response.body.endswith(_json_tail(message.body)), (raw, response)
        if predicted.end == REFUSED:
            refusal = conn.read_response()
            assert 400 <= refusal.status < 600, (raw, refusal)
            assert refusal.header("Connection") == "close"
        if predicted.end in (REFUSED, CLOSED):
            conn.assert_closed()


def _json_tail(body: bytes) -> bytes:
    # The echo answer ends with the body as a JSON string (latin-1), then "}".
    return (json.dumps(body.decode("latin-1")) + "}").encode()
