"""Local emulators of the vendors' APIs, faithful to each vendor's documented wire format.

Only the demo, `billsync sandbox serve` and the tests start them; connectors, the
pipeline and the store never import this package (import-linter checks it).
"""
