"""Incidents: an endpoint going down opens one, its recovery closes it; people add notes and start a
post-mortem (a doc written through a work item, like every change to the managed repository).

The status-change hook runs inside the scheduler's write transaction: it only reads the catalog index
and the work items and adds rows (no commit, no network). Everything else here is for pages and API.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, cast, or_, select
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.catalog import graph
from calcifer.changelog.choices import ChangeType
from calcifer.db import utcnow
from calcifer.errors import Conflict, DomainError, Invalid, NotFound
from calcifer.events import IncidentChanged
from calcifer.monitoring import hooks
from calcifer.monitoring.choices import EventKind, IncidentEventKind, IncidentStatus, Status
from calcifer.monitoring.hooks import StatusChange
from calcifer.monitoring.models import Incident, IncidentEvent, MonitorEvent

# Defined in the read model (monitoring/queries.py) so notify need not import this module; still ours.
from calcifer.monitoring.queries import ExpiringCertificate as ExpiringCertificate
from calcifer.monitoring.queries import expiring_certificates as expiring_certificates
from calcifer.monitoring.queries import open_incidents as open_incidents
from calcifer.monitoring.schemas import NOTE_MAX
from calcifer.work import service as work
from calcifer.work.choices import OPEN_STATUSES, WorkAction, WorkStatus
from calcifer.work.models import WorkItem
from calcifer.work.schemas import WorkItemCreate

log = logging.getLogger("calcifer.incidents")

# A work item merged this long before an incident starts is shown as possibly related.
RELATED_MERGE_WINDOW = dt.timedelta(hours=1)
PAGE_SIZE = 50
MAX_LIMIT = 200
POSTMORTEM_TEMPLATE = "post-mortem"
POSTMORTEM_DIR = "docs/postmortems"
# Post-mortem work items go to the first of these categories that is configured.
POSTMORTEM_CATEGORIES = ("incident", "documentation")


# -- the status-change hook ------------------------------------------------------------------------------

class _Batch:
    """What one call of the hook reads once: the open incidents of the endpoints in the batch (one
    query), and the affected services and related work per service (a mass outage asks once)."""

    def __init__(self, session: Session, endpoint_ids: list[int]) -> None:
        self.open: dict[int, Incident] = {}
        ids = sorted(set(endpoint_ids))
        for start in range(0, len(ids), 500):
            for incident in session.scalars(select(Incident).where(
                    Incident.open_endpoint_id.in_(ids[start:start + 500]))):
                self.open[incident.endpoint_id] = incident
        self.loaded = set(ids)
        self.cache: dict[tuple[str, str | None], Any] = {}

    def open_for(self, session: Session, endpoint_id: int) -> Incident | None:
        if endpoint_id in self.loaded:
            return self.open.get(endpoint_id)
        return _open_for(session, endpoint_id)


def record_incidents(session: Session, changes: list[StatusChange]) -> None:
    """Open an incident when an endpoint goes down, close it when the endpoint is up or degraded again.

    Idempotent: the same change seen twice neither opens a second incident nor closes one twice.
    Adds rows only (flushed, not committed): it runs in the result writer's transaction.
    """
    batch = _Batch(session, [c.endpoint_id for c in changes])
    opened: list[Incident] = []
    resolved: list[Incident] = []
    for change in changes:
        if change.new == Status.DOWN and change.old != Status.DOWN:
            was_open = batch.open_for(session, change.endpoint_id)
            started = open_incident(session=session, change=change, batch=batch)
            if was_open is None:
                opened.append(started)
        elif change.new in (Status.UP, Status.DEGRADED):
            closed = close_incident(session=session, change=change, batch=batch)
            if closed is not None:
                resolved.append(closed)
        elif change.new in (Status.PAUSED, Status.UNKNOWN):
            incident = batch.open_for(session, change.endpoint_id)
            if incident is not None and not _seen(incident, change):
                incident.events.append(IncidentEvent(at=change.at, kind=IncidentEventKind.STATUS.value,
                                                     text=f"{change.old} → {change.new}"))
    session.flush()
    if opened or resolved:
        hooks.incidents_changed(session=session, changes=[_incident_changed(i) for i in (*opened, *resolved)])


def _incident_changed(incident: Incident) -> IncidentChanged:
    return IncidentChanged(incident_id=incident.id, endpoint=incident.endpoint_slug, service=incident.service,
                           resolved=incident.status == IncidentStatus.RESOLVED.value,
                           started_at=incident.started_at, ended_at=incident.ended_at, message=incident.message,
                           in_maintenance=incident.in_maintenance)


def _open_for(session: Session, endpoint_id: int) -> Incident | None:
    return session.scalars(select(Incident).where(Incident.open_endpoint_id == endpoint_id)).first()


def _seen(incident: Incident, change: StatusChange) -> bool:
    text = f"{change.old} → {change.new}"
    return any(e.at == change.at and e.text == text for e in incident.events)


def affected_services(*, session: Session, service: str | None) -> list[str]:
    """The service and everything that needs it, transitively (its dependents and what runs on it),
    nearest first. A service missing from the catalog index is still listed (alone)."""
    if not service:
        return []
    try:
        return [service, *graph.downstream(session, service)]
    except NotFound:
        return [service]


def related_work(*, session: Session, service: str | None, at: dt.datetime) -> list[dict[str, Any]]:
    """Work items on the service or on a service it needs that were in progress at `at`, or merged in
    the hour before it: [{"id", "title", "status", "service", "merged_at", "merged_minutes_before"}]."""
    if not service:
        return []
    try:
        services = {service, *graph.upstream(session, service)}
    except NotFound:
        services = {service}
    found = []
    for item in work.work_near(session=session, services=services, merged_since=at - RELATED_MERGE_WINDOW):
        merged_at = item.completed_at if item.status == WorkStatus.COMPLETE.value else None
        if merged_at is not None and merged_at > at:
            continue  # merged after the incident started: not a cause
        found.append({"id": item.id, "title": item.title, "status": item.status, "service": item.service,
                      "merged_at": merged_at.isoformat() if merged_at else None,
                      "merged_minutes_before": int((at - merged_at).total_seconds() // 60) if merged_at else None})
    return found


def related_text(entry: dict[str, Any]) -> str:
    """"work item #12, merged 14 minutes before it started" / "work item #12, in progress"."""
    if entry.get("merged_minutes_before") is not None:
        minutes = int(entry["merged_minutes_before"])
        return (f"work item #{entry['id']}, merged {minutes} minute{'s' if minutes != 1 else ''} "
                "before it started")
    return f"work item #{entry['id']}, in progress"


def open_incident(*, session: Session, change: StatusChange, batch: _Batch | None = None) -> Incident:
    """The endpoint's open incident, opened now from `change` unless one is open already (not flushed)."""
    batch = batch or _Batch(session, [change.endpoint_id])
    existing = batch.open_for(session, change.endpoint_id)
    if existing is not None:
        return existing
    # Related work is looked up once per service and minute: a batch holds seconds of results.
    minute = change.at.replace(second=0, microsecond=0)
    affected_key, related_key = ("affected", change.service), (f"related@{minute.isoformat()}", change.service)
    if affected_key not in batch.cache:
        batch.cache[affected_key] = affected_services(session=session, service=change.service)
    if related_key not in batch.cache:
        batch.cache[related_key] = related_work(session=session, service=change.service, at=change.at)
    incident = Incident(
        endpoint_id=change.endpoint_id, open_endpoint_id=change.endpoint_id, endpoint_slug=change.slug,
        service=change.service, status=IncidentStatus.OPEN.value, started_at=change.at,
        message=(change.message or "")[:500], in_maintenance=change.in_maintenance,
        affected_services=list(batch.cache[affected_key]),
        related_work=[dict(entry) for entry in batch.cache[related_key]], events=[])
    text = f"{change.slug} went down" + (f": {change.message}" if change.message else "")
    if change.in_maintenance:
        text += " (during maintenance: alerts held)"
    incident.events.append(IncidentEvent(at=change.at, kind=IncidentEventKind.OPENED.value, text=text[:2000]))
    session.add(incident)
    batch.open[change.endpoint_id] = incident
    batch.loaded.add(change.endpoint_id)
    return incident


def close_incident(*, session: Session, change: StatusChange, batch: _Batch | None = None) -> Incident | None:
    """Resolve the endpoint's open incident at `change.at` (None when there is none)."""
    batch = batch or _Batch(session, [change.endpoint_id])
    incident = batch.open_for(session, change.endpoint_id)
    if incident is None:
        return None
    batch.open.pop(change.endpoint_id, None)
    end = max(change.at, incident.started_at)
    incident.status = IncidentStatus.RESOLVED.value
    incident.open_endpoint_id = None
    incident.ended_at = end
    incident.duration_seconds = int((end - incident.started_at).total_seconds())
    incident.events.append(IncidentEvent(
        at=end, kind=IncidentEventKind.RESOLVED.value,
        text=f"{change.slug} is {change.new} again after {human_duration(incident.duration())}"))
    return incident


def human_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# -- queries ----------------------------------------------------------------------------------------------

def get_incident(*, session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"No incident #{incident_id}.")
    return incident


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, dt.datetime, int]:
    try:
        status, started, incident_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return str(status), dt.datetime.fromisoformat(started), int(incident_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("The cursor is not one this list gave out; start again without it.",
                      code="bad_cursor") from exc


def list_incidents(
    *, session: Session, status: str | None = None, endpoint: str | None = None, service: str | None = None,
    limit: int = PAGE_SIZE, cursor: str | None = None,
) -> tuple[list[Incident], str | None]:
    """Open incidents first, then resolved ones, newest first within each; a page at a time.

    ``service`` matches the endpoint's service or any affected service. Returns the page and the next
    page's cursor (None at the end). Raises Invalid for an unknown status or a bad cursor.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    # "open" sorts before "resolved": ordering by status puts open incidents first.
    query = select(Incident).order_by(Incident.status, Incident.started_at.desc(), Incident.id.desc())
    if status:
        if status not in {s.value for s in IncidentStatus}:
            raise Invalid(f"Unknown status {status!r}; use open or resolved.", code="bad_status")
        query = query.where(Incident.status == status)
    if endpoint:
        query = query.where(Incident.endpoint_slug == endpoint.strip())
    if service:
        wanted = service.strip()
        # affected_services is a JSON list; a LIKE on its text finds the quoted slug on both engines.
        query = query.where(or_(Incident.service == wanted,
                                cast(Incident.affected_services, String).like(f'%"{_escape_like(wanted)}"%',
                                                                            escape="\\")))
    if cursor:
        after_status, after_started, after_id = _decode_cursor(cursor)
        query = query.where(or_(
            Incident.status > after_status,
            and_(Incident.status == after_status, or_(
                Incident.started_at < after_started,
                and_(Incident.started_at == after_started, Incident.id < after_id)))))
    rows = list(session.scalars(query.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, _encode_cursor([last.status, last.started_at.isoformat(), last.id])


def _escape_like(text: str) -> str:
    return text[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    kind: str      # opened / note / status / resolved / postmortem / check / notification
    text: str
    author: str = ""


def timeline(*, session: Session, incident: Incident, limit: int = 200) -> list[TimelineEntry]:
    """The incident's own events and notes, the endpoint's status changes while it lasted, and the
    notifications sent about it; oldest first, at most `limit` checks' worth."""
    entries = [TimelineEntry(e.at, e.kind, e.text, e.author_name if e.kind == IncidentEventKind.NOTE.value else "")
               for e in incident.events]
    until = incident.ended_at or utcnow()
    query = (select(MonitorEvent).where(MonitorEvent.endpoint_id == incident.endpoint_id,
                                        MonitorEvent.at >= incident.started_at, MonitorEvent.at <= until)
             .order_by(MonitorEvent.at).limit(limit))
    own = {e.at for e in incident.events}  # opened / resolved / status lines already say it
    for event in session.scalars(query):
        if event.at in own:
            continue
        if event.kind == EventKind.STATUS_CHANGE.value:
            text = f"status {event.old_status} → {event.new_status}"
        else:
            text = "check failed"
        if event.message:
            text += f": {event.message}"
        entries.append(TimelineEntry(event.at, "check", text))
    from calcifer.notify import service as notify_service  # notify builds on incidents, not the reverse

    for delivery in notify_service.deliveries_about(session=session, endpoint_slug=incident.endpoint_slug,
                                                    since=incident.started_at, until=until, limit=50):
        entries.append(TimelineEntry(delivery.created_at, "notification",
                                     f"{delivery.kind} to {delivery.channel_name}: {delivery.status}"))
    entries.sort(key=lambda e: e.at)
    return entries


# -- notes ---------------------------------------------------------------------------------------------------

def add_note(*, session: Session, actor: User, incident_id: int, text: str) -> IncidentEvent:
    """Add a person's note to the incident's timeline. Raises NotFound, Invalid (empty or too long)."""
    incident = get_incident(session=session, incident_id=incident_id)
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise Invalid("Write the note first.", details=[{"field": "text", "message": "required"}])
    if len(text) > NOTE_MAX:
        raise Invalid(f"A note holds at most {NOTE_MAX} characters; this one has {len(text)}.",
                      details=[{"field": "text", "message": f"at most {NOTE_MAX} characters"}])
    event = IncidentEvent(at=utcnow(), kind=IncidentEventKind.NOTE.value, text=text, author_id=actor.id,
                          author_name=actor.username)
    incident.events.append(event)
    audit_service.record(session=session, actor=actor, action="incident.note", object_type="incident",
                         object_id=incident.id, summary=f"noted on incident #{incident.id}",
                         after={"text": text[:500]})
    session.commit()
    return event


# -- post-mortem ------------------------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[^a-z0-9-]+")


def postmortem_path(incident: Incident, *, taken: bool = False) -> str:
    name = _SAFE_NAME.sub("-", incident.endpoint_slug.lower()).strip("-") or "endpoint"
    suffix = f"-{incident.id}" if taken else ""
    return f"{POSTMORTEM_DIR}/{incident.started_at.date().isoformat()}-{name}{suffix}.md"


def _cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return text.replace("|", "\\|") if text else "—"


def _time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def postmortem_facts(*, session: Session, incident: Incident) -> str:
    """A markdown section with what Calcifer recorded about the incident (prefills the post-mortem)."""
    related = ", ".join(related_text(entry) for entry in incident.related_work) or "none found"
    lines = [
        "## Incident facts",
        "",
        f"Recorded by Calcifer for incident #{incident.id} (`/incidents/{incident.id}`).",
        "",
        "| | |",
        "|---|---|",
        f"| Endpoint | `{_cell(incident.endpoint_slug)}` |",
        f"| Service | {_cell(incident.service or '')} |",
        f"| Started | {_time(incident.started_at)} |",
        f"| Ended | {_time(incident.ended_at) if incident.ended_at else 'still open when this draft was written'} |",
        f"| Duration | {human_duration(incident.duration())}{'' if incident.ended_at else ' so far'} |",
        f"| Affected services | {_cell(', '.join(incident.affected_services))} |",
        f"| First error | {_cell(incident.message)} |",
        f"| Possibly related work | {_cell(related)} |",
        "",
        "### Timeline recorded by Calcifer",
        "",
        "| Time (UTC) | Event |",
        "|---|---|",
    ]
    for entry in timeline(session=session, incident=incident, limit=100):
        who = f" ({entry.author})" if entry.author else ""
        lines.append(f"| {entry.at.strftime('%Y-%m-%d %H:%M:%S')} | {_cell(entry.kind)}{_cell(who) if who else ''}: "
                     f"{_cell(entry.text)} |")
    return "\n".join(lines) + "\n"


def postmortem_text(*, session: Session, repo_path: Any, actor: User, incident: Incident, item: WorkItem,
                    path: str) -> str:
    """The post-mortem template filled for this incident, with the recorded facts inserted before its
    first section (or at the end)."""
    from calcifer.docs import editing  # docs builds on work and catalog; imported when used

    title = f"{incident.endpoint_slug} down on {incident.started_at.date().isoformat()}"
    try:
        filled = editing.new_doc_text(session=session, repo_path=repo_path, actor=actor,
                                      template=POSTMORTEM_TEMPLATE, path=path, title=title,
                                      service=incident.service, item=item, today=incident.started_at.date())
    except NotFound:  # the service is not in the catalog (any more): fill without it
        filled = editing.new_doc_text(session=session, repo_path=repo_path, actor=actor,
                                      template=POSTMORTEM_TEMPLATE, path=path, title=title, item=item,
                                      today=incident.started_at.date())
    text = filled.text
    duration = (f"from {_time(incident.started_at)} to {_time(incident.ended_at)} "
                f"({human_duration(incident.duration())})")
    text = text.replace("| Duration | from ... to ... (... minutes) |", f"| Duration | {duration} |")
    facts = postmortem_facts(session=session, incident=incident)
    marker = "\n## "
    position = text.find(marker)
    if position == -1:
        return text.rstrip("\n") + "\n\n" + facts
    return text[:position + 1] + facts + "\n" + text[position + 1:]


def start_postmortem(
    *, session: Session, actor: User, incident_id: int, workspace: work.Workspace, categories: list[str],
    item_id: int | None = None,
) -> tuple[Incident, str, int]:
    """Write `docs/postmortems/<date>-<endpoint>.md` from the post-mortem template, prefilled with the
    incident's facts, into work item `item_id` (open) or a new one (category "incident" or
    "documentation" when configured, the incident's service), and commit it with a CHANGES.md entry.

    Returns (incident, doc path, work item id). Raises NotFound, Conflict (the incident has a
    post-mortem already, the work item is not open), Invalid. A work item started here is cancelled
    again when writing fails, so nothing is left half-done.
    """
    from calcifer.docs import editing

    incident = get_incident(session=session, incident_id=incident_id)
    if incident.postmortem_path:
        raise Conflict(f"Incident #{incident.id} has a post-mortem already: {incident.postmortem_path} "
                       f"(work item #{incident.postmortem_work_item_id}).", code="postmortem_exists")
    started_here = False
    if item_id is None:
        category = next((c for c in POSTMORTEM_CATEGORIES if c in categories), categories[0])
        service = incident.service if incident.service and re.match(r"^[a-z0-9][a-z0-9-]{0,99}$",
                                                                    incident.service) else None
        item = work.create_work_item(
            session=session, actor=actor, workspace=workspace, categories=categories,
            data=WorkItemCreate(title=f"Post-mortem: {incident.endpoint_slug} down on "
                                      f"{incident.started_at.date().isoformat()} (incident #{incident.id})",
                                category=category, action=WorkAction.NEW, service=service,
                                description=f"Post-mortem of incident #{incident.id}."))
        started_here = True
    else:
        item = work.get_work_item(session=session, item_id=item_id)
        if item.status not in OPEN_STATUSES:
            raise Conflict(f"Work item #{item.id} is {item.status}; choose an open work item or start one.",
                           code="not_open")
    try:
        worktree = work.worktree_of(item)
        path = postmortem_path(incident)
        if (worktree / path).exists():
            path = postmortem_path(incident, taken=True)
        incident = get_incident(session=session, incident_id=incident_id)
        content = postmortem_text(session=session, repo_path=workspace.repo_path, actor=actor,
                                  incident=incident, item=item, path=path)
        editing.save_doc(session=session, actor=actor, item_id=item.id, path=path, content=content,
                         workspace=workspace, entry_type=ChangeType.ADDED,
                         entry_text=f"Added the post-mortem of incident #{incident.id} ({incident.endpoint_slug} "
                                    f"down on {incident.started_at.date().isoformat()})",
                         message=f"Post-mortem of incident #{incident.id}", create_only=True)
    except (DomainError, OSError):
        if started_here:
            editing.discard_item(session=session, actor=actor, item_id=item.id, workspace=workspace)
        raise
    incident = get_incident(session=session, incident_id=incident_id)
    incident.postmortem_path = path
    incident.postmortem_work_item_id = item.id
    incident.events.append(IncidentEvent(at=utcnow(), kind=IncidentEventKind.POSTMORTEM.value,
                                         text=f"post-mortem started: {path} in work item #{item.id}",
                                         author_id=actor.id, author_name=actor.username))
    audit_service.record(session=session, actor=actor, action="incident.postmortem", object_type="incident",
                         object_id=incident.id, summary=f"started the post-mortem of incident #{incident.id}",
                         after={"path": path, "work_item": item.id})
    session.commit()
    return incident, path, item.id


def postmortem_link(*, session: Session, incident: Incident) -> dict[str, Any] | None:
    """Where the post-mortem is: on its open work item's branch (edit link) or merged on main."""
    if not incident.postmortem_path or incident.postmortem_work_item_id is None:
        return None
    item = work.get_work_items(session=session, ids={incident.postmortem_work_item_id}).get(
        incident.postmortem_work_item_id)
    status = item.status if item else "unknown"
    if status in OPEN_STATUSES:
        url = f"/docs/edit/{incident.postmortem_path}?item={incident.postmortem_work_item_id}"
    else:
        url = f"/docs/view/{incident.postmortem_path}"
    return {"path": incident.postmortem_path, "work_item_id": incident.postmortem_work_item_id,
            "work_item_status": status, "url": url}
