"""billsync: tracked work hours to validated, audited client invoices."""

# First of all: SQLite's process-wide settings can only be made before Python's driver
# loads the library (see sqlite_library.py).
from . import sqlite_library as _sqlite_library  # noqa: F401
