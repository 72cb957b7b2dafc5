"""The domain-event outbox: typed records of what happened, written in the transaction of the change.

Each ``record_*`` function is a hook of the emitting slice's seam (listed in ``calcifer.wiring``); it
receives that slice's typed record (``calcifer.events``) or its work item, turns it into an event row
and adds it to the session, so the event commits or rolls back with the change (no network, no commit
of its own; the doc step is the exception, see ``record_doc_changes``). Subscribers (webhooks) never
import the emitting slices: they read ``pending_events`` and mark what they took ``dispatched``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from calcifer.catalog import queries as catalog_queries
from calcifer.db import utcnow
from calcifer.events import (
    BackupFinished,
    CatalogChanged,
    EndpointStatusChanged,
    IncidentChanged,
    MainMoved,
    ProbeStatusChanged,
)
from calcifer.outbox.choices import EventName
from calcifer.outbox.models import DomainEvent, SubscriberCursor
from calcifer.work.choices import WorkItemChange
from calcifer.work.models import WorkItem

DOCS_PREFIX = "docs/"
DOC_SUFFIXES = (".md", ".markdown")
WORK_ITEM_EVENTS = {WorkItemChange.CREATED: EventName.WORK_ITEM_CREATED,
                    WorkItemChange.UPDATED: EventName.WORK_ITEM_UPDATED,
                    WorkItemChange.MERGED: EventName.WORK_ITEM_MERGED,
                    WorkItemChange.CANCELLED: EventName.WORK_ITEM_CANCELLED}


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One recorded event, as subscribers read it."""

    id: int
    name: str
    occurred_at: dt.datetime
    service: str | None
    category: str | None
    data: dict[str, Any]


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _row(name: EventName, data: dict[str, Any], *, at: dt.datetime, service: str | None = None,
         category: str | None = None) -> dict[str, Any]:
    return {"name": name.value, "occurred_at": at, "service": service, "category": category, "data": data,
            "dispatched": False}


def _add(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(DomainEvent), rows)


def emit(*, session: Session, name: EventName, data: dict[str, Any], service: str | None = None,
         category: str | None = None, at: dt.datetime | None = None) -> None:
    """Add one event to the session's transaction (committed by the caller, with its change)."""
    _add(session, [_row(name, data, at=at or utcnow(), service=service, category=category)])


# -- hooks of the emitting slices' seams ------------------------------------------------------------------

def record_work_item(*, session: Session, item: WorkItem, change: WorkItemChange) -> None:
    """``work.service.WORK_ITEM_EVENT_HOOKS``: work_item.created/updated/merged/cancelled."""
    data = {"work_item": {
        "id": item.id, "title": item.title, "status": item.status, "category": item.category,
        "action": item.action, "service": item.service, "branch": item.branch,
        "merge_commit": item.merge_commit, "url": f"/work/{item.id}",
        "author": item.author.username if item.author else None,
        "assignee": item.assignee.username if item.assignee else None}}
    emit(session=session, name=WORK_ITEM_EVENTS[change], data=data, service=item.service, category=item.category)


def record_review(*, session: Session, item: WorkItem, verdict: str, reviewer: str, comment: str) -> None:
    """``work.reviews.REVIEW_EVENT_HOOKS``: work_item.reviewed (a review request, approval or change request)."""
    data = {"work_item": {"id": item.id, "title": item.title, "status": item.status, "url": f"/work/{item.id}",
                          "author": item.author.username if item.author else None,
                          "assignee": item.assignee.username if item.assignee else None},
            "review": {"verdict": verdict, "reviewer": reviewer, "comment": comment[:2000]}}
    emit(session=session, name=EventName.WORK_ITEM_REVIEWED, data=data, service=item.service, category=item.category)


def _endpoint_services(session: Session, slugs: Collection[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    ordered = sorted(slugs)
    for start in range(0, len(ordered), 500):
        for record in catalog_queries.endpoint_records(session=session, slugs=ordered[start:start + 500]):
            found[record.slug] = record.service
    return found


def record_catalog_changes(*, session: Session, change: CatalogChanged) -> None:
    """``catalog.index_sync.CATALOG_CHANGED_HOOKS``: service.* and endpoint.* added/changed/removed, in
    the sync's transaction (after its rows were written, so an endpoint's service is read as it is now)."""
    at = utcnow()
    rows = []
    for slug in sorted(change.services):
        name = (EventName.SERVICE_ADDED if slug in change.added_services else EventName.SERVICE_REMOVED
                if slug in change.removed_services else EventName.SERVICE_CHANGED)
        rows.append(_row(name, {"service": {"slug": slug, "url": f"/services/{slug}"},
                                "commit": change.to_commit}, at=at, service=slug))
    services = _endpoint_services(session, change.endpoints - change.removed_endpoints)
    for slug in sorted(change.endpoints):
        name = (EventName.ENDPOINT_ADDED if slug in change.added_endpoints else EventName.ENDPOINT_REMOVED
                if slug in change.removed_endpoints else EventName.ENDPOINT_CHANGED)
        service = services.get(slug)
        rows.append(_row(name, {"endpoint": {"slug": slug, "service": service, "url": f"/endpoints/{slug}"},
                                "commit": change.to_commit}, at=at, service=service))
    _add(session, rows)


def record_doc_changes(*, session: Session, repo_path: Path, change: MainMoved) -> None:
    """An after-merge step: doc.changed for every markdown file under docs/ the merge added, changed or
    deleted. Main has moved already (git is not in the database's transaction), so this step commits
    its own; it runs right after the merge, in the merging request."""
    if change.paths is None:
        return  # unknown difference (at start): nothing to say about single docs
    at = utcnow()
    rows = [_row(EventName.DOC_CHANGED, {"doc": {"path": path, "deleted": blob is None,
                                                  "url": None if blob is None else f"/docs/view/{path}"},
                                         "commit": change.after}, at=at)
            for path, blob in sorted(change.paths.items())
            if path.startswith(DOCS_PREFIX) and path.endswith(DOC_SUFFIXES)]
    if rows:
        _add(session, rows)
        session.commit()


def record_status_changes(*, session: Session, changes: list[EndpointStatusChanged]) -> None:
    """``monitoring.hooks.STATUS_CHANGE_HOOKS``: endpoint.status_changed, in the result writer's transaction."""
    _add(session, [_row(EventName.ENDPOINT_STATUS_CHANGED, {"endpoint": {
        "slug": c.slug, "service": c.service, "old": str(c.old), "new": str(c.new), "at": _iso(c.at),
        "message": c.message, "in_maintenance": c.in_maintenance, "url": f"/endpoints/{c.slug}"}},
        at=c.at, service=c.service) for c in changes])


def record_incidents(*, session: Session, changes: list[IncidentChanged]) -> None:
    """``monitoring.hooks.INCIDENT_HOOKS``: incident.opened / incident.resolved."""
    rows = []
    for c in changes:
        duration = int((c.ended_at - c.started_at).total_seconds()) if c.ended_at else None
        rows.append(_row(EventName.INCIDENT_RESOLVED if c.resolved else EventName.INCIDENT_OPENED, {"incident": {
            "id": c.incident_id, "endpoint": c.endpoint, "service": c.service,
            "status": "resolved" if c.resolved else "open", "started_at": _iso(c.started_at),
            "ended_at": _iso(c.ended_at), "duration_seconds": duration, "message": c.message,
            "in_maintenance": c.in_maintenance, "url": f"/incidents/{c.incident_id}"}},
            at=c.ended_at if c.resolved and c.ended_at else c.started_at, service=c.service))
    _add(session, rows)


def record_backup(*, session: Session, event: BackupFinished) -> None:
    """``backup.service.FINISHED_HOOKS``: backup.finished / backup.failed."""
    emit(session=session, name=EventName.BACKUP_FINISHED if event.ok else EventName.BACKUP_FAILED, at=event.at,
         data={"backup": {"run_id": event.run_id, "trigger": event.trigger,
                          "status": "succeeded" if event.ok else "failed", "file_name": event.file_name,
                          "size_bytes": event.size_bytes, "error": event.error[:2000]}})


def record_probe_changes(*, session: Session, changes: list[ProbeStatusChanged]) -> None:
    """``monitoring.hooks.PROBE_HOOKS``: probe.offline / probe.online, in the transaction that flips it."""
    _add(session, [_row(EventName.PROBE_ONLINE if c.online else EventName.PROBE_OFFLINE, {"probe": {
        "name": c.name, "location": c.location, "online": c.online, "at": _iso(c.at),
        "last_seen_at": _iso(c.last_seen_at), "message": c.message, "url": "/settings/probes"}}, at=c.at)
        for c in changes])


# -- the subscribers' read model ---------------------------------------------------------------------------

def pending_events(*, session: Session, limit: int = 500) -> list[OutboxEvent]:
    """Events not yet dispatched, oldest first (at most ``limit``)."""
    rows = session.execute(select(DomainEvent.id, DomainEvent.name, DomainEvent.occurred_at, DomainEvent.service,
                                  DomainEvent.category, DomainEvent.data)
                           .where(DomainEvent.dispatched.is_(False)).order_by(DomainEvent.id).limit(limit))
    return [OutboxEvent(*row) for row in rows]


def last_event_id(*, session: Session) -> int:
    """The id of the newest recorded event (0: none yet)."""
    return int(session.scalar(select(func.max(DomainEvent.id))) or 0)


def start_cursor_at_newest(*, session: Session, subscriber: str) -> bool:
    """Give ``subscriber`` a cursor at the newest event, so it never sees what happened before it existed
    (commits). False when it already has one."""
    if session.get(SubscriberCursor, subscriber) is not None:
        return False
    session.add(SubscriberCursor(name=subscriber, last_id=last_event_id(session=session)))
    session.commit()
    return True


def mark_dispatched(*, session: Session, ids: Sequence[int]) -> None:
    """Mark events taken (in the caller's transaction, with what it wrote for them)."""
    for start in range(0, len(ids), 500):
        session.execute(update(DomainEvent).where(DomainEvent.id.in_(list(ids[start:start + 500])))
                        .values(dispatched=True).execution_options(synchronize_session=False))


def prune(*, session: Session, before: dt.datetime) -> int:
    """Delete dispatched events that occurred before ``before``; returns how many (commits)."""
    result = session.execute(delete(DomainEvent).where(DomainEvent.dispatched.is_(True),
                                                       DomainEvent.occurred_at < before))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


# A gap in the ids may be a transaction still open (PostgreSQL hands out ids before commit): a cursor
# waits this long for it before it reads past the gap (a rolled-back insert leaves a gap for ever).
GAP_WAIT = dt.timedelta(seconds=5)


def events_after(*, session: Session, subscriber: str, limit: int = 500) -> tuple[int, list[OutboxEvent]]:
    """``(cursor, events)``: the subscriber's cursor and the events after it, oldest first, up to the first
    gap in the ids younger than ``GAP_WAIT``. Independent of ``dispatched`` (which is webhooks')."""
    cursor = session.scalar(select(SubscriberCursor.last_id).where(SubscriberCursor.name == subscriber))
    if cursor is None:
        session.execute(insert(SubscriberCursor).values(name=subscriber, last_id=0))
        session.commit()
        cursor = 0
    rows = session.execute(select(DomainEvent.id, DomainEvent.name, DomainEvent.occurred_at, DomainEvent.service,
                                  DomainEvent.category, DomainEvent.data)
                           .where(DomainEvent.id > cursor).order_by(DomainEvent.id).limit(limit))
    events: list[OutboxEvent] = []
    expected = cursor + 1
    young = utcnow() - GAP_WAIT
    for row in rows:
        event = OutboxEvent(*row)
        if event.id != expected:
            at = event.occurred_at if event.occurred_at.tzinfo else event.occurred_at.replace(tzinfo=dt.UTC)
            if at > young:
                break
        events.append(event)
        expected = event.id + 1
    return int(cursor), events


def advance(*, session: Session, subscriber: str, from_id: int, to_id: int) -> bool:
    """Move the subscriber's cursor from ``from_id`` to ``to_id`` in the caller's transaction; False when
    another process moved it first (the caller rolls back what it wrote for those events)."""
    result = session.execute(update(SubscriberCursor).where(SubscriberCursor.name == subscriber,
                                                            SubscriberCursor.last_id == from_id)
                             .values(last_id=to_id).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0) == 1


def count_pending(*, session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(DomainEvent)
                              .where(DomainEvent.dispatched.is_(False))) or 0)
