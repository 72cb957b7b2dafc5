"""Plain factory functions for monitoring's read-side tests: catalog index rows and monitoring rows.

They write straight into the tables (no git, no scheduler), flush, and return the row; the caller
commits. ``bulk_endpoints`` inserts thousands at once for the large-list tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from calcifer.catalog.models import CatalogEndpoint, CatalogService, CatalogTag
from calcifer.monitoring.choices import EventKind, ResultCode
from calcifer.monitoring.models import MonitorEvent, MonitorHourly, MonitorResult, MonitorState, SchedulerStatus

NOW = dt.datetime(2026, 6, 15, 12, 30, tzinfo=dt.UTC)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_service(session: Session, slug: str, *, name: str | None = None, tags: list[str] | None = None,
                 depends_on: list[str] | None = None) -> CatalogService:
    row = CatalogService(slug=slug, name=name or slug.replace("-", " ").title(), kind="container", host=None,
                         status="active", description="", owner=None, tags=list(tags or []),
                         depends_on=list(depends_on or []), spec={"slug": slug}, file=f"catalog/services/{slug}.yaml",
                         line=1, blob_id="0" * 40, commit_id="0" * 40)
    session.add(row)
    for tag in tags or []:
        session.add(CatalogTag(service_slug=slug, tag=tag))
    session.flush()
    return row


def _endpoint_values(slug: str, *, service: str | None = None, type: str = "tcp", name: str | None = None,
                     target: str | None = "127.0.0.1", port: int | None = 80, interval: int = 60,
                     enabled: bool = True) -> dict[str, Any]:
    spec = {"name": name or slug, "slug": slug, "type": type, "target": target, "interval": interval}
    return {"slug": slug, "name": name or slug.replace("-", " ").title(), "service": service, "type": type,
            "target": target, "port": port, "interval": interval, "timeout": 5.0, "retries": 1, "enabled": enabled,
            "options": {}, "spec": spec, "file": f"catalog/endpoints/{slug}.yaml", "line": 1, "nested": False,
            "blob_id": "0" * 40, "commit_id": "0" * 40}


def make_endpoint(session: Session, slug: str, **fields: Any) -> CatalogEndpoint:
    """A catalog endpoint in the index (``service``, ``type``, ``name``, ``target``, ``port``, ``interval``,
    ``enabled``)."""
    row = CatalogEndpoint(**_endpoint_values(slug, **fields))
    session.add(row)
    session.flush()
    return row


def make_state(session: Session, slug: str, *, status: str = "up", latency_ms: float | None = 12.0,
               message: str = "", last_checked_at: dt.datetime | None = None,
               next_due_at: dt.datetime | None = None, paused: bool = False, in_maintenance: bool = False,
               cert_days_left: float | None = None, cert_info: dict[str, Any] | None = None,
               cert_expires_at: dt.datetime | None = None, status_since: dt.datetime | None = None,
               consecutive_failures: int = 0) -> MonitorState:
    moment = now()
    row = MonitorState(slug=slug, status=status, latency_ms=latency_ms, message=message,
                       last_checked_at=last_checked_at or moment - dt.timedelta(seconds=20),
                       next_due_at=next_due_at or moment + dt.timedelta(seconds=40), paused=paused,
                       in_maintenance=in_maintenance, cert_days_left=cert_days_left, cert_info=cert_info,
                       cert_expires_at=cert_expires_at, status_since=status_since or moment - dt.timedelta(hours=2),
                       consecutive_failures=consecutive_failures, updated_at=moment)
    session.add(row)
    session.flush()
    return row


def make_monitored(session: Session, slug: str, *, status: str = "up", **fields: Any) -> MonitorState:
    """A catalog endpoint and its state in one go (endpoint fields: service, type, name, target, port,
    interval, enabled; the rest go to ``make_state``)."""
    endpoint_keys = {"service", "type", "name", "target", "port", "interval", "enabled"}
    make_endpoint(session, slug, **{k: v for k, v in fields.items() if k in endpoint_keys})
    return make_state(session, slug, status=status, **{k: v for k, v in fields.items() if k not in endpoint_keys})


def make_hourly(session: Session, endpoint_id: int, hour: dt.datetime, *, checks: int = 60, failures: int = 0,
                degraded: int = 0, maintenance_checks: int = 0, maintenance_failures: int = 0,
                latency_avg: float | None = 20.0, latency_min: float | None = None,
                latency_max: float | None = None, latency_p95: float | None = None) -> MonitorHourly:
    """One hourly aggregate; ``checks``/``failures`` leave the maintenance ones out (as the writer does)."""
    row = MonitorHourly(endpoint_id=endpoint_id, hour=hour.replace(minute=0, second=0, microsecond=0),
                        checks=checks, failures=failures, degraded=degraded, maintenance_checks=maintenance_checks,
                        maintenance_failures=maintenance_failures, latency_avg=latency_avg,
                        latency_min=latency_min if latency_min is not None else latency_avg,
                        latency_max=latency_max if latency_max is not None else latency_avg,
                        latency_p95=latency_p95 if latency_p95 is not None else latency_max or latency_avg)
    session.add(row)
    session.flush()
    return row


def fill_hours(session: Session, endpoint_id: int, *, end: dt.datetime, hours: int, **fields: Any) -> None:
    """``hours`` consecutive hourly rows ending with the hour of ``end`` (same figures in each)."""
    last = end.replace(minute=0, second=0, microsecond=0)
    rows = []
    for n in range(hours):
        hour = last - dt.timedelta(hours=n)
        avg = fields.get("latency_avg", 20.0)
        rows.append({"endpoint_id": endpoint_id, "hour": hour, "checks": fields.get("checks", 60),
                     "failures": fields.get("failures", 0), "degraded": fields.get("degraded", 0),
                     "maintenance_checks": fields.get("maintenance_checks", 0),
                     "maintenance_failures": fields.get("maintenance_failures", 0), "latency_avg": avg,
                     "latency_min": avg, "latency_max": avg, "latency_p95": avg})
    session.execute(insert(MonitorHourly), rows)
    session.flush()


def make_result(session: Session, endpoint_id: int, at: dt.datetime, *, status: ResultCode = ResultCode.UP,
                latency_ms: float | None = 10.0, message: str | None = None,
                in_maintenance: bool = False) -> MonitorResult:
    row = MonitorResult(endpoint_id=endpoint_id, checked_at_ms=int(at.timestamp() * 1000), status=int(status),
                        latency_ms=latency_ms, message=message, in_maintenance=in_maintenance)
    session.add(row)
    session.flush()
    return row


def make_event(session: Session, endpoint_id: int, at: dt.datetime, *, old: str | None = "up",
               new: str | None = "down", message: str = "", kind: EventKind = EventKind.STATUS_CHANGE,
               in_maintenance: bool = False) -> MonitorEvent:
    row = MonitorEvent(endpoint_id=endpoint_id, at=at, kind=kind.value, old_status=old, new_status=new,
                       message=message, in_maintenance=in_maintenance)
    session.add(row)
    session.flush()
    return row


def make_scheduler(session: Session, *, heartbeat_at: dt.datetime | None = None, holder: str = "host:1234",
                   checks_total: int = 1234, lag_p50_ms: float = 1.5, lag_p99_ms: float = 12.0, queue: int = 3,
                   in_flight: int = 2, endpoints: int = 10) -> SchedulerStatus:
    row = session.get(SchedulerStatus, 1) or SchedulerStatus(id=1)
    row.holder = holder
    row.started_at = (heartbeat_at or now()) - dt.timedelta(hours=1)
    row.heartbeat_at = heartbeat_at or now()
    row.checks_total = checks_total
    row.lag_p50_ms = lag_p50_ms
    row.lag_p99_ms = lag_p99_ms
    row.queue = queue
    row.in_flight = in_flight
    row.endpoints = endpoints
    session.add(row)
    session.flush()
    return row


def bulk_endpoints(session: Session, count: int, *, prefix: str = "ep", services: int = 50,
                   statuses: tuple[str, ...] = ("up", "up", "up", "degraded", "down"), hours: int = 0) -> None:
    """``count`` endpoints spread over ``services`` services, each with a state (cycling through
    ``statuses``) and ``hours`` hourly rows. Inserted in bulk; the caller commits."""
    moment = now()
    width = len(str(count))
    service_rows = [{"slug": f"{prefix}-svc-{n:03d}", "name": f"Service {n}", "kind": "container", "host": None,
                     "status": "active", "description": "", "owner": None, "tags": [], "depends_on": [],
                     "spec": {}, "file": f"catalog/services/{prefix}-svc-{n:03d}.yaml", "line": 1,
                     "blob_id": "0" * 40, "commit_id": "0" * 40, "updated_at": moment} for n in range(services)]
    session.execute(insert(CatalogService), service_rows)
    session.execute(insert(CatalogTag), [{"service_slug": r["slug"], "tag": "even" if n % 2 == 0 else "odd"}
                                         for n, r in enumerate(service_rows)])
    endpoints = []
    states = []
    for n in range(count):
        slug = f"{prefix}-{n:0{width}d}"
        values = _endpoint_values(slug, service=service_rows[n % services]["slug"], port=10000 + n % 50000)
        values["updated_at"] = moment
        endpoints.append(values)
        states.append({"slug": slug, "status": statuses[n % len(statuses)], "latency_ms": 5.0 + n % 40,
                       "message": "", "last_checked_at": moment - dt.timedelta(seconds=n % 60),
                       "next_due_at": moment + dt.timedelta(seconds=60 - n % 60), "paused": False,
                       "in_maintenance": False, "consecutive_failures": 0, "updated_at": moment,
                       "status_since": moment - dt.timedelta(hours=1)})
    for start in range(0, count, 2000):
        session.execute(insert(CatalogEndpoint), endpoints[start:start + 2000])
        session.execute(insert(MonitorState), states[start:start + 2000])
    if hours:
        ids = [i for (i,) in session.query(MonitorState.id).filter(MonitorState.slug.like(f"{prefix}-%"))]
        last = moment.replace(minute=0, second=0, microsecond=0)
        batch: list[dict[str, Any]] = []
        for endpoint_id in ids:
            for h in range(hours):
                batch.append({"endpoint_id": endpoint_id, "hour": last - dt.timedelta(hours=h), "checks": 60,
                              "failures": 1 if (endpoint_id + h) % 7 == 0 else 0, "degraded": 0,
                              "maintenance_checks": 0, "maintenance_failures": 0, "latency_avg": 20.0,
                              "latency_min": 10.0, "latency_max": 40.0, "latency_p95": 35.0})
                if len(batch) >= 5000:
                    session.execute(insert(MonitorHourly), batch)
                    batch = []
        if batch:
            session.execute(insert(MonitorHourly), batch)
    session.flush()
