"""The HTTP server: webhook receivers (and, later, the REST API and console)."""
