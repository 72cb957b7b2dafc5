"""Shapes of the monitoring JSON API (read side): endpoint status, uptime, results, events, certificates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from calcifer.monitoring.choices import MaintenanceKind

NOTE_MAX = 5000  # characters in an incident note
MAX_DURATION_MINUTES = 7 * 24 * 60  # of a recurring maintenance window
MAX_SCOPE = 500  # services, and endpoints, one maintenance window names


class MaintenancePublic(BaseModel):
    checks: int
    failures: int
    ratio: float | None


class UptimePublic(BaseModel):
    """Uptime over a range, checks during maintenance left out (and reported apart)."""

    ratio: float | None = Field(description="0..1; null when no check ran in the range.")
    percent: float | None
    checks: int
    failures: int
    maintenance: MaintenancePublic


class EndpointStatusPublic(BaseModel):
    slug: str
    name: str
    service: str | None
    type: str
    target: str | None
    port: int | None
    interval: int
    enabled: bool
    status: str = Field(description="up, degraded, down, paused or unknown")
    message: str
    status_since: dt.datetime | None
    last_checked_at: dt.datetime | None
    next_due_at: dt.datetime | None
    latency_ms: float | None
    paused: bool
    in_maintenance: bool
    cert_days_left: float | None
    uptime: dict[str, UptimePublic]


class EndpointListPublic(BaseModel):
    items: list[EndpointStatusPublic]
    next_cursor: str | None
    prev_cursor: str | None = None
    counts: dict[str, int] = Field(description="Endpoints per status under the same filters (status aside).")
    total: int


class CertificatePublic(BaseModel):
    subject: str
    issuer: str
    expires_at: dt.datetime | None
    days_left: float | None
    sans: list[str]
    serial: str


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    kind: str
    old_status: str | None
    new_status: str | None
    message: str
    in_maintenance: bool


class EventListPublic(BaseModel):
    items: list[EventPublic]
    next_cursor: str | None


class EndpointDetailPublic(EndpointStatusPublic):
    certificate: CertificatePublic | None
    push_url: str | None = Field(default=None, description="Push endpoints only, shown to editors.")


class ResultPublic(BaseModel):
    at: dt.datetime
    status: str
    latency_ms: float | None
    message: str | None
    in_maintenance: bool


class ResultListPublic(BaseModel):
    items: list[ResultPublic]
    next_cursor: str | None


class PointPublic(BaseModel):
    at: dt.datetime
    avg_ms: float | None
    min_ms: float | None
    max_ms: float | None
    checks: int
    failures: int


class SeriesPublic(BaseModel):
    range: str
    start: dt.datetime
    end: dt.datetime
    source: str = Field(description="raw (results, up to 48 h) or hourly (aggregates)")
    bucket_seconds: int
    points: list[PointPublic]


class DayPublic(UptimePublic):
    date: dt.date
    status: str = Field(description="up, degraded, down, maintenance or none (no data)")
    degraded: int


class UptimeReportPublic(BaseModel):
    slug: str
    windows: dict[str, UptimePublic]
    days: list[DayPublic]


class SummaryPublic(BaseModel):
    counts: dict[str, int] = Field(description="Endpoints per status.")
    scheduler_running: bool
    heartbeat_age_seconds: float | None


class RelatedWorkPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    title: str | None = None
    status: str | None = None
    service: str | None = None
    merged_at: str | None = None
    merged_minutes_before: int | None = None
    text: str


class IncidentNotePublic(BaseModel):
    id: int
    at: dt.datetime
    author: str | None
    text: str


class IncidentPublic(BaseModel):
    id: int
    endpoint: str
    service: str | None
    status: str = Field(description="open or resolved")
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_seconds: int
    message: str
    in_maintenance: bool
    affected_services: list[str]
    related_work: list[RelatedWorkPublic]
    postmortem_path: str | None
    postmortem_work_item_id: int | None


class IncidentListPublic(BaseModel):
    items: list[IncidentPublic]
    next_cursor: str | None


class TimelineEntryPublic(BaseModel):
    at: dt.datetime
    kind: str
    text: str
    author: str | None


class IncidentDetailPublic(IncidentPublic):
    notes: list[IncidentNotePublic]
    timeline: list[TimelineEntryPublic]
    postmortem: dict[str, Any] | None = Field(description="Where the post-mortem is: its work item's branch "
                                                          "or main.")


class PostmortemStartedPublic(BaseModel):
    incident_id: int
    path: str
    work_item_id: int


class WindowPublic(BaseModel):
    id: int
    title: str
    description: str
    kind: str
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    cron: str | None
    duration_minutes: int | None
    work_item_id: int | None
    work_item_title: str | None
    work_item_status: str | None
    work_item_service: str | None
    services: list[str]
    endpoints: list[str]
    everything: bool
    state: str = Field(description="active, scheduled, waiting (for its work item), ended or invalid")
    problem: str | None
    next_start: dt.datetime | None
    ended_at: dt.datetime | None
    created_by: str | None
    created_at: dt.datetime


class WindowListPublic(BaseModel):
    items: list[WindowPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class PushAckPublic(BaseModel):
    ok: bool = Field(description="The heartbeat was recorded.")


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=NOTE_MAX + 100)


class PostmortemStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    work_item_id: int | None = Field(default=None, description="An open work item; absent: start a new one.")


class WindowCreate(BaseModel):
    """A new maintenance window (API body and form)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    kind: MaintenanceKind = MaintenanceKind.ONE_OFF
    starts_at: dt.datetime | None = Field(default=None, description="UTC (a time without zone is UTC).")
    ends_at: dt.datetime | None = None
    cron: str | None = Field(default=None, max_length=120, description="Recurring: when each window starts "
                             "(UTC), e.g. `0 2 * * 0` for Sundays 02:00.")
    duration_minutes: int | None = Field(default=None, ge=1, le=MAX_DURATION_MINUTES)
    work_item_id: int | None = None
    services: list[str] = Field(default_factory=list, max_length=MAX_SCOPE)
    endpoints: list[str] = Field(default_factory=list, max_length=MAX_SCOPE)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @field_validator("services", "endpoints")
    @classmethod
    def _slugs(cls, values: list[str]) -> list[str]:
        return sorted({v.strip() for v in values if v and v.strip()})
