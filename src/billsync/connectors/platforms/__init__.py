"""One module per platform; importing this package registers them all."""

from . import xero  # noqa: F401
