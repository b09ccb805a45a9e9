"""One module per platform; importing this package registers them all."""

from . import quickbooks  # noqa: F401
