"""Functional tests of the CI web service through the shipped pipeline."""
