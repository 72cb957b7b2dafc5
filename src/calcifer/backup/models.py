"""Backup runs: what the Settings page shows (status, progress, the last failure)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow


class BackupRun(Base):
    """One backup attempt (from the CLI, the "Back up now" button or the schedule).

    A row stays ``running`` while the archive is written; a run whose process died is marked
    ``failed`` ("interrupted") by the next backup, which holds the backup folder's lock.
    """

    __tablename__ = "backup_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # choices.Trigger
    status: Mapped[str] = mapped_column(String(16), index=True)  # choices.RunStatus
    stage: Mapped[str] = mapped_column(String(64), default="")
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    file_name: Mapped[str] = mapped_column(String(255), default="")
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
