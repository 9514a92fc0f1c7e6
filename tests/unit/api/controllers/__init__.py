"""Tests of the API controllers, one module per resource."""
