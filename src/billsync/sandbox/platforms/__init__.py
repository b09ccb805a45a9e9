"""One sandbox module per platform; importing this package registers them all."""

from . import clockify  # noqa: F401
