"""Monitoring's read model for the other slices (declared in docs/architecture.md): the live state of
endpoints and services, open incidents, expiring certificates and endpoints in maintenance.

The catalog pages and API, the dependency graph and the dashboard show what monitoring knows without
reading monitoring's tables: they call these functions and get typed records back. Each function costs
one query however many slugs it is given (a page of 500 endpoints is one round trip, not 500).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from calcifer.catalog.models import CatalogEndpoint
from calcifer.monitoring.choices import IncidentStatus, Status
from calcifer.monitoring.hooks import endpoints_in_maintenance
from calcifer.monitoring.models import Incident, MonitorHourly, MonitorState
from calcifer.monitoring.service import SEVERITY, UPTIME_WINDOWS, Uptime, status_expr, utcnow, window_start

__all__ = ["MAX_SLUGS", "EndpointLive", "ExpiringCertificate", "endpoints_in_maintenance",
           "endpoints_needing_attention", "expiring_certificates", "live_status", "open_incidents", "service_health",
           "unknown", "utcnow"]

# Beyond this many slugs a caller pages: the lists that call live_status show at most 500 rows.
MAX_SLUGS = 1000


@dataclass(frozen=True, slots=True)
class EndpointLive:
    """What monitoring says about one endpoint now: the status people see (paused covers disabled in
    the catalog and paused by hand; unknown: never checked), since when, the last check and its latency,
    and the uptime over the last 24 hours (``uptime_24h.ratio`` is None when nothing was checked; the
    whole field is None where it was not asked for: ``endpoints_needing_attention``)."""

    slug: str
    status: str
    status_since: dt.datetime | None
    last_checked_at: dt.datetime | None
    latency_ms: float | None
    message: str
    in_maintenance: bool
    uptime_24h: Uptime | None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "status_since": _iso(self.status_since),
                "last_checked_at": _iso(self.last_checked_at), "latency_ms": self.latency_ms,
                "message": self.message, "in_maintenance": self.in_maintenance,
                "uptime_24h": self.uptime_24h.as_dict() if self.uptime_24h is not None else None}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def unknown(slug: str) -> EndpointLive:
    """The record of an endpoint monitoring has no row for (not in the catalog index yet)."""
    return EndpointLive(slug=slug, status=Status.UNKNOWN.value, status_since=None, last_checked_at=None,
                        latency_ms=None, message="", in_maintenance=False, uptime_24h=Uptime())


def live_status(*, session: Session, slugs: Collection[str], now: dt.datetime | None = None) -> dict[str, EndpointLive]:
    """The live state of each endpoint slug given, in one query (state joined with its last 24 hours of
    hourly aggregates). Every slug asked for is in the answer; a slug monitoring does not know is
    ``unknown``. At most ``MAX_SLUGS`` slugs: more raises ValueError (a caller's bug, not user input)."""
    wanted = list(dict.fromkeys(slugs))
    if len(wanted) > MAX_SLUGS:
        raise ValueError(f"live_status takes at most {MAX_SLUGS} slugs; page the list")
    if not wanted:
        return {}
    start = window_start(now or utcnow(), UPTIME_WINDOWS["24h"])
    hourly = (select(MonitorHourly.endpoint_id.label("endpoint_id"),
                     func.sum(MonitorHourly.checks).label("checks"),
                     func.sum(MonitorHourly.failures).label("failures"),
                     func.sum(MonitorHourly.maintenance_checks).label("m_checks"),
                     func.sum(MonitorHourly.maintenance_failures).label("m_failures"))
              .where(MonitorHourly.hour >= start,
                     MonitorHourly.endpoint_id.in_(select(MonitorState.id).where(MonitorState.slug.in_(wanted))))
              .group_by(MonitorHourly.endpoint_id).subquery())
    query = (select(CatalogEndpoint.slug, status_expr(), MonitorState.status_since, MonitorState.last_checked_at,
                    MonitorState.latency_ms, MonitorState.message, MonitorState.in_maintenance,
                    hourly.c.checks, hourly.c.failures, hourly.c.m_checks, hourly.c.m_failures)
             .select_from(CatalogEndpoint)
             .outerjoin(MonitorState, MonitorState.slug == CatalogEndpoint.slug)
             .outerjoin(hourly, hourly.c.endpoint_id == MonitorState.id)
             .where(CatalogEndpoint.slug.in_(wanted)))
    found = {slug: unknown(slug) for slug in wanted}
    for slug, status, since, last, latency, message, maintenance, checks, failures, m_checks, m_failures in (
            session.execute(query)):
        found[slug] = EndpointLive(
            slug=slug, status=str(status), status_since=since, last_checked_at=last, latency_ms=latency,
            message=message or "", in_maintenance=bool(maintenance),
            uptime_24h=Uptime(int(checks or 0), int(failures or 0), int(m_checks or 0), int(m_failures or 0)))
    return found


def service_health(*, session: Session) -> dict[str, str]:
    """The worst status among each service's endpoints (down, degraded, unknown, up, paused: worst first),
    by service slug, in one grouped query. Services without endpoints are absent."""
    ranked = case(*((status_expr() == s.value, literal(rank)) for s, rank in SEVERITY.items()), else_=literal(2))
    query = (select(CatalogEndpoint.service, func.max(ranked)).select_from(CatalogEndpoint)
             .outerjoin(MonitorState, MonitorState.slug == CatalogEndpoint.slug)
             .where(CatalogEndpoint.service.is_not(None)).group_by(CatalogEndpoint.service))
    by_rank = {rank: s.value for s, rank in SEVERITY.items()}
    return {str(service): by_rank[int(rank)] for service, rank in session.execute(query) if service}


def endpoints_needing_attention(*, session: Session, limit: int = 20) -> list[EndpointLive]:
    """Endpoints down or degraded now (down first, then the longest-standing), at most ``limit``."""
    status = status_expr()
    query = (select(CatalogEndpoint.slug, status, MonitorState.status_since, MonitorState.last_checked_at,
                    MonitorState.latency_ms, MonitorState.message, MonitorState.in_maintenance)
             .select_from(CatalogEndpoint)
             .join(MonitorState, MonitorState.slug == CatalogEndpoint.slug)
             .where(status.in_([Status.DOWN.value, Status.DEGRADED.value]))
             .order_by(case((status == Status.DOWN.value, 0), else_=1), MonitorState.status_since,
                       CatalogEndpoint.slug)
             .limit(max(1, min(int(limit), 200))))
    return [EndpointLive(slug=slug, status=str(s), status_since=since, last_checked_at=last, latency_ms=latency,
                         message=message or "", in_maintenance=bool(maintenance), uptime_24h=None)
            for slug, s, since, last, latency, message, maintenance in session.execute(query)]


def open_incidents(*, session: Session, limit: int = 50) -> list[Incident]:
    """Open incidents, newest first (the status page and dashboards show these)."""
    query = (select(Incident).where(Incident.status == IncidentStatus.OPEN.value)
             .order_by(Incident.started_at.desc(), Incident.id.desc()).limit(max(1, min(limit, 1000))))
    return list(session.scalars(query))


@dataclass(frozen=True)
class ExpiringCertificate:
    endpoint_id: int
    slug: str
    days_left: float
    expires_at: dt.datetime | None
    serial: str


def expiring_certificates(*, session: Session, warn_days: float, limit: int = 1000) -> list[ExpiringCertificate]:
    """Endpoints (not paused) whose last-seen certificate has fewer than `warn_days` days left."""
    query = (select(MonitorState).where(MonitorState.cert_days_left.is_not(None),
                                        MonitorState.cert_days_left < warn_days,
                                        MonitorState.paused.is_(False))
             .order_by(MonitorState.cert_days_left).limit(limit))
    found = []
    for state in session.scalars(query):
        serial = str((state.cert_info or {}).get("serial") or "")
        found.append(ExpiringCertificate(state.id, state.slug, float(state.cert_days_left or 0),
                                         state.cert_expires_at, serial))
    return found
