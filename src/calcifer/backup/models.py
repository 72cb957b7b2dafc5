"""Backup runs (what the Settings page shows: status, progress, the last failure), the off-site
targets archives are uploaded to, and the copies made there."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
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


class BackupTarget(Base):
    """An off-site place archives are uploaded to (choices.TargetKind), besides the local folder.

    ``config`` holds the non-secret settings (S3: endpoint_url, region, bucket, prefix, part_size_mb;
    SFTP: host, port, username, folder, auth). ``secret_sealed`` holds the credentials (S3: access key
    id and secret; SFTP: password or private key) as JSON sealed with ``calcifer.sealed``: no page,
    answer or log shows them again. ``host_key`` is an SFTP server's pinned SHA256 fingerprint, given
    by the admin or trusted on first use (``host_key_tofu``)."""

    __tablename__ = "backup_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secret_sealed: Mapped[str] = mapped_column(Text)
    host_key: Mapped[str] = mapped_column(String(200), default="")
    host_key_tofu: Mapped[bool] = mapped_column(Boolean, default=False)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BackupCopy(Base):
    """One archive uploaded to a target and verified there (what the archives list shows as its place).
    Removed when retention deletes the object, or with its target."""

    __tablename__ = "backup_copies"
    __table_args__ = (UniqueConstraint("target_id", "archive_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("backup_targets.id", ondelete="CASCADE"), index=True)
    archive_name: Mapped[str] = mapped_column(String(255))
    location: Mapped[str] = mapped_column(Text)  # s3://bucket/key or sftp://user@host:port/path
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
