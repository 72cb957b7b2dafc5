"""Shapes of the backups' JSON API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class BackupFilePublic(BaseModel):
    name: str
    size_bytes: int
    created_at: dt.datetime
    download_url: str


class BackupRunPublic(BaseModel):
    id: int
    trigger: str = Field(description="manual or scheduled")
    status: str
    stage: str
    progress: int | float
    started_at: dt.datetime
    finished_at: dt.datetime | None
    file_name: str | None
    size_bytes: int | None
    error: str | None
    actor: str | None


class BackupListPublic(BaseModel):
    items: list[BackupFilePublic] = Field(description="The backup files kept (at most `keep`), newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
    schedule: str = Field(description="A cron expression in UTC.")
    keep: int
    next_run: dt.datetime | None
    current_run: BackupRunPublic | None
    last_failure: BackupRunPublic | None


class ScheduleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(default=None, max_length=120, description="A cron expression in UTC "
                                                                            "(default: unchanged).")
    keep: int | None = Field(default=None, strict=True,
                             description="How many backups to keep, 1-1000 (default: unchanged).")


class SchedulePublic(BaseModel):
    schedule: str
    keep: int
