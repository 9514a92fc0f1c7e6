"""The reusable WSGI framework of ciweb: request, application bases, router, loader, server.

Nothing in this package knows about CI.  Only :mod:`ciweb.wsgi.server` and
:mod:`ciweb.wsgi.protocol` import eventlet.
"""
