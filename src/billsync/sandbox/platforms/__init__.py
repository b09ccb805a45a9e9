"""One sandbox module per platform; importing this package registers them all."""

from . import harvest  # noqa: F401
from . import clockify  # noqa: F401
from . import quickbooks  # noqa: F401
from . import toggl  # noqa: F401
from . import xero  # noqa: F401
