"""One sandbox module per platform; importing this package registers them all."""

from . import harvest, quickbooks, toggl  # noqa: F401
