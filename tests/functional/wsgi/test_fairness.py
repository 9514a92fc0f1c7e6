"""Fairness: a client whose requests are always ready cannot monopolise the server."""

from __future__ import annotations

from tests.functional.apps import ServerProcess
from tests.functional.wsgi.client import Connection, get

PIPELINED = 1000


def test_a_client_pipelining_many_requests_does_not_starve_another(server: ServerProcess) -> None:
    with Connection(server.port) as greedy, Connection(server.port) as other:
        # 1000 requests in one write: the greedy connection's next request is always
        # buffered already, so its green thread never has to wait for the network.
        greedy.send(get("/order") * PIPELINED)
        first = greedy.read_response()
        other.send(get("/order"))
        rank = int(other.read_response().body)
        ranks = [int(first.body)] + [int(greedy.read_response().body) for _ in range(PIPELINED - 1)]
    # The other client is served while the greedy one still has most of its requests
    # waiting (how many it got first depends on when the other request arrives), not
    # after all of them.
    assert rank < ranks[0] + PIPELINED // 2, (rank, ranks[0])
    assert ranks[-1] > rank
