"""What the scheduler writes: current state per endpoint, raw results, hourly aggregates, events.

Endpoints themselves live in the catalog (files in git, indexed in ``catalog_endpoints``); these tables
hold operational state keyed by a small integer id per endpoint slug (``monitor_states.id``), so the
millions of result rows stay small.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow

# SQLite only makes an INTEGER PRIMARY KEY an alias of the rowid (no extra index, autoincrement).
RowId = BigInteger().with_variant(Integer(), "sqlite")


class MonitorState(Base):
    """One row per endpoint slug ever scheduled: its current status and the latest check."""

    __tablename__ = "monitor_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="unknown")  # choices.Status
    status_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Paused by hand (operational, not configuration): checks stop until resumed.
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    in_maintenance: Mapped[bool] = mapped_column(Boolean, default=False)
    cert_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cert_days_left: Mapped[float | None] = mapped_column(Float, nullable=True)
    # subject, issuer, not_before, not_after (ISO), serial, sans: the certificate last seen.
    cert_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MonitorResult(Base):
    """One check result, kept ``monitor_raw_retention_hours``.

    ``checked_at_ms`` is epoch milliseconds (UTC): an integer keeps a row near 30 bytes and makes range
    scans cheap. ``message`` is set only for failed or degraded checks.
    """

    __tablename__ = "monitor_results"
    __table_args__ = (Index("ix_monitor_results_endpoint_time", "endpoint_id", "checked_at_ms"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(Integer)
    checked_at_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(SmallInteger)  # choices.ResultCode
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str | None] = mapped_column(String(300), nullable=True)
    in_maintenance: Mapped[bool] = mapped_column(Boolean, default=False)


class MonitorHourly(Base):
    """Per endpoint and UTC hour: counts and latency, kept ``monitor_aggregate_retention_days``.

    Uptime over any range is ``1 - failures/checks`` summed over its hours; checks during maintenance
    are counted apart so uptime can be shown with and without them.
    """

    __tablename__ = "monitor_hourly"

    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)       # down results
    degraded: Mapped[int] = mapped_column(Integer, default=0)
    maintenance_checks: Mapped[int] = mapped_column(Integer, default=0)
    maintenance_failures: Mapped[int] = mapped_column(Integer, default=0)
    latency_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_avg: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_p95: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_max: Mapped[float | None] = mapped_column(Float, nullable=True)


class MonitorEvent(Base):
    """A status change or a failed check, kept as long as the aggregates."""

    __tablename__ = "monitor_events"
    __table_args__ = (Index("ix_monitor_events_endpoint_at", "endpoint_id", "at"),
                      Index("ix_monitor_events_at", "at"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))  # choices.EventKind
    old_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    new_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    in_maintenance: Mapped[bool] = mapped_column(Boolean, default=False)


class PushHeartbeat(Base):
    """The last call of a push endpoint's heartbeat URL."""

    __tablename__ = "monitor_push"

    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    last_push_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reported_status: Mapped[str] = mapped_column(String(16), default="up")  # the caller may say down
    message: Mapped[str] = mapped_column(String(300), default="")
    pushes: Mapped[int] = mapped_column(BigInteger, default=0)


class SchedulerStatus(Base):
    """The single row (id 1) the running scheduler refreshes: who runs it and how it keeps up."""

    __tablename__ = "monitor_scheduler"

    id: Mapped[int] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    endpoints: Mapped[int] = mapped_column(Integer, default=0)
    checks_total: Mapped[int] = mapped_column(BigInteger, default=0)
    lag_p50_ms: Mapped[float] = mapped_column(Float, default=0)
    lag_p99_ms: Mapped[float] = mapped_column(Float, default=0)
    queue: Mapped[int] = mapped_column(Integer, default=0)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
