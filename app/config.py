"""One Settings object, read from CALDICOTT_* environment variables."""

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SQLITE_DEFAULT_URL = "sqlite+aiosqlite:///./caldicott.db"
DEV_SUBJECT_KEY = "development-subject-key-not-for-production"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Service configuration; refuses development shortcuts in production."""

    model_config = SettingsConfigDict(env_prefix="CALDICOTT_", env_file=".env", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = SQLITE_DEFAULT_URL
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "caldicott-dev"
    jwt_audience: str = "caldicott-api"
    jwks_file: Path | None = None
    subject_key: SecretStr | None = None
    policy_file: Path | None = None
    page_size_max: int = 200

    @model_validator(mode="after")
    def refuse_unsafe_production(self) -> "Settings":
        if self.env is Environment.PRODUCTION:
            if self.jwt_secret is not None:
                raise ValueError("CALDICOTT_JWT_SECRET (HS256) is for development only; use CALDICOTT_JWKS_FILE")
            if self.jwks_file is None:
                raise ValueError("production needs CALDICOTT_JWKS_FILE to verify tokens")
            if self.subject_key is None:
                raise ValueError("production needs CALDICOTT_SUBJECT_KEY to hash subject identifiers")
            if self.uses_sqlite:
                raise ValueError("production needs CALDICOTT_DATABASE_URL pointing at PostgreSQL")
        return self

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def subject_key_bytes(self) -> bytes:
        key = self.subject_key.get_secret_value() if self.subject_key else DEV_SUBJECT_KEY
        return key.encode()


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process from the environment."""
    return Settings()
