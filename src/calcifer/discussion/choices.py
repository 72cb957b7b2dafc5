"""What can be discussed and watched, and why someone watches it."""

from __future__ import annotations

from enum import StrEnum


class TargetKind(StrEnum):
    WORK_ITEM = "work_item"
    INCIDENT = "incident"
    SERVICE = "service"
    DOC = "doc"


# Only these can be watched by hand (a doc is discussed, not watched).
WATCHABLE = (TargetKind.WORK_ITEM, TargetKind.INCIDENT, TargetKind.SERVICE)


class WatchReason(StrEnum):
    CREATOR = "creator"
    ASSIGNEE = "assignee"
    REVIEWER = "reviewer"
    COMMENTER = "commenter"
    MANUAL = "manual"


class TimelineKind(StrEnum):
    COMMENT = "comment"
    COMMIT = "commit"
    CHECKLIST = "checklist"
    REVIEW = "review"
    STATUS = "status"
    MERGE = "merge"
    CREATED = "created"
    CHANGE = "change"
