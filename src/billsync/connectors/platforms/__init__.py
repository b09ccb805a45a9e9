"""One module per platform; importing this package registers them all."""

from . import harvest, quickbooks, toggl, xero  # noqa: F401
