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
    DONE = "done"
