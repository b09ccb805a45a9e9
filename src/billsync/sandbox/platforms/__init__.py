"""One sandbox module per platform; importing this package registers them all."""

from . import clockify, harvest, quickbooks, toggl, xero  # noqa: F401
