"""The baseline: a bare eventlet.wsgi hello-world server; prints its port, serves until killed."""

from __future__ import annotations

import sys
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.wsgi

BODY = b'{"hello":"world"}'


def hello(environ, start_response):  # type: ignore[no-untyped-def]
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]


def main() -> None:
    sock = eventlet.listen(("127.0.0.1", 0), backlog=1024)
    print(sock.getsockname()[1], flush=True)
    # eventlet's defaults, as a newcomer would run it (access log on, to stderr).
    eventlet.wsgi.server(sock, hello, log=sys.stderr, debug=False)


if __name__ == "__main__":
    main()
