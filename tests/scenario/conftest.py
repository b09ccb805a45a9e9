"""The `firm` fixture: a small workspace to tell billing stories with."""

from __future__ import annotations

from pathlib import Path

import pytest

from billsync.store.db import Store
from support.firm import Firm


@pytest.fixture
def firm(store: Store, tmp_path: Path) -> Firm:
    return Firm(store, tmp_path)
