"""Monitoring's read model for other slices (declared in docs/architecture.md): what notifications and
other subscribers may read of monitoring's state without importing its internals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.monitoring.hooks import endpoints_in_maintenance
from calcifer.monitoring.models import Incident, MonitorState
from calcifer.monitoring.models.incidents import IncidentStatus

__all__ = ["ExpiringCertificate", "endpoints_in_maintenance", "expiring_certificates", "open_incidents"]


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
