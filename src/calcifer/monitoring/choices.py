from __future__ import annotations

from enum import IntEnum, StrEnum


class Status(StrEnum):
    """An endpoint's status as people see it."""

    UP = "up"
    DEGRADED = "degraded"  # answering, but slow, or its certificate expires soon
    DOWN = "down"
    PAUSED = "paused"      # disabled in the catalog or paused by hand: not checked
    UNKNOWN = "unknown"    # not checked yet


class ResultCode(IntEnum):
    """One check's outcome as stored in ``monitor_results.status`` (a small integer keeps rows small)."""

    UP = 0
    DEGRADED = 1
    DOWN = 2

    @property
    def status(self) -> Status:
        return Status(self.name.lower())

    @classmethod
    def of(cls, status: Status) -> ResultCode:
        return cls[status.name]


class EventKind(StrEnum):
    STATUS_CHANGE = "status_change"
    FAILURE = "failure"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class IncidentEventKind(StrEnum):
    """One line of an incident's timeline."""

    OPENED = "opened"
    NOTE = "note"
    STATUS = "status"          # a status change while the incident is open (e.g. paused)
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


class MaintenanceKind(StrEnum):
    ONE_OFF = "one_off"        # from starts_at to ends_at
    RECURRING = "recurring"    # every time the cron expression fires, for duration_minutes
    WORK_ITEM = "work_item"    # while work item #N is in progress
