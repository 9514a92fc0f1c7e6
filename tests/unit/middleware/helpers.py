"""Helpers shared by the filter tests."""

from __future__ import annotations

from typing import Any

import webob


def serve(app: Any, req: webob.Request) -> webob.Response:
    """Serve *req* as a server does: call *app*, read the whole body, then close it."""
    status, headers, app_iter = req.call_application(app)
    try:
        body = b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    return webob.Response(body=body, status=status, headerlist=headers)
