"""Typed settings. The only module that reads the environment (CALCIFER_* variables and `.env`)."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
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
    grafana_origins: list[str] = Field(default_factory=list, description="Origins of the Grafana servers whose "
                                       "dashboards pages may embed (a JSON list of https://host[:port]); "
                                       "the pages' Content-Security-Policy frame-src allows exactly these.")
    work_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES),
                                       description="Work-item categories (JSON list in the env var).")
    login_max_failures: int = Field(default=5, ge=1, description="Failed logins allowed per "
                                    "(username, address) before a wait; each further failure doubles it.")
    login_max_failures_per_address: int = Field(default=20, ge=1, description="Failed logins allowed "
                                                "from one address, whatever the usernames, before a wait.")
    login_window_minutes: int = Field(default=15, ge=1, description="How long failed logins are "
                                      "remembered, and the longest wait they impose.")
    api_rate_limit: str = Field(default="6000/minute", description="Requests to /api/v1 allowed per API "
                                "token, or per address without one (e.g. 600/minute, 20/second); over it "
                                "the answer is 429 with Retry-After. Counted in memory, per process.")
    push_rate_limit: str = Field(default="120/minute", description="Requests allowed per address to each "
                                 "push heartbeat URL (/api/v1/push/...) and probe endpoint (/healthz, /metrics).")
    compose_dirs: list[Path] = Field(default_factory=list, description="Extra folders that compose "
                                     "discovery scans for Compose files, besides main of the managed "
                                     "repository (JSON list in the env var).")
    # Monitoring
    monitor_in_web: bool = Field(default=True, description="Run the monitoring scheduler inside the web "
                                 "app (one process among workers takes the lock). Set false when "
                                 "`calcifer worker` runs it instead.")
    monitor_concurrency: int = Field(default=500, ge=1, description="Checks in flight at once, at most.")
    monitor_worker_lease_seconds: float = Field(default=15.0, ge=0.5, le=600, description="PostgreSQL: how "
                                                "long a scheduler's lease on its share of the endpoints "
                                                "lasts without renewal (renewed every third of it). A "
                                                "worker that dies is replaced after at most this plus a "
                                                "third; keep it well under the shortest interval.")
    monitor_raw_retention_hours: int = Field(default=48, ge=1, description="How long every single check "
                                             "result is kept.")
    monitor_aggregate_retention_days: int = Field(default=365, ge=1, description="How long the hourly "
                                                  "aggregates (uptime, latency) are kept.")
    monitor_cert_warn_days: int = Field(default=14, ge=0, description="An HTTPS endpoint whose certificate "
                                        "expires within this many days is degraded.")
    probe_offline_seconds: float = Field(default=90, ge=1, description="A remote probe not heard from for "
                                         "this long is shown offline (one \"probe offline\" event); its "
                                         "location stops counting in verdicts.")
    metrics_public: bool = Field(default=False, description="Serve /metrics without a token (by default "
                                 "any valid API token, sent as a bearer, may scrape it).")
    status_page_public: bool = Field(default=False, description="Serve the status page (/status) to "
                                     "visitors who are not logged in.")
    # Backups
    backup_dir: Path | None = Field(default=None, description="Where backups are written; default "
                                    "`<data dir>/backups`.")
    remote_ca_file: Path | None = Field(default=None, description="PEM file of a private CA that signed an "
                                        "HTTPS remote's certificate; trusted besides the system's CAs.")

    @field_validator("api_rate_limit", "push_rate_limit")
    @classmethod
    def _rate_limit_ok(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit: write e.g. 600/minute or 10/second") from exc
        return value

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_backup_dir(self) -> Path:
        if self.backup_dir is not None:
            return self.backup_dir.expanduser().resolve()
        return self.resolved_data_dir / "backups"

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
