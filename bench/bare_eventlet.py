"""The baseline: a bare eventlet.wsgi server; prints its port, serves until killed.

    python bench/bare_eventlet.py [BODY_FILE [CONTENT_TYPE]]

It answers every request with the bytes of BODY_FILE (default: a small JSON document), so
that ciweb can be compared with a server doing nothing but sending the same answer.
"""

from __future__ import annotations

import sys
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.wsgi


def main() -> None:
    body = b'{"hello":"world"}'
    content_type = "application/json"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "rb") as f:
            body = f.read()
    if len(sys.argv) > 2:
        content_type = sys.argv[2]
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]

    def answer(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", list(headers))
        return [body]

    sock = eventlet.listen(("127.0.0.1", 0), backlog=1024)
    print(sock.getsockname()[1], flush=True)
    # eventlet's defaults, as a newcomer would run it (access log on, to stderr).
    eventlet.wsgi.server(sock, answer, log=sys.stderr, debug=False)


if __name__ == "__main__":
    main()
