"""The route table of the API, all of it, in one place."""

from __future__ import annotations

import routes

from ciweb.api.controllers.info import InfoController

__all__ = ["make_mapper"]

GET = {"method": ["GET"]}


def make_mapper(*, info: InfoController) -> routes.Mapper:
    """Return the mapper of every API route.

    :param info: the controller of ``/api/info``.
    """
    mapper = routes.Mapper()
    mapper.explicit = True
    mapper.minimization = False
    mapper.connect("/api/info", controller=info, action="info", conditions=GET)
    return mapper
