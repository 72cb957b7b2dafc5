"""Incidents (an endpoint's outage: start, end, affected services, notes) and maintenance windows.

Incidents are opened and closed by the status-change hook in ``monitoring.incidents``; maintenance
windows are read by the maintenance provider in ``monitoring.maintenance`` every few seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from calcifer.db import Base, UTCDateTime, utcnow
from calcifer.monitoring.choices import IncidentStatus


class Incident(Base):
    """An endpoint's outage: opened when it goes down, resolved when it is up (or degraded) again.

    ``open_endpoint_id`` is the endpoint's id while the incident is open and NULL once resolved: a
    unique column, so an endpoint never has two open incidents (NULLs never collide on either engine).
    """

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_started", "status", "started_at"),
                      Index("ix_incidents_endpoint_started", "endpoint_id", "started_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(Integer)
    open_endpoint_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    endpoint_slug: Mapped[str] = mapped_column(String(63), index=True)
    service: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.OPEN.value)  # IncidentStatus
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    # Started while the endpoint was in a maintenance window (alerts were held).
    in_maintenance: Mapped[bool] = mapped_column(Boolean, default=False)
    # Service slugs: the endpoint's service, then everything that needs it (transitively).
    affected_services: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Work items that were in progress, or merged within the hour before the start, on the endpoint's
    # service or a service it needs: [{"id", "title", "status", "service", "merged_at"}].
    related_work: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    postmortem_path: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    postmortem_work_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    events: Mapped[list[IncidentEvent]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentEvent.id",
        lazy="selectin")

    @property
    def is_open(self) -> bool:
        return self.status == IncidentStatus.OPEN.value

    def duration(self, now: dt.datetime | None = None) -> dt.timedelta:
        """How long it lasted (or has lasted so far, while open)."""
        end = self.ended_at or now or utcnow()
        return max(dt.timedelta(0), end - self.started_at)


class IncidentEvent(Base):
    """A timeline entry: opened, a note by a person, a status change, resolved, post-mortem started."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))  # IncidentEventKind
    text: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(64), default="system")

    incident: Mapped[Incident] = relationship(back_populates="events")


class MaintenanceWindow(Base):
    """A time when alerts are held for some endpoints (checks still run and are recorded).

    Scope: ``services`` and ``endpoints`` (slugs); both empty means every endpoint, except for a
    work-item window, which covers its work item's service. ``ended_at`` is set when a person ends
    the window early (or cancels it); it is never deleted, so the history stays.
    """

    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))  # MaintenanceKind
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cron: Mapped[str | None] = mapped_column(String(120), nullable=True)  # UTC
    duration_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    work_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    endpoints: Mapped[list[str]] = mapped_column(JSON, default=list)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    created_by_name: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
