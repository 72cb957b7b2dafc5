"""Shapes of the monitoring JSON API (read side): endpoint status, uptime, results, events, certificates."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


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
