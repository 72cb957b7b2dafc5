"""Monitoring read side: every query the pages, the JSON API, ``/metrics`` and the status page make.

Endpoints come from the catalog index (``catalog_endpoints``), their live state from ``monitor_states``
(joined by slug). Uptime is computed from ``monitor_hourly`` only — never from raw results — so any
range costs at most one row per endpoint and hour. Checks made during maintenance are counted apart
(``monitor_hourly.maintenance_checks``/``maintenance_failures``, not included in ``checks``/``failures``):
the uptime people see leaves them out and they are reported beside it.

Functions are keyword-only and take the session explicitly; they raise ``NotFound``/``Invalid``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.catalog.models import CatalogEndpoint, CatalogService, CatalogTag
from calcifer.errors import Invalid, NotFound
from calcifer.listing import decode_cursor, encode_cursor, like_pattern
from calcifer.monitoring import hooks
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models import MonitorEvent, MonitorHourly, MonitorResult, MonitorState

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_LIMIT = 500
# Worst first: a service's status is the worst of its endpoints'.
SEVERITY = {Status.DOWN: 4, Status.DEGRADED: 3, Status.UNKNOWN: 2, Status.UP: 1, Status.PAUSED: 0}
STATUS_ORDER = [Status.DOWN, Status.DEGRADED, Status.UP, Status.PAUSED, Status.UNKNOWN]

UPTIME_WINDOWS: dict[str, int] = {"24h": 24, "7d": 24 * 7, "30d": 24 * 30, "365d": 24 * 365}  # hours
CHART_RANGES: dict[str, dt.timedelta] = {
    "1h": dt.timedelta(hours=1), "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30),
}
RAW_LIMIT = dt.timedelta(hours=48)   # ranges up to this come from raw results, beyond from hourly rows
CHART_BUCKETS = 240                  # raw results are averaged into at most this many points
BAR_DAYS = 90
HEARTBEATS = 30                      # checks in each /monitoring row's heartbeat strip, oldest first


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def floor_hour(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def epoch_ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


# -- cursors ---------------------------------------------------------------------------------------------

def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


# -- uptime -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Uptime:
    """Counts over a range, as ``monitor_hourly`` keeps them: ``checks``/``failures`` are the checks made
    outside maintenance, ``maintenance_checks``/``maintenance_failures`` the ones made during it.
    ``ratio`` (None: no checks) counts only the former; ``maintenance_ratio`` only the latter."""

    checks: int = 0
    failures: int = 0
    maintenance_checks: int = 0
    maintenance_failures: int = 0

    @property
    def counted(self) -> int:
        return self.checks

    @property
    def ratio(self) -> float | None:
        if self.checks <= 0:
            return None
        return max(0.0, 1.0 - self.failures / self.checks)

    @property
    def maintenance_ratio(self) -> float | None:
        if self.maintenance_checks <= 0:
            return None
        return max(0.0, 1.0 - self.maintenance_failures / self.maintenance_checks)

    def __add__(self, other: Uptime) -> Uptime:
        return Uptime(self.checks + other.checks, self.failures + other.failures,
                      self.maintenance_checks + other.maintenance_checks,
                      self.maintenance_failures + other.maintenance_failures)

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "percent": None if self.ratio is None else round(self.ratio * 100, 3),
                "checks": self.checks, "failures": self.failures,
                "maintenance": {"checks": self.maintenance_checks, "failures": self.maintenance_failures,
                                "ratio": self.maintenance_ratio}}


def window_start(now: dt.datetime, hours: int) -> dt.datetime:
    """The first hourly bucket of the last ``hours`` hours (the current, partial hour included)."""
    return floor_hour(now) - dt.timedelta(hours=hours - 1)


def uptime_windows(
    *, session: Session, endpoint_ids: list[int], windows: list[str], now: dt.datetime | None = None,
) -> dict[int, dict[str, Uptime]]:
    """Uptime of each endpoint (``monitor_states.id``) over each named window (``UPTIME_WINDOWS``), in one
    grouped query on ``monitor_hourly``. Endpoints with no hourly rows get empty ``Uptime``s."""
    now = now or utcnow()
    if not endpoint_ids or not windows:
        return {i: {w: Uptime() for w in windows} for i in endpoint_ids}
    starts = {w: window_start(now, UPTIME_WINDOWS[w]) for w in windows}
    earliest = min(starts.values())
    columns: list[Any] = [MonitorHourly.endpoint_id]
    for w in windows:
        inside = MonitorHourly.hour >= starts[w]
        for name in ("checks", "failures", "maintenance_checks", "maintenance_failures"):
            column = getattr(MonitorHourly, name)
            expr = column if starts[w] == earliest else case((inside, column), else_=0)
            columns.append(func.coalesce(func.sum(expr), 0))
    query = (select(*columns).where(MonitorHourly.endpoint_id.in_(endpoint_ids), MonitorHourly.hour >= earliest)
             .group_by(MonitorHourly.endpoint_id))
    result = {i: {w: Uptime() for w in windows} for i in endpoint_ids}
    for row in session.execute(query):
        values = [int(v or 0) for v in row[1:]]
        result[row[0]] = {w: Uptime(*values[4 * n:4 * n + 4]) for n, w in enumerate(windows)}
    return result


def uptime(*, session: Session, endpoint_ids: list[int], since: dt.datetime) -> dict[int, float | None]:
    """Uptime ratio (0..1, maintenance left out) per endpoint id (``monitor_states.id``) since ``since``,
    from ``monitor_hourly`` (the hour holding ``since`` counts whole). None: no check in that range."""
    if not endpoint_ids:
        return {}
    query = (select(MonitorHourly.endpoint_id, func.sum(MonitorHourly.checks), func.sum(MonitorHourly.failures),
                    func.sum(MonitorHourly.maintenance_checks), func.sum(MonitorHourly.maintenance_failures))
             .where(MonitorHourly.endpoint_id.in_(endpoint_ids), MonitorHourly.hour >= floor_hour(since))
             .group_by(MonitorHourly.endpoint_id))
    result: dict[int, float | None] = dict.fromkeys(endpoint_ids)
    for endpoint_id, checks, failures, m_checks, m_failures in session.execute(query):
        result[endpoint_id] = Uptime(int(checks or 0), int(failures or 0), int(m_checks or 0),
                                     int(m_failures or 0)).ratio
    return result


# -- the endpoints list -----------------------------------------------------------------------------------

def status_expr() -> ColumnElement[str]:
    """The status people see: paused when disabled in the catalog or paused by hand, else the state's."""
    return case(
        (CatalogEndpoint.enabled.is_(False), literal(Status.PAUSED.value)),
        (MonitorState.paused.is_(True), literal(Status.PAUSED.value)),
        else_=func.coalesce(MonitorState.status, literal(Status.UNKNOWN.value)),
    )


@dataclass(slots=True)
class EndpointRow:
    slug: str
    name: str
    service: str | None
    type: str
    target: str | None
    port: int | None
    interval: int
    enabled: bool
    state_id: int | None
    status: str
    message: str
    last_checked_at: dt.datetime | None
    next_due_at: dt.datetime | None
    latency_ms: float | None
    paused: bool
    in_maintenance: bool
    cert_days_left: float | None
    status_since: dt.datetime | None
    uptime: dict[str, Uptime] = field(default_factory=dict)
    heartbeats: list[Heartbeat] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug, "name": self.name, "service": self.service, "type": self.type,
            "target": self.target, "port": self.port, "interval": self.interval, "enabled": self.enabled,
            "status": self.status, "message": self.message, "status_since": _iso(self.status_since),
            "last_checked_at": _iso(self.last_checked_at), "next_due_at": _iso(self.next_due_at),
            "latency_ms": self.latency_ms, "paused": self.paused, "in_maintenance": self.in_maintenance,
            "cert_days_left": self.cert_days_left,
            "uptime": {w: u.as_dict() for w, u in self.uptime.items()},
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


_ROW_COLUMNS = (
    CatalogEndpoint.slug, CatalogEndpoint.name, CatalogEndpoint.service, CatalogEndpoint.type,
    CatalogEndpoint.target, CatalogEndpoint.port, CatalogEndpoint.interval, CatalogEndpoint.enabled,
    MonitorState.id, status_expr(), MonitorState.message, MonitorState.last_checked_at,
    MonitorState.next_due_at, MonitorState.latency_ms, MonitorState.paused, MonitorState.in_maintenance,
    MonitorState.cert_days_left, MonitorState.status_since,
)


def _row(values: Any) -> EndpointRow:
    (slug, name, service, type_, target, port, interval, enabled, state_id, status, message, last, due,
     latency, paused, maintenance, cert_days, since) = values
    return EndpointRow(slug=slug, name=name, service=service, type=type_, target=target, port=port,
                       interval=interval, enabled=bool(enabled), state_id=state_id, status=status,
                       message=message or "", last_checked_at=last, next_due_at=due, latency_ms=latency,
                       paused=bool(paused), in_maintenance=bool(maintenance), cert_days_left=cert_days,
                       status_since=since)


def _joined() -> Any:
    return select(*_ROW_COLUMNS).select_from(CatalogEndpoint).outerjoin(
        MonitorState, MonitorState.slug == CatalogEndpoint.slug)


def _filters(*, service: str | None, tag: str | None, q: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if service:
        where.append(CatalogEndpoint.service == service)
    if tag:
        where.append(CatalogEndpoint.service.in_(select(CatalogTag.service_slug).where(CatalogTag.tag == tag)))
    if q and q.strip():
        like = like_pattern(q)
        where.append(or_(CatalogEndpoint.name.ilike(like, escape="\\"),
                         CatalogEndpoint.slug.ilike(like, escape="\\"),
                         CatalogEndpoint.target.ilike(like, escape="\\")))
    return where


def check_status(status: str | None) -> str | None:
    if not status:
        return None
    try:
        return Status(status).value
    except ValueError as exc:
        raise Invalid(f"Unknown status {status!r}; use one of {', '.join(s.value for s in Status)}.",
                      code="bad_status") from exc


@dataclass(slots=True)
class EndpointPage:
    rows: list[EndpointRow]
    next_cursor: str | None
    counts: dict[str, int]     # per status, under the same filters except status
    total: int                 # endpoints under the same filters except status
    prev_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """One check in a heartbeat strip: when, its status as shown (up/degraded/down) and its latency."""

    at: dt.datetime
    status: str
    latency_ms: float | None
    in_maintenance: bool


def recent_heartbeats(*, session: Session, endpoint_ids: list[int],
                      per_endpoint: int = HEARTBEATS) -> dict[int, list[Heartbeat]]:
    """The last ``per_endpoint`` raw results of each endpoint id, oldest first, in ONE query whatever the
    number of ids (a /monitoring page is one round trip, not one per row). Endpoints without results
    are absent.

    Each endpoint's cut-off time (its ``per_endpoint``-th newest result) comes from an index seek on
    ``(endpoint_id, checked_at_ms)``; the outer join then reads only the rows after it, so the cost
    follows the strip's size, not the raw retention (a window function would number every kept row)."""
    if not endpoint_ids or per_endpoint < 1:
        return {}
    inner = MonitorResult.__table__.alias("newer")
    cutoff = (select(inner.c.checked_at_ms).where(inner.c.endpoint_id == MonitorState.id)
              .order_by(inner.c.checked_at_ms.desc()).limit(1).offset(per_endpoint - 1)
              .correlate(MonitorState).scalar_subquery())
    edges = (select(MonitorState.id.label("endpoint_id"), func.coalesce(cutoff, 0).label("cutoff"))
             .where(MonitorState.id.in_(endpoint_ids)).subquery())
    query = (select(MonitorResult.endpoint_id, MonitorResult.checked_at_ms, MonitorResult.status,
                    MonitorResult.latency_ms, MonitorResult.in_maintenance)
             .join(edges, and_(MonitorResult.endpoint_id == edges.c.endpoint_id,
                               MonitorResult.checked_at_ms >= edges.c.cutoff))
             .order_by(MonitorResult.endpoint_id, MonitorResult.checked_at_ms, MonitorResult.id))
    found: dict[int, list[Heartbeat]] = defaultdict(list)
    for endpoint_id, at_ms, code, latency, maintenance in session.execute(query):
        found[int(endpoint_id)].append(Heartbeat(at=dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC),
                                                 status=ResultCode(code).status.value, latency_ms=latency,
                                                 in_maintenance=bool(maintenance)))
    # Results sharing the cut-off millisecond can overshoot: keep the newest per_endpoint.
    return {endpoint_id: beats[-per_endpoint:] for endpoint_id, beats in found.items()}


def list_endpoints(
    *, session: Session, service: str | None = None, tag: str | None = None, status: str | None = None,
    q: str | None = None, limit: int = PAGE_SIZE, cursor: str | None = None, before: str | None = None,
    windows: tuple[str, ...] = ("24h", "30d"), now: dt.datetime | None = None, with_counts: bool = True,
    heartbeats: int = 0,
) -> EndpointPage:
    """A page of endpoints by slug with their live state and uptime over ``windows``.

    Filters: ``service`` slug, ``tag`` (of the endpoint's service), ``status`` (as shown: paused covers
    disabled and paused-by-hand), ``q`` (name, slug or target). ``cursor`` pages forward (the page's
    ``next_cursor``), ``before`` backward (its ``prev_cursor``). Uptime is one grouped query for the
    page's rows only; so is the heartbeat strip (the last ``heartbeats`` checks of each row, none when 0).
    Raises Invalid for an unknown status or a foreign cursor.
    """
    status = check_status(status)
    limit = _clamp(limit)
    where = _filters(service=service, tag=tag, q=q)
    query = _joined().where(*where)
    if status:
        query = query.where(status_expr() == status)
    next_cursor = prev_cursor = None
    if before and not cursor:
        (until,) = decode_cursor(before, 1)
        query = query.where(CatalogEndpoint.slug < str(until))
        rows = [_row(r) for r in session.execute(query.order_by(CatalogEndpoint.slug.desc()).limit(limit + 1))]
        more_before = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        if rows:
            next_cursor = encode_cursor([rows[-1].slug])
            prev_cursor = encode_cursor([rows[0].slug]) if more_before else None
    else:
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            query = query.where(CatalogEndpoint.slug > str(after))
        rows = [_row(r) for r in session.execute(query.order_by(CatalogEndpoint.slug).limit(limit + 1))]
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor([rows[-1].slug])
        if cursor and rows:
            prev_cursor = encode_cursor([rows[0].slug])
    ids = [r.state_id for r in rows if r.state_id is not None]
    figures = uptime_windows(session=session, endpoint_ids=ids, windows=list(windows), now=now)
    for row in rows:
        row.uptime = figures.get(row.state_id, {w: Uptime() for w in windows}) if row.state_id else {
            w: Uptime() for w in windows}
    if heartbeats:
        strips = recent_heartbeats(session=session, endpoint_ids=ids, per_endpoint=heartbeats)
        for row in rows:
            row.heartbeats = strips.get(row.state_id, []) if row.state_id is not None else []
    counts: dict[str, int] = {}
    if with_counts:
        counts = count_by_status(session=session, where=where)
    return EndpointPage(rows=rows, next_cursor=next_cursor, counts=counts, total=sum(counts.values()),
                        prev_cursor=prev_cursor)


def count_by_status(*, session: Session, where: list[ColumnElement[bool]] | None = None) -> dict[str, int]:
    """Endpoints per shown status (every status present, zeros included)."""
    expr = status_expr()
    query = (select(expr, func.count()).select_from(CatalogEndpoint)
             .outerjoin(MonitorState, MonitorState.slug == CatalogEndpoint.slug)
             .where(*(where or [])).group_by(expr))
    counts = {s.value: 0 for s in STATUS_ORDER}
    for value, count in session.execute(query):
        counts[str(value)] = counts.get(str(value), 0) + int(count)
    return counts


def service_slugs_with_endpoints(*, session: Session) -> list[str]:
    return [s for s in session.scalars(select(CatalogEndpoint.service).where(CatalogEndpoint.service.is_not(None))
                                       .distinct().order_by(CatalogEndpoint.service)) if s]


def all_tags(*, session: Session) -> list[str]:
    return list(session.scalars(select(CatalogTag.tag).distinct().order_by(CatalogTag.tag)))


# -- one endpoint -----------------------------------------------------------------------------------------

def get_row(*, session: Session, slug: str) -> EndpointRow:
    """The endpoint with its live state. Raises NotFound when the catalog has no such endpoint."""
    found = session.execute(_joined().where(CatalogEndpoint.slug == slug)).first()
    if found is None:
        raise NotFound(f"No endpoint {slug!r} in the catalog.")
    return _row(found)


def get_state(*, session: Session, slug: str) -> MonitorState | None:
    return session.scalars(select(MonitorState).where(MonitorState.slug == slug)).first()


@dataclass(slots=True)
class Certificate:
    subject: str
    issuer: str
    expires_at: dt.datetime | None
    days_left: float | None
    sans: list[str]
    serial: str

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "issuer": self.issuer, "expires_at": _iso(self.expires_at),
                "days_left": self.days_left, "sans": self.sans, "serial": self.serial}


def certificate(state: MonitorState | None, *, now: dt.datetime | None = None) -> Certificate | None:
    """The certificate last seen on the endpoint (HTTPS checks), or None."""
    if state is None or (state.cert_info is None and state.cert_expires_at is None):
        return None
    info = state.cert_info or {}
    expires = state.cert_expires_at
    if expires is None and info.get("not_after"):
        try:
            expires = dt.datetime.fromisoformat(str(info["not_after"]))
            expires = expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)
        except ValueError:
            expires = None
    days = state.cert_days_left
    if days is None and expires is not None:
        days = round((expires - (now or utcnow())).total_seconds() / 86400, 1)
    sans = info.get("sans") or []
    return Certificate(subject=str(info.get("subject", "")), issuer=str(info.get("issuer", "")),
                       expires_at=expires, days_left=days,
                       sans=[str(s) for s in sans] if isinstance(sans, list) else [str(sans)],
                       serial=str(info.get("serial", "")))


def recent_events(*, session: Session, endpoint_id: int | None, limit: int = 20,
                  cursor: str | None = None) -> tuple[list[MonitorEvent], str | None]:
    """Newest first: status changes and failures of one endpoint, a page at a time (cursor: the last
    event's time and id). Raises Invalid for a foreign cursor."""
    limit = _clamp(limit)
    if endpoint_id is None:
        return [], None
    query = select(MonitorEvent).where(MonitorEvent.endpoint_id == endpoint_id)
    if cursor:
        at_text, event_id = decode_cursor(cursor, 2)
        try:
            at, event_id = dt.datetime.fromisoformat(str(at_text)), int(event_id)
        except (TypeError, ValueError) as exc:
            raise Invalid("The cursor is not one this list gave out; start again without it.",
                          code="bad_cursor") from exc
        query = query.where(or_(MonitorEvent.at < at, and_(MonitorEvent.at == at, MonitorEvent.id < event_id)))
    rows = list(session.scalars(query.order_by(MonitorEvent.at.desc(), MonitorEvent.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].at.isoformat(), rows[-1].id])


# -- response-time series ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Point:
    at: dt.datetime
    avg: float | None
    min: float | None
    max: float | None
    checks: int
    failures: int

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "avg_ms": self.avg, "min_ms": self.min, "max_ms": self.max,
                "checks": self.checks, "failures": self.failures}


@dataclass(slots=True)
class Series:
    range: str
    start: dt.datetime
    end: dt.datetime
    source: str              # "raw" or "hourly"
    bucket_seconds: int
    points: list[Point]

    def as_dict(self) -> dict[str, Any]:
        return {"range": self.range, "start": self.start.isoformat(), "end": self.end.isoformat(),
                "source": self.source, "bucket_seconds": self.bucket_seconds,
                "points": [p.as_dict() for p in self.points]}


def check_range(value: str | None) -> str:
    key = value or "24h"
    if key not in CHART_RANGES:
        raise Invalid(f"Unknown range {key!r}; use one of {', '.join(CHART_RANGES)}.", code="bad_range")
    return key


def fitting_range(*, session: Session, endpoint_id: int | None, now: dt.datetime | None = None) -> str:
    """The smallest chart range that shows all of an endpoint's history (the largest when it is older):
    an endpoint checked for twenty minutes opens on its last hour, not on a nearly empty month. An endpoint
    never checked gets the smallest. Two indexed MIN lookups."""
    smallest, largest = next(iter(CHART_RANGES)), list(CHART_RANGES)[-1]
    if endpoint_id is None:
        return smallest
    now = now or utcnow()
    first_ms = session.scalar(select(func.min(MonitorResult.checked_at_ms))
                              .where(MonitorResult.endpoint_id == endpoint_id))
    first_hour = session.scalar(select(func.min(MonitorHourly.hour)).where(MonitorHourly.endpoint_id == endpoint_id))
    first_raw = dt.datetime.fromtimestamp(first_ms / 1000, dt.UTC) if first_ms is not None else None
    # Raw results are exact but kept only for days; an hourly row older than their first hour means the
    # history goes back further than they do.
    if first_raw is not None and (first_hour is None or first_hour >= floor_hour(first_raw)):
        oldest = first_raw
    elif first_hour is not None:
        oldest = first_hour
    else:
        return smallest
    age = now - oldest
    return next((key for key, span in CHART_RANGES.items() if span >= age), largest)


def response_times(*, session: Session, endpoint_id: int | None, range_key: str = "24h",
                   now: dt.datetime | None = None) -> Series:
    """Latency over a range: raw results averaged into at most ``CHART_BUCKETS`` points for ranges up to
    48 hours, hourly aggregates beyond. Raises Invalid for an unknown range."""
    range_key = check_range(range_key)
    now = now or utcnow()
    span = CHART_RANGES[range_key]
    start = now - span
    if endpoint_id is None:
        return Series(range_key, start, now, "raw", 0, [])
    if span <= RAW_LIMIT:
        bucket_ms = max(int(span.total_seconds() * 1000) // CHART_BUCKETS, 1000)
        start_ms = epoch_ms(start)
        bucket = (MonitorResult.checked_at_ms - start_ms) // bucket_ms  # integer division on both engines
        down = case((MonitorResult.status == int(ResultCode.DOWN), 1), else_=0)
        query = (select(bucket.label("b"), func.avg(MonitorResult.latency_ms), func.min(MonitorResult.latency_ms),
                        func.max(MonitorResult.latency_ms), func.count(), func.sum(down))
                 .where(MonitorResult.endpoint_id == endpoint_id, MonitorResult.checked_at_ms >= start_ms,
                        MonitorResult.checked_at_ms <= epoch_ms(now))
                 .group_by("b").order_by("b"))
        points = [Point(at=start + dt.timedelta(milliseconds=int(b) * bucket_ms + bucket_ms // 2),
                        avg=_float(avg), min=_float(lo), max=_float(hi), checks=int(n), failures=int(f or 0))
                  for b, avg, lo, hi, n, f in session.execute(query)]
        return Series(range_key, start, now, "raw", bucket_ms // 1000, points)
    query = (select(MonitorHourly.hour, MonitorHourly.latency_avg, MonitorHourly.latency_min,
                    MonitorHourly.latency_max, MonitorHourly.checks, MonitorHourly.failures)
             .where(MonitorHourly.endpoint_id == endpoint_id, MonitorHourly.hour >= floor_hour(start))
             .order_by(MonitorHourly.hour))
    points = [Point(at=hour + dt.timedelta(minutes=30), avg=_float(avg), min=_float(lo), max=_float(hi),
                    checks=int(n or 0), failures=int(f or 0)) for hour, avg, lo, hi, n, f in session.execute(query)]
    return Series(range_key, start, now, "hourly", 3600, points)


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def raw_results(*, session: Session, endpoint_id: int | None, since: dt.datetime, until: dt.datetime,
                limit: int = 100, cursor: str | None = None) -> tuple[list[MonitorResult], str | None]:
    """Raw results in ``[since, until]``, newest first, a page at a time (cursor: the last (ms, id))."""
    limit = _clamp(limit)
    if endpoint_id is None:
        return [], None
    query = select(MonitorResult).where(MonitorResult.endpoint_id == endpoint_id,
                                        MonitorResult.checked_at_ms >= epoch_ms(since),
                                        MonitorResult.checked_at_ms <= epoch_ms(until))
    if cursor:
        at_ms, row_id = decode_cursor(cursor, 2)
        try:
            at_ms, row_id = int(at_ms), int(row_id)
        except (TypeError, ValueError) as exc:
            raise Invalid("The cursor is not one this list gave out; start again without it.",
                          code="bad_cursor") from exc
        query = query.where(or_(MonitorResult.checked_at_ms < at_ms,
                                and_(MonitorResult.checked_at_ms == at_ms, MonitorResult.id < row_id)))
    rows = list(session.scalars(query.order_by(MonitorResult.checked_at_ms.desc(), MonitorResult.id.desc())
                                .limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].checked_at_ms, rows[-1].id])


# -- 90-day bars --------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Day:
    date: dt.date
    uptime: Uptime
    degraded: int = 0

    @property
    def status(self) -> str:
        """none (no data), up, degraded (some failures or slow), down (mostly failing), maintenance."""
        ratio = self.uptime.ratio
        if ratio is None:
            return "maintenance" if self.uptime.maintenance_checks else "none"
        if ratio >= 0.999 and not self.degraded:
            return "up"
        if ratio >= 0.95:
            return "degraded"
        return "down"

    @property
    def title(self) -> str:
        ratio = self.uptime.ratio
        text = self.date.isoformat() + ": " + ("no data" if ratio is None and not self.uptime.maintenance_checks
                                               else "in maintenance only" if ratio is None
                                               else f"{ratio * 100:.2f}% up")
        if self.uptime.failures:
            text += f", {self.uptime.failures} failed checks"
        if self.uptime.maintenance_checks:
            text += f", {self.uptime.maintenance_checks} checks in maintenance"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "status": self.status, **self.uptime.as_dict(),
                "degraded": self.degraded}


def _day_expr(session: Session) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(MonitorHourly.hour, 1, 10)   # stored as 'YYYY-MM-DD HH:MM:SS' in UTC
    return func.to_char(func.timezone("UTC", MonitorHourly.hour), "YYYY-MM-DD")


def _bar_dates(now: dt.datetime | None, days: int) -> list[dt.date]:
    today = (now or utcnow()).astimezone(dt.UTC).date()
    return [today - dt.timedelta(days=days - 1 - n) for n in range(days)]


def _bars(session: Session, key: Any, where: list[ColumnElement[bool]], dates: list[dt.date],
          join_catalog: bool) -> dict[Any, dict[str, Day]]:
    day = _day_expr(session).label("day")
    query = select(key, day, func.sum(MonitorHourly.checks), func.sum(MonitorHourly.failures),
                   func.sum(MonitorHourly.maintenance_checks), func.sum(MonitorHourly.maintenance_failures),
                   func.sum(MonitorHourly.degraded))
    if join_catalog:
        query = (query.select_from(MonitorHourly).join(MonitorState, MonitorState.id == MonitorHourly.endpoint_id)
                 .join(CatalogEndpoint, CatalogEndpoint.slug == MonitorState.slug))
    query = query.where(*where, MonitorHourly.hour >= dt.datetime.combine(dates[0], dt.time(), tzinfo=dt.UTC))
    found: dict[Any, dict[str, Day]] = defaultdict(dict)
    for owner, day_text, checks, failures, m_checks, m_failures, degraded in session.execute(
            query.group_by(key, day)):
        date = dt.date.fromisoformat(str(day_text)[:10])
        found[owner][date.isoformat()] = Day(date, Uptime(int(checks or 0), int(failures or 0), int(m_checks or 0),
                                                          int(m_failures or 0)), int(degraded or 0))
    return found


def daily_bars(*, session: Session, endpoint_ids: list[int], days: int = BAR_DAYS,
               now: dt.datetime | None = None) -> dict[int, list[Day]]:
    """Per endpoint id, one ``Day`` per UTC day of the last ``days`` days (oldest first, today last),
    summed from ``monitor_hourly`` in one grouped query."""
    if not endpoint_ids:
        return {}
    dates = _bar_dates(now, days)
    found = _bars(session, MonitorHourly.endpoint_id, [MonitorHourly.endpoint_id.in_(endpoint_ids)], dates, False)
    return {i: [found[i].get(d.isoformat(), Day(d, Uptime())) for d in dates] for i in endpoint_ids}


def service_bars(*, session: Session, services: list[str], days: int = BAR_DAYS,
                 now: dt.datetime | None = None) -> dict[str, list[Day]]:
    """Per service slug, its endpoints' days summed (one grouped query: services x days rows)."""
    if not services:
        return {}
    dates = _bar_dates(now, days)
    found = _bars(session, CatalogEndpoint.service, [CatalogEndpoint.service.in_(services)], dates, True)
    return {s: [found[s].get(d.isoformat(), Day(d, Uptime())) for d in dates] for s in services}


def combine_days(series: list[list[Day]], *, days: int = BAR_DAYS, now: dt.datetime | None = None) -> list[Day]:
    """Several endpoints' bars summed per day (a service's bar)."""
    if not series:
        today = (now or utcnow()).astimezone(dt.UTC).date()
        return [Day(today - dt.timedelta(days=days - 1 - n), Uptime()) for n in range(days)]
    combined = []
    for column in zip(*series, strict=True):
        total = Uptime()
        degraded = 0
        for item in column:
            total += item.uptime
            degraded += item.degraded
        combined.append(Day(column[0].date, total, degraded))
    return combined


# -- pause / resume -----------------------------------------------------------------------------------------

def set_paused(*, session: Session, actor: User, slug: str, paused: bool, remote_addr: str = "",
               now: dt.datetime | None = None) -> MonitorState:
    """Pause (checks stop, status ``paused``) or resume (status ``unknown`` until the next check, due now)
    an endpoint by hand; audited, recorded as an event, and passed to the status-change hooks.
    Raises NotFound for a slug the catalog does not have. Commits."""
    endpoint = session.scalars(select(CatalogEndpoint).where(CatalogEndpoint.slug == slug)).first()
    if endpoint is None:
        raise NotFound(f"No endpoint {slug!r} in the catalog.")
    now = now or utcnow()
    state = get_state(session=session, slug=slug)
    if state is None:
        state = MonitorState(slug=slug, status=Status.UNKNOWN.value, message="", consecutive_failures=0,
                             paused=False, in_maintenance=False, updated_at=now)
        session.add(state)
        session.flush()
    if state.paused == paused:
        return state
    old = Status(state.status) if state.status in Status._value2member_map_ else Status.UNKNOWN
    new = Status.PAUSED if paused else Status.UNKNOWN
    state.paused = paused
    state.status = new.value
    state.status_since = now
    state.updated_at = now
    state.consecutive_failures = 0
    state.message = f"Paused by {actor.username}." if paused else f"Resumed by {actor.username}."
    state.next_due_at = None if paused else now
    session.add(MonitorEvent(endpoint_id=state.id, at=now, kind=EventKind.STATUS_CHANGE.value,
                             old_status=old.value, new_status=new.value, message=state.message,
                             in_maintenance=state.in_maintenance))
    audit_service.record(session=session, actor=actor, action="monitoring.pause" if paused else "monitoring.resume",
                         object_type="endpoint", object_id=slug, summary=state.message,
                         before={"paused": not paused, "status": old.value},
                         after={"paused": paused, "status": new.value}, remote_addr=remote_addr)
    if old != new and hooks.STATUS_CHANGE_HOOKS:
        change = hooks.StatusChange(endpoint_id=state.id, slug=slug, service=endpoint.service, old=old, new=new,
                                    at=now, message=state.message, in_maintenance=state.in_maintenance)
        try:
            with session.begin_nested():
                hooks.status_changed(session=session, changes=[change])
        except Exception:
            # As in the result writer: the pause stands even if an incident or notification hook failed.
            log.exception("a status-change hook failed while %s was %s", slug, new.value)
    session.commit()
    return state


# -- status page ----------------------------------------------------------------------------------------------

STATUS_PAGE_TAG = "status-page"


@dataclass(slots=True)
class ServiceStatus:
    slug: str
    name: str
    status: str
    endpoints: list[EndpointRow]
    days: list[Day]
    uptime_90d: Uptime


def status_page_services(*, session: Session, now: dt.datetime | None = None,
                         max_services: int = 100) -> tuple[list[ServiceStatus], bool]:
    """The services the status page shows, with their endpoints, current status (the worst of their
    endpoints', paused ones aside) and 90-day bars. Services tagged ``status-page`` when any is; else every
    service that has endpoints (at most ``max_services``). Returns (services, chosen_by_tag)."""
    now = now or utcnow()
    tagged = list(session.scalars(select(CatalogTag.service_slug).where(CatalogTag.tag == STATUS_PAGE_TAG)
                                  .order_by(CatalogTag.service_slug).limit(max_services)))
    slugs = tagged or service_slugs_with_endpoints(session=session)[:max_services]
    if not slugs:
        return [], bool(tagged)
    names = dict(session.execute(select(CatalogService.slug, CatalogService.name)
                                 .where(CatalogService.slug.in_(slugs))).all())
    rows = [_row(r) for r in session.execute(_joined().where(CatalogEndpoint.service.in_(slugs))
                                             .order_by(CatalogEndpoint.slug))]
    bars = service_bars(session=session, services=slugs, now=now)
    by_service: dict[str, list[EndpointRow]] = defaultdict(list)
    for row in rows:
        by_service[row.service or ""].append(row)
    services = []
    for slug in slugs:
        members = by_service.get(slug, [])
        days = bars.get(slug) or combine_days([], now=now)
        total = Uptime()
        for d in days:
            total += d.uptime
        services.append(ServiceStatus(slug=slug, name=names.get(slug, slug), status=worst(r.status for r in members),
                                      endpoints=members, days=days, uptime_90d=total))
    return services, bool(tagged)


def worst(statuses: Any) -> str:
    """The worst status among several (paused ones count only when all are paused); unknown when none."""
    values = [Status(s) for s in statuses]
    active = [s for s in values if s is not Status.PAUSED]
    if not values:
        return Status.UNKNOWN.value
    if not active:
        return Status.PAUSED.value
    return max(active, key=lambda s: SEVERITY[s]).value


# -- metrics --------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class MetricRow:
    state_id: int | None
    slug: str
    service: str
    type: str
    status: str
    latency_ms: float | None
    cert_days_left: float | None
    last_checked_at: dt.datetime | None


def metric_rows(*, session: Session) -> list[MetricRow]:
    """Every catalog endpoint with what ``/metrics`` exports (one query, no JSON columns)."""
    query = (select(MonitorState.id, CatalogEndpoint.slug, CatalogEndpoint.service, CatalogEndpoint.type,
                    status_expr(), MonitorState.latency_ms, MonitorState.cert_days_left,
                    MonitorState.last_checked_at)
             .select_from(CatalogEndpoint).outerjoin(MonitorState, MonitorState.slug == CatalogEndpoint.slug)
             .order_by(CatalogEndpoint.slug))
    return [MetricRow(state_id=a, slug=b, service=c or "", type=d, status=e, latency_ms=f, cert_days_left=g,
                      last_checked_at=h) for a, b, c, d, e, f, g, h in session.execute(query)]


def all_uptime_windows(*, session: Session, windows: list[str], now: dt.datetime | None = None,
                       endpoint_ids: list[int] | None = None) -> dict[int, dict[str, Uptime]]:
    """Uptime of many endpoints per window in one grouped query over the widest window. With
    ``endpoint_ids`` the query walks the ``(endpoint_id, hour)`` primary key per endpoint (fast for short
    windows); without, it scans every endpoint's rows in the window."""
    now = now or utcnow()
    starts = {w: window_start(now, UPTIME_WINDOWS[w]) for w in windows}
    earliest = min(starts.values())
    columns: list[Any] = [MonitorHourly.endpoint_id]
    for w in windows:
        inside = MonitorHourly.hour >= starts[w]
        for name in ("checks", "failures", "maintenance_checks", "maintenance_failures"):
            column = getattr(MonitorHourly, name)
            columns.append(func.sum(column if starts[w] == earliest else case((inside, column), else_=0)))
    result: dict[int, dict[str, Uptime]] = {}
    chunks: list[list[int] | None] = [None]
    if endpoint_ids is not None:
        chunks = [endpoint_ids[i:i + 5000] for i in range(0, len(endpoint_ids), 5000)]
    for chunk in chunks:
        query = select(*columns).where(MonitorHourly.hour >= earliest)
        if chunk is not None:
            query = query.where(MonitorHourly.endpoint_id.in_(chunk))
        for row in session.execute(query.group_by(MonitorHourly.endpoint_id)):
            values = [int(v or 0) for v in row[1:]]
            result[row[0]] = {w: Uptime(*values[4 * n:4 * n + 4]) for n, w in enumerate(windows)}
    return result


# The status page may be public: one visitor reloading it must not cost a scan of a year of aggregates
# each time. Its figures are reused for this long (per database).
STATUS_PAGE_CACHE_SECONDS = 30.0
_status_cache: weakref.WeakKeyDictionary[Engine, tuple[float, tuple[list[ServiceStatus], bool]]] = (
    weakref.WeakKeyDictionary())
_status_lock = threading.Lock()


def cached_status_page(*, session: Session) -> tuple[list[ServiceStatus], bool]:
    """``status_page_services``, reused for ``STATUS_PAGE_CACHE_SECONDS``."""
    key = session.get_bind().engine
    moment = time.monotonic()
    with _status_lock:
        hit = _status_cache.get(key)
        if hit is not None and moment - hit[0] < STATUS_PAGE_CACHE_SECONDS:
            return hit[1]
    value = status_page_services(session=session)
    with _status_lock:
        _status_cache[key] = (moment, value)
    return value


def clear_caches() -> None:
    with _status_lock:
        _status_cache.clear()
