"""Connection secrets (API keys, OAuth2 tokens), encrypted at rest with Fernet.

The key comes from BILLSYNC_SECRET_KEY, else from the key file (BILLSYNC_SECRET_KEY_FILE,
default ~/.config/billsync/secret.key, created with mode 0600 on first use). Values are
never logged, printed or put in an error message; the audit trail records only that a
secret of that name changed.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select

from billsync.errors import UserError
from billsync.settings import Settings

from .db import Tx, utcnow
from .tables import connection_secrets


@cache
def _fernet(key: str | None, key_file: str) -> Fernet:
    if not key:
        path = Path(key_file).expanduser()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        key = path.read_text().strip()
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise UserError("the secret key is not a Fernet key (32 url-safe base64 bytes)") from exc


def fernet() -> Fernet:
    settings = Settings.read()
    return _fernet(settings.secret_key or None, settings.secret_key_file)


def put(tx: Tx, connection: str, name: str, value: str) -> None:
    token = fernet().encrypt(value.encode()).decode()
    key = {"workspace_id": tx.workspace_id, "connection": connection, "name": name}
    tx.conn.execute(delete(connection_secrets).filter_by(**key))
    tx.conn.execute(
        connection_secrets.insert().values(**key, ciphertext=token, updated_at=utcnow())
    )


def get(tx: Tx, connection: str, name: str) -> str | None:
    token = tx.conn.execute(
        select(connection_secrets.c.ciphertext).where(
            connection_secrets.c.workspace_id == tx.workspace_id,
            connection_secrets.c.connection == connection,
            connection_secrets.c.name == name,
        )
    ).scalar()
    if token is None:
        return None
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UserError(
            f"connection {connection!r}: secret {name!r} cannot be decrypted with this "
            "secret key (was the key changed?)"
        ) from exc


def names(tx: Tx, connection: str) -> list[str]:
    rows = tx.conn.execute(
        select(connection_secrets.c.name).where(
            connection_secrets.c.workspace_id == tx.workspace_id,
            connection_secrets.c.connection == connection,
        )
    )
    return sorted(r.name for r in rows)


TOKEN = "oauth2_token"  # the secret name an OAuth2 connection's token set is kept under


def get_token(tx: Tx, connection: str) -> dict[str, Any] | None:
    text = get(tx, connection, TOKEN)
    return None if text is None else dict(json.loads(text))


def put_token(tx: Tx, connection: str, token: dict[str, Any]) -> None:
    put(tx, connection, TOKEN, json.dumps(token))
