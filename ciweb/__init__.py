"""ciweb: a Paste-deployable WSGI stack and a Zuul-compatible CI web service."""

__version__ = "0.1.0"
