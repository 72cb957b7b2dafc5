"""The names of domain events (``<subject>.<what happened>``), as the outbox records them and webhooks
subscribe to them."""

from __future__ import annotations

from enum import StrEnum


class EventName(StrEnum):
    WORK_ITEM_CREATED = "work_item.created"
    WORK_ITEM_UPDATED = "work_item.updated"
    WORK_ITEM_MERGED = "work_item.merged"
    WORK_ITEM_CANCELLED = "work_item.cancelled"
    WORK_ITEM_REVIEWED = "work_item.reviewed"
    COMMENT_CREATED = "comment.created"
    COMMENT_EDITED = "comment.edited"
    SERVICE_ADDED = "service.added"
    SERVICE_CHANGED = "service.changed"
    SERVICE_REMOVED = "service.removed"
    ENDPOINT_ADDED = "endpoint.added"
    ENDPOINT_CHANGED = "endpoint.changed"
    ENDPOINT_REMOVED = "endpoint.removed"
    DOC_CHANGED = "doc.changed"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_RESOLVED = "incident.resolved"
    ENDPOINT_STATUS_CHANGED = "endpoint.status_changed"
    BACKUP_FINISHED = "backup.finished"
    BACKUP_FAILED = "backup.failed"
    PROBE_OFFLINE = "probe.offline"
    PROBE_ONLINE = "probe.online"


ALL_EVENTS: tuple[str, ...] = tuple(e.value for e in EventName)
