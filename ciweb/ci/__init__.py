"""The CI domain: models, store, queries and migrations; it imports nothing from webob."""
