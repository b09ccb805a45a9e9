"""Vendor connectors: one module per platform, each a Source (time in) and/or a Sink
(invoices out), all on the shared HTTP core in `http`. They never touch the database:
the pipeline hands them credentials and tokens and stores what they return.

A new platform is one module here that defines a `Platform` and registers it in
`registry.PLATFORMS`, one sandbox module, and their tests (docs/connectors.md).
"""
