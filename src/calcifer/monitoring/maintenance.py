"""Maintenance windows: times when alerts are held for some endpoints (checks still run and record).

Three kinds: one-off (start, end), recurring (a UTC cron expression and a duration, optionally
bounded by a first start and a last end), and "while work item #N is in progress" (its service's
endpoints). Scope: services and/or endpoints; both empty means every endpoint.

The scheduler asks ``slugs_in_maintenance`` every few seconds, so its answer is cached for a few
seconds per database (and dropped at once when a window or a work item changes in this process).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from croniter import croniter
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.catalog import index as catalog_index
from calcifer.cron import cron_problem
from calcifer.db import utcnow
from calcifer.errors import Conflict, Invalid, NotFound
from calcifer.monitoring.choices import MaintenanceKind
from calcifer.monitoring.models import MaintenanceWindow, MonitorState
from calcifer.monitoring.schemas import WindowCreate
from calcifer.work import service as work
from calcifer.work.choices import OPEN_STATUSES, WorkStatus
from calcifer.work.models import WorkItem

CACHE_SECONDS = 5.0
# -- is a window active? --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=512)
def problem_of(window: MaintenanceWindow) -> str | None:
    """Why a stored window cannot work (None: it can). Validation refuses these on creation, but an older
    version stored some, so everything that reads windows skips the ones with a problem."""
    if window.kind == MaintenanceKind.RECURRING.value:
        if not window.cron:
            return "a recurring window needs a cron expression"
        problem = cron_problem(window.cron)
        if problem is not None:
            return problem
        if not window.duration_minutes or window.duration_minutes < 1:
            return "a recurring window needs a duration"
    elif window.kind == MaintenanceKind.ONE_OFF.value:
        if window.starts_at is None or window.ends_at is None:
            return "a one-off window needs a start and an end"
    elif window.kind != MaintenanceKind.WORK_ITEM.value:
        return f"unknown kind {window.kind!r}"
    return None


def _next_fire(cron: str, after: dt.datetime) -> dt.datetime:
    fire: dt.datetime = croniter(cron, after).get_next(dt.datetime)
    return fire


def _last_fire(cron: str, now: dt.datetime) -> dt.datetime:
    previous: dt.datetime = croniter(cron, now).get_prev(dt.datetime)
    following = _next_fire(cron, previous)
    return following if following <= now else previous  # croniter's get_prev skips a fire at exactly `now`


def is_active(window: MaintenanceWindow, now: dt.datetime, work_status: str | None = None) -> bool:
    """Whether `window` holds alerts at `now` (`work_status`: its work item's status, for that kind).
    A window with a problem (see `problem_of`) is never active."""
    if window.ended_at is not None and window.ended_at <= now:
        return False
    if window.starts_at is not None and now < window.starts_at:
        return False
    if window.ends_at is not None and now >= window.ends_at:
        return False
    if problem_of(window) is not None:
        return False
    if window.kind == MaintenanceKind.ONE_OFF.value:
        return True
    if window.kind == MaintenanceKind.RECURRING.value:
        return bool(window.cron and window.duration_minutes) and now < _last_fire(
            window.cron or "", now) + dt.timedelta(minutes=window.duration_minutes or 0)
    return work_status == WorkStatus.IN_PROGRESS.value


def next_start(window: MaintenanceWindow, now: dt.datetime) -> dt.datetime | None:
    """When a recurring window opens next (None for other kinds, for one with a problem, or when it
    never will again)."""
    if window.kind != MaintenanceKind.RECURRING.value or not window.cron or window.ended_at is not None:
        return None
    if problem_of(window) is not None:
        return None
    start = max(now, window.starts_at) if window.starts_at else now
    upcoming = _next_fire(window.cron, start)
    if window.ends_at is not None and upcoming >= window.ends_at:
        return None
    return upcoming


def state_of(window: MaintenanceWindow, now: dt.datetime, work_status: str | None = None) -> str:
    """active / scheduled / waiting (work item not in progress yet) / ended / invalid (see `problem_of`)."""
    if is_active(window, now, work_status):
        return "active"
    if window.ended_at is not None and window.ended_at <= now:
        return "ended"
    if window.ends_at is not None and now >= window.ends_at:
        return "ended"
    if problem_of(window) is not None:
        return "invalid"
    if window.kind == MaintenanceKind.WORK_ITEM.value:
        return "waiting" if work_status in OPEN_STATUSES else "ended"
    if window.kind == MaintenanceKind.RECURRING.value and next_start(window, now) is None:
        return "ended"
    return "scheduled"


# -- which endpoints ---------------------------------------------------------------------------------------------

def _work_statuses(session: Session, windows: list[MaintenanceWindow]) -> dict[int, WorkItem]:
    ids = {w.work_item_id for w in windows if w.work_item_id is not None}
    return work.get_work_items(session=session, ids=ids) if ids else {}


def _service_endpoints(session: Session, service: str) -> set[str]:
    slugs: set[str] = set()
    cursor: str | None = None
    while True:
        rows, cursor = catalog_index.list_endpoints(session=session, service=service, limit=500, cursor=cursor)
        slugs.update(row.slug for row in rows)
        if cursor is None:
            return slugs


def covered_slugs(session: Session, window: MaintenanceWindow, item: WorkItem | None = None) -> set[str] | None:
    """The endpoint slugs `window` covers; None means every endpoint."""
    services = set(window.services or [])
    if window.kind == MaintenanceKind.WORK_ITEM.value and item is not None and item.service:
        services.add(item.service)
    endpoints = set(window.endpoints or [])
    if not services and not endpoints:
        return None if window.kind != MaintenanceKind.WORK_ITEM.value else set()
    for service in services:
        endpoints |= _service_endpoints(session, service)
    return endpoints


def _all_slugs(session: Session) -> set[str]:
    slugs = set(session.scalars(select(MonitorState.slug)))
    cursor: str | None = None
    while True:  # endpoints not scheduled yet are covered too
        rows, cursor = catalog_index.list_endpoints(session=session, limit=500, cursor=cursor)
        slugs.update(row.slug for row in rows)
        if cursor is None:
            return slugs


def _candidates(session: Session, now: dt.datetime) -> list[MaintenanceWindow]:
    query = select(MaintenanceWindow).where(
        or_(MaintenanceWindow.ended_at.is_(None), MaintenanceWindow.ended_at > now),
        or_(MaintenanceWindow.ends_at.is_(None), MaintenanceWindow.ends_at > now),
        or_(MaintenanceWindow.starts_at.is_(None), MaintenanceWindow.starts_at <= now))
    return list(session.scalars(query.order_by(MaintenanceWindow.id).limit(1000)))


def active_windows(*, session: Session, now: dt.datetime | None = None) -> list[MaintenanceWindow]:
    now = now or utcnow()
    windows = _candidates(session, now)
    items = _work_statuses(session, windows)
    return [w for w in windows
            if is_active(w, now, items[w.work_item_id].status if w.work_item_id in items else None)]


def compute_slugs_in_maintenance(*, session: Session, now: dt.datetime) -> set[str]:
    return _compute(session, now)[0]


def _compute(session: Session, now: dt.datetime) -> tuple[set[str], dt.datetime | None]:
    """The slugs in maintenance at `now`, and the next moment a window opens or closes (None: none known)."""
    windows = _candidates(session, now)
    items = _work_statuses(session, windows)
    changes: list[dt.datetime] = [moment for moment in session.scalars(
        select(MaintenanceWindow.starts_at).where(MaintenanceWindow.ended_at.is_(None),
                                                  MaintenanceWindow.starts_at > now)) if moment is not None]
    slugs: set[str] = set()
    everything = False
    for window in windows:
        changes += [m for m in (window.ends_at, window.ended_at) if m is not None and m > now]
        if problem_of(window) is not None:
            continue
        if window.kind == MaintenanceKind.RECURRING.value and window.cron and window.duration_minutes:
            last = _last_fire(window.cron, now)
            changes += [m for m in (last + dt.timedelta(minutes=window.duration_minutes),
                                    _next_fire(window.cron, now)) if m > now]
        item = items.get(window.work_item_id) if window.work_item_id is not None else None
        if everything or not is_active(window, now, item.status if item else None):
            continue
        covered = covered_slugs(session, window, item)
        if covered is None:
            everything = True
        else:
            slugs |= covered
    if everything:
        slugs = _all_slugs(session)
    return slugs, min(changes) if changes else None


@dataclass
class _Cached:
    computed_at: dt.datetime
    valid_until: dt.datetime
    generation: int
    slugs: frozenset[str]


# Per engine (not per URL: PostgreSQL schemas of one server share a URL); gone with the engine.
_cache: weakref.WeakKeyDictionary[Any, _Cached] = weakref.WeakKeyDictionary()
_generation = 0
_lock = threading.Lock()


def invalidate_cache() -> None:
    global _generation
    with _lock:
        _generation += 1
        _cache.clear()


def slugs_in_maintenance(session: Session, now: dt.datetime) -> set[str]:
    """The endpoint slugs whose alerts are held at `now` (cached a few seconds per database, never past
    the next moment a window opens or closes)."""
    key = session.get_bind().engine
    with _lock:
        cached = _cache.get(key)
        generation = _generation
    if cached is not None and cached.generation == generation and cached.computed_at <= now < cached.valid_until:
        return set(cached.slugs)
    slugs, next_change = _compute(session, now)
    valid_until = now + dt.timedelta(seconds=CACHE_SECONDS)
    if next_change is not None:
        valid_until = min(valid_until, next_change)  # a window opening or closing is seen at once
    with _lock:
        if generation == _generation:
            _cache[key] = _Cached(now, valid_until, generation, frozenset(slugs))
    return slugs


def work_item_changed(*, session: Session, item: WorkItem) -> None:
    # A work-item window opens and closes with its work item's status.
    invalidate_cache()


# -- create, end, list ---------------------------------------------------------------------------------------

def _problems(session: Session, data: WindowCreate) -> tuple[list[dict[str, str]], WorkItem | None]:
    problems: list[dict[str, str]] = []
    item: WorkItem | None = None
    if data.kind == MaintenanceKind.ONE_OFF:
        if data.starts_at is None or data.ends_at is None:
            problems.append({"field": "starts_at", "message": "a one-off window needs a start and an end"})
    if data.starts_at is not None and data.ends_at is not None and data.ends_at <= data.starts_at:
        problems.append({"field": "ends_at", "message": "the end must be after the start"})
    if data.kind == MaintenanceKind.RECURRING:
        cron_message = cron_problem(data.cron) if data.cron and data.cron.strip() else (
            "a recurring window needs a cron expression (5 fields, UTC), e.g. 0 2 * * 0")
        if cron_message is not None:
            problems.append({"field": "cron", "message": cron_message})
        if not data.duration_minutes:
            problems.append({"field": "duration_minutes", "message": "a recurring window needs a duration"})
    if data.kind == MaintenanceKind.WORK_ITEM:
        if data.work_item_id is None:
            problems.append({"field": "work_item_id", "message": "choose the work item"})
        else:
            item = work.get_work_items(session=session, ids={data.work_item_id}).get(data.work_item_id)
            if item is None:
                problems.append({"field": "work_item_id", "message": f"no work item #{data.work_item_id}"})
            elif item.status not in OPEN_STATUSES:
                problems.append({"field": "work_item_id", "message": f"work item #{item.id} is {item.status}"})
            elif not item.service and not data.services and not data.endpoints:
                problems.append({"field": "work_item_id", "message": f"work item #{item.id} has no service: "
                                                                     "choose services or endpoints"})
    for slug in data.services:
        try:
            catalog_index.get_service(session=session, slug=slug)
        except NotFound:
            problems.append({"field": "services", "message": f"no service {slug!r} in the catalog"})
    for slug in data.endpoints:
        try:
            catalog_index.get_endpoint(session=session, slug=slug)
        except NotFound:
            problems.append({"field": "endpoints", "message": f"no endpoint {slug!r} in the catalog"})
    return problems, item


def snapshot(window: MaintenanceWindow) -> dict[str, Any]:
    return {"title": window.title, "kind": window.kind,
            "starts_at": window.starts_at.isoformat() if window.starts_at else None,
            "ends_at": window.ends_at.isoformat() if window.ends_at else None, "cron": window.cron,
            "duration_minutes": window.duration_minutes, "work_item_id": window.work_item_id,
            "services": window.services, "endpoints": window.endpoints,
            "ended_at": window.ended_at.isoformat() if window.ended_at else None}


def create_window(*, session: Session, actor: User, data: WindowCreate) -> MaintenanceWindow:
    """Create a maintenance window. Raises Invalid listing every problem with the input."""
    problems, _ = _problems(session, data)
    if problems:
        raise Invalid("The maintenance window is not valid: " + "; ".join(p["message"] for p in problems) + ".",
                      details=problems)
    window = MaintenanceWindow(
        title=" ".join(data.title.split())[:200], description=data.description.strip(), kind=data.kind.value,
        starts_at=data.starts_at, ends_at=data.ends_at,
        cron=data.cron.strip() if data.kind == MaintenanceKind.RECURRING and data.cron else None,
        duration_minutes=data.duration_minutes if data.kind == MaintenanceKind.RECURRING else None,
        work_item_id=data.work_item_id if data.kind == MaintenanceKind.WORK_ITEM else None,
        services=list(data.services), endpoints=list(data.endpoints), created_by_name=actor.username)
    session.add(window)
    session.flush()
    audit_service.record(session=session, actor=actor, action="maintenance.create", object_type="maintenance",
                         object_id=window.id, summary=f"created maintenance window #{window.id} {window.title}",
                         after=snapshot(window))
    session.commit()
    invalidate_cache()
    return window


def end_window(*, session: Session, actor: User, window_id: int, now: dt.datetime | None = None) -> MaintenanceWindow:
    """End the window now (a scheduled one is cancelled). Raises NotFound, Conflict when already over."""
    window = get_window(session=session, window_id=window_id)
    now = now or utcnow()
    item = _work_statuses(session, [window]).get(window.work_item_id or -1)
    if state_of(window, now, item.status if item else None) == "ended":
        raise Conflict(f"Maintenance window #{window.id} is over already.", code="already_ended")
    before = snapshot(window)
    window.ended_at = now
    audit_service.record(session=session, actor=actor, action="maintenance.end", object_type="maintenance",
                         object_id=window.id, summary=f"ended maintenance window #{window.id}", before=before,
                         after=snapshot(window))
    session.commit()
    invalidate_cache()
    return window


def get_window(*, session: Session, window_id: int) -> MaintenanceWindow:
    window = session.get(MaintenanceWindow, window_id)
    if window is None:
        raise NotFound(f"No maintenance window #{window_id}.")
    return window


def list_windows(*, session: Session, include_ended: bool = True, limit: int = 100,
                 before_id: int | None = None) -> list[MaintenanceWindow]:
    """Newest first, keyset-paginated by id; without `include_ended` only those not ended by hand."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc()).limit(max(1, min(limit, 500)))
    if not include_ended:
        query = query.where(MaintenanceWindow.ended_at.is_(None))
    if before_id is not None:
        query = query.where(MaintenanceWindow.id < before_id)
    return list(session.scalars(query))


def describe(*, session: Session, windows: list[MaintenanceWindow],
             now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Windows as plain data with their state now, the next start of recurring ones, and the work item."""
    now = now or utcnow()
    items = _work_statuses(session, windows)
    out = []
    for window in windows:
        item = items.get(window.work_item_id) if window.work_item_id is not None else None
        upcoming = next_start(window, now)
        out.append({
            "id": window.id, "title": window.title, "description": window.description, "kind": window.kind,
            "starts_at": window.starts_at.isoformat() if window.starts_at else None,
            "ends_at": window.ends_at.isoformat() if window.ends_at else None,
            "cron": window.cron, "duration_minutes": window.duration_minutes,
            "work_item_id": window.work_item_id, "work_item_title": item.title if item else None,
            "work_item_status": item.status if item else None,
            "work_item_service": item.service if item else None,
            "services": window.services, "endpoints": window.endpoints,
            "everything": not window.services and not window.endpoints
            and window.kind != MaintenanceKind.WORK_ITEM.value,
            "state": state_of(window, now, item.status if item else None),
            "problem": problem_of(window),
            "next_start": upcoming.isoformat() if upcoming else None,
            "ended_at": window.ended_at.isoformat() if window.ended_at else None,
            "created_by": window.created_by_name, "created_at": window.created_at.isoformat(),
        })
    return out
