"""Shapes of the backups' JSON API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class BackupFilePublic(BaseModel):
    name: str
    size_bytes: int
    created_at: dt.datetime
    download_url: str | None = Field(description="Null when the archive is no longer in the local folder.")
    locations: list[str] = Field(description="Where the archive lives: `local` (the backup folder) and each "
                                             "verified off-site copy (s3://... or sftp://...).")


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


# -- off-site targets -------------------------------------------------------------------------------------

class BackupTargetCreate(BaseModel):
    """One target. Give the fields of its kind: S3 needs bucket, access_key_id and secret_access_key
    (endpoint_url for a server other than AWS); SFTP needs host, username, folder and a password or a
    private key. Credentials are stored encrypted and never shown again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="How pages and the archives list name it.")
    kind: str = Field(description="s3 or sftp")
    enabled: bool = Field(default=True, description="Every backup (manual or scheduled) is uploaded here.")
    endpoint_url: str = Field(default="", max_length=2048, description="S3: the server's URL; empty for AWS.")
    region: str = Field(default="", max_length=64, description="S3: e.g. us-east-1 (empty: the server's default).")
    bucket: str = Field(default="", max_length=63, description="S3: the bucket (it must exist).")
    prefix: str = Field(default="", max_length=512, description="S3: a folder-like key prefix, e.g. calcifer/.")
    part_size_mb: int = Field(default=64, ge=5, le=5120, description="S3: multipart part size in MiB (5-5120).")
    access_key_id: str = Field(default="", max_length=256, description="S3: access key id (stored encrypted).")
    secret_access_key: str = Field(default="", max_length=256, description="S3: secret (stored encrypted).")
    host: str = Field(default="", max_length=253, description="SFTP: server host name or address.")
    port: int = Field(default=22, ge=1, le=65535, description="SFTP: port.")
    username: str = Field(default="", max_length=64, description="SFTP: user to log in as.")
    password: str = Field(default="", max_length=1024, description="SFTP: password (stored encrypted).")
    private_key: str = Field(default="", max_length=16384,
                             description="SFTP: an OpenSSH or PEM private key without passphrase (stored encrypted).")
    folder: str = Field(default="", max_length=1024, description="SFTP: absolute remote folder, e.g. /backups.")
    host_key_fingerprint: str = Field(default="", max_length=200,
                                      description="SFTP: the server's SHA256:... host key fingerprint; empty: "
                                                  "trusted on first use (shown on the page).")


class BackupTargetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(strict=True, description="Upload every backup (manual or scheduled) to this target.")


class BackupTargetPublic(BaseModel):
    id: int
    name: str
    kind: str
    enabled: bool
    location: str = Field(description="Where archives go: s3://bucket/prefix/ or sftp://user@host:port/folder/.")
    endpoint_url: str | None = None
    region: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    part_size_mb: int | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    folder: str | None = None
    auth: str | None = Field(default=None, description="SFTP: password or private key.")
    host_key_fingerprint: str | None = Field(default=None, description="SFTP: the pinned host key.")
    host_key_trusted_on_first_use: bool | None = None
    last_checked_at: dt.datetime | None
    last_error: str | None = Field(description="Why the last test or upload failed; null when it worked.")
    created_at: dt.datetime


class BackupTargetListPublic(BaseModel):
    items: list[BackupTargetPublic]
    next_cursor: str | None


class TargetTestPublic(BaseModel):
    ok: bool
    message: str
    host_key_fingerprint: str | None = None
