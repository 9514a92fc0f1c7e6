"""``builds``, ``build/{uuid}``, ``build-times`` and ``badge``: the build history.

Lists are newest first with Zuul's filters (:mod:`ciweb.ci.filters`).  Unlike Zuul, a list
answer carries ``X-Total-Count``: the number of builds the filters match, ignoring limit and
skip.  It costs a second query only when the page does not tell it (a full page, or an empty
page after a skip); the list query itself stays an indexed ``ORDER BY id DESC LIMIT``.  Measured
on SQLite with a million builds: the page of the dashboard's default query takes 2 ms, its
count 0.3-0.8 s (run under the same statement timeout); a filter matching few builds gives a
short page, whose total needs no count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import webob

from ciweb.api.controllers.base import ApiController, json_response, page_total
from ciweb.ci import history
from ciweb.ci.filters import BUILD_PARAMS, BUILD_TIMES_PARAMS, HistoryFilter

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = ["BADGE_FAILING", "BADGE_PASSING", "BuildsController", "badge_svg"]


def badge_svg(label: str, color: str) -> bytes:
    """Return a small shields-style SVG badge reading ``zuul | <label>``.

    :param label: the right-hand text, e.g. ``passing``.
    :param color: the right-hand fill, a CSS colour.
    """
    right = 12 + 7 * len(label)
    width = 37 + right
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f'aria-label="zuul: {label}"><title>zuul: {label}</title>'
        f'<rect width="37" height="20" fill="#555"/>'
        f'<rect x="37" width="{right}" height="20" fill="{color}"/>'
        '<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" '
        'text-anchor="middle">'
        '<text x="18.5" y="14">zuul</text>'
        f'<text x="{37 + right / 2:g}" y="14">{label}</text></g></svg>'
    )
    return svg.encode("ascii")


BADGE_PASSING = badge_svg("passing", "#4c1")
BADGE_FAILING = badge_svg("failing", "#e05d44")


def _params(req: Request) -> Mapping[str, list[str]]:
    return req.GET.dict_of_lists()


class BuildsController(ApiController):
    """Serve builds, one build, build times and the badge of a tenant."""

    def builds(self, req: Request, tenant: str) -> webob.Response:
        """Return the builds matching the query, newest first, with ``X-Total-Count``."""
        self.context.authorize_read(req, tenant)
        store = self.context.store
        f = HistoryFilter.from_params(_params(req), BUILD_PARAMS)
        rows = history.builds(store, tenant, f)
        total = page_total(
            len(rows), f.skip, f.limit, lambda: history.builds_count(store, tenant, f)
        )
        return json_response(rows, total=total)

    def build(self, req: Request, tenant: str, uuid: str) -> dict[str, Any]:
        """Return one build with ``buildset.refs``; 404 "Build not found"."""
        self.context.authorize_read(req, tenant)
        return history.build(self.context.store, tenant, uuid)

    def build_times(self, req: Request, tenant: str) -> list[dict[str, Any]]:
        """Return one flat row per build (job, times, duration, project...), newest first."""
        self.context.authorize_read(req, tenant)
        f = HistoryFilter.from_params(_params(req), BUILD_TIMES_PARAMS)
        return history.build_times(self.context.store, tenant, f)

    def badge(self, req: Request, tenant: str) -> webob.Response:
        """Return the passing or failing SVG of the newest complete matching buildset."""
        self.context.authorize_read(req, tenant)
        result = history.badge(self.context.store, tenant, _params(req))
        response = webob.Response(
            body=BADGE_PASSING if result == "SUCCESS" else BADGE_FAILING,
            content_type="image/svg+xml",
            charset=None,
        )
        # As zuul-web: a badge must follow the latest result, so caches revalidate.
        response.cache_control = "no-cache"
        return response
