"""One module per platform; importing this package registers them all."""

from . import (
    harvest,  # noqa: F401
    quickbooks,  # noqa: F401
)
