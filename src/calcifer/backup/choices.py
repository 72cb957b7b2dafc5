from __future__ import annotations

from enum import StrEnum


class Trigger(StrEnum):
    CLI = "cli"
    MANUAL = "manual"        # "Back up now" on the Settings page or the API
    SCHEDULED = "scheduled"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Stage(StrEnum):
    PREPARING = "preparing"
    DATABASE = "database snapshot"
    REPOSITORY = "repository bundle"
    ARCHIVE = "writing archive"
    UPLOAD = "uploading to targets"
    DONE = "done"


class TargetKind(StrEnum):
    """Where archives go besides the local backup folder (which always keeps a copy)."""

    S3 = "s3"        # S3-compatible object storage (AWS, MinIO, Ceph RGW, Garage, Backblaze B2, ...)
    SFTP = "sftp"    # a folder on an SSH server


class SftpAuth(StrEnum):
    PASSWORD = "password"
    PRIVATE_KEY = "private key"


LOCAL_LOCATION = "local"  # what the archives list says for the backup folder
