"""One controller module per resource of the API."""
