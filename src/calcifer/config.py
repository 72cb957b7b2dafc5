"""Typed settings. The only module that reads the environment (CALCIFER_* variables and `.env`)."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CATEGORIES = ["platform", "service", "network", "integration", "documentation"]


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """Every setting, with its environment variable `CALCIFER_<NAME>` (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="CALCIFER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./data"), description="Where the database, secret key, "
                           "managed repository and worktrees live.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite "
                                     "`<data dir>/calcifer.db`. PostgreSQL: postgresql+psycopg://...")
    database_schema: str | None = Field(default=None, description="PostgreSQL schema to use "
                                        "(default: the server's search_path). Tests use one per run.")
    repo_path: Path | None = Field(default=None, description="The managed bare repository; default "
                                   "`<data dir>/repo.git`.")
    host: str = Field(default="127.0.0.1", description="Address `calcifer serve` binds to.")
    port: int = Field(default=8000, description="Port `calcifer serve` binds to.")
    log_format: LogFormat = Field(default=LogFormat.TEXT, description="`text` or `json` (one JSON "
                                  "object per line).")
    log_level: str = Field(default="INFO", description="Python logging level name.")
    secure_cookies: bool | None = Field(default=None, description="Force the Secure flag on cookies; "
                                        "default: set when the request came over https.")
    session_hours: int = Field(default=24 * 7, description="How long a login session lasts.")
    work_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES),
                                       description="Work-item categories (JSON list in the env var).")
    login_max_failures: int = Field(default=5, description="Failed logins per user allowed "
                                    "within the throttle window.")
    login_window_minutes: int = Field(default=15, description="Login throttle window.")
    compose_dirs: list[Path] = Field(default_factory=list, description="Extra folders that compose "
                                     "discovery scans for Compose files, besides main of the managed "
                                     "repository (JSON list in the env var).")

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_repo_path(self) -> Path:
        if self.repo_path is not None:
            return self.repo_path.expanduser().resolve()
        return self.resolved_data_dir / "repo.git"

    @property
    def worktrees_dir(self) -> Path:
        return self.resolved_data_dir / "worktrees"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'calcifer.db'}"

    @cached_property
    def secret_key(self) -> str:
        """Read the secret key from the data dir, creating it (mode 0600) on first use."""
        return load_or_create_secret(self.resolved_data_dir / "secret_key")


def load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def get_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
