"""Settings from the environment (BILLSYNC_*), with an embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from billsync.domain.model import CODE_LENGTH
from billsync.errors import UserError

ACTOR_LENGTH = 200  # at most, characters: as the audit trail's columns keep it


class Settings(BaseSettings):
    # Blanks around a value are a typo: an actor of "  " is no one, as unset is.
    model_config = SettingsConfigDict(env_prefix="BILLSYNC_", str_strip_whitespace=True)

    database_url: str = f"sqlite:///{Path.cwd() / 'billsync.db'}"
    workspace: str = Field("default", min_length=1, max_length=CODE_LENGTH)
    actor: str = Field("", max_length=ACTOR_LENGTH)  # who is acting; else the login name
    secret_key: str = ""  # Fernet key for connection secrets; else the key file
    secret_key_file: str = "~/.config/billsync/secret.key"

    @classmethod
    def read(cls) -> Settings:
        """The settings from the environment; a wrong one is a UserError that names
        its variable."""
        try:
            return cls()
        except ValidationError as exc:
            wrong = [f"BILLSYNC_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors()]
            raise UserError("; ".join(wrong)) from None

    @property
    def who(self) -> str:
        if self.actor:
            return self.actor
        import getpass

        return getpass.getuser()
