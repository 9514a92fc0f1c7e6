"""WSGI filters (paste filter_factory), one module per filter."""
