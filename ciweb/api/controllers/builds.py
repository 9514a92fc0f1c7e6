"""``builds``, ``build/{uuid}``, ``build-times`` and ``badge``: the build history.

Lists are newest first with Zuul's filters (:mod:`ciweb.ci.filters`).  Unlike Zuul, a list
answer carries ``X-Total-Count``: the number of builds the filters match, ignoring limit and
skip, counted exactly up to a cap.

* A short page tells its total (``skip`` + its length) and costs no count at all.
* Otherwise the count reads at most ``skip + max(TOTAL_COUNT_CAP, limit) + 1`` matches
  (``SELECT count(*) FROM (SELECT 1 ... LIMIT c + 1)``), so it costs about as much as the
  page did, never a scan of the whole history.  Past the cap, ``X-Total-Count`` is
  ``skip + max(TOTAL_COUNT_CAP, limit)`` and ``X-Total-Count-Capped: true`` says that more
  match: "over 10,000" is what a pager needs, and an exact count reads every matching index
  entry of a million builds on every request.  The header is absent when the count is exact.

Measured on SQLite with a million builds (``bench/builds.py``): the dashboard's default
builds request took 0.6-0.9 s with the old joined, exact count, 2.5 ms with the capped count,
and 1.2 ms since its statements are compiled once (its count: 36-98 ms exact, about 1 ms
capped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import webob

from ciweb.api.controllers.base import ApiController, json_response
from ciweb.ci import history
from ciweb.ci.filters import BUILD_PARAMS, BUILD_TIMES_PARAMS, HistoryFilter

if TYPE_CHECKING:
    from ciweb.wsgi.request import Request

__all__ = [
    "BADGE_FAILING",
    "BADGE_PASSING",
    "TOTAL_COUNT_CAP",
    "TOTAL_COUNT_CAPPED_HEADER",
    "BuildsController",
    "badge_svg",
    "page_response",
]

# Matches counted exactly beyond ``skip`` before the total is reported as capped.
TOTAL_COUNT_CAP = 10000
# Not in Zuul: present, with the value "true", when X-Total-Count is a lower bound.
TOTAL_COUNT_CAPPED_HEADER = "X-Total-Count-Capped"


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


def page_response(page: history.Page) -> webob.Response:
    """Return the JSON list of *page* with ``X-Total-Count`` (and ``X-Total-Count-Capped``).

    :param page: the rows and their total (see :func:`ciweb.ci.history.paged`).
    """
    response = json_response(page.rows, total=page.total)
    if page.capped:
        response.headers[TOTAL_COUNT_CAPPED_HEADER] = "true"
    return response


def _params(req: Request) -> Mapping[str, list[str]]:
    return req.GET.dict_of_lists()


class BuildsController(ApiController):
    """Serve builds, one build, build times and the badge of a tenant."""

    def builds(self, req: Request, tenant: str) -> webob.Response:
        """Return the builds matching the query, newest first, with ``X-Total-Count`` (capped,
        see the module docstring)."""
        self.context.authorize_read(req, tenant)
        f = HistoryFilter.from_params(_params(req), BUILD_PARAMS)
        return page_response(
            history.builds_page(self.context.store, tenant, f, cap=TOTAL_COUNT_CAP)
        )

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
