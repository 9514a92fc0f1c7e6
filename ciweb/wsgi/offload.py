"""Run blocking work that releases the GIL without stalling the server's other requests.

Under ciweb's eventlet server every request shares one OS thread: a second of CPU work in
C (an RSA key made by ``cryptography``) holds up every other connection of the worker for
that second.  Such work is handed to :func:`run_blocking`, which runs it in eventlet's pool
of real threads when eventlet has patched ``threading`` (ciweb-api's workers, the paste
server runner), and directly under any other WSGI host, whose threads are real already.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")


def run_blocking(function: Callable[..., T], *args: Any) -> T:
    """Return ``function(*args)``, run off the event loop when there is one.

    The check is made per call, not at import: paste builds the application before the
    server runner monkey-patches.  *function* must not touch green-thread state.

    :param function: the work; it should release the GIL (C code) to let others run.
    :param args: its positional arguments.
    """
    eventlet = sys.modules.get("eventlet")
    if eventlet is not None and eventlet.patcher.is_monkey_patched("thread"):
        from eventlet import tpool

        return tpool.execute(function, *args)
    return function(*args)
