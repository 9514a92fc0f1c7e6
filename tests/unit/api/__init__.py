"""Tests of the CI web service (ciweb.api)."""
