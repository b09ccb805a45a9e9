"""Settings from the environment (BILLSYNC_*), with an embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLSYNC_")

    database_url: str = f"sqlite:///{Path.cwd() / 'billsync.db'}"
    workspace: str = "default"
    actor: str = ""  # who is acting; defaults to the login name
    secret_key: str = ""  # Fernet key for connection secrets; else the key file
    secret_key_file: str = "~/.config/billsync/secret.key"

    @property
    def who(self) -> str:
        if self.actor:
            return self.actor
        import getpass

        return getpass.getuser()
