"""Connection secrets are encrypted at rest and never appear in the clear."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from billsync.errors import UserError
from billsync.store import secrets
from billsync.store.db import Store
from billsync.store.tables import connection_secrets


def test_a_secret_is_stored_encrypted_and_read_back(store: Store) -> None:
    with store.transaction() as tx:
        secrets.put(tx, "harvest", "token", "pat-very-secret-123")
        secrets.put_token(tx, "qbo", {"access_token": "at-secret", "expires_at": 1})
    with store.reading() as tx:
        stored = tx.conn.execute(select(connection_secrets.c.ciphertext)).scalars().all()
        assert secrets.get(tx, "harvest", "token") == "pat-very-secret-123"
        assert secrets.get_token(tx, "qbo") == {"access_token": "at-secret", "expires_at": 1}
        assert secrets.get(tx, "harvest", "missing") is None
        assert secrets.names(tx, "harvest") == ["token"]
    assert stored and not any("secret" in text for text in stored)


def test_setting_a_secret_again_replaces_it(store: Store) -> None:
    with store.transaction() as tx:
        secrets.put(tx, "harvest", "token", "old")
        secrets.put(tx, "harvest", "token", "new")
    with store.reading() as tx:
        assert secrets.get(tx, "harvest", "token") == "new"
        assert secrets.names(tx, "harvest") == ["token"]


def test_another_key_cannot_read_it_and_says_so(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    with store.transaction() as tx:
        secrets.put(tx, "harvest", "token", "pat-very-secret-123")
    from cryptography.fernet import Fernet

    monkeypatch.setenv("BILLSYNC_SECRET_KEY", Fernet.generate_key().decode())
    with store.reading() as tx, pytest.raises(UserError) as caught:
        secrets.get(tx, "harvest", "token")
    assert "cannot be decrypted" in str(caught.value)
    assert "pat-very-secret-123" not in str(caught.value)
