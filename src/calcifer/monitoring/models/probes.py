"""Remote probes and what each location saw (see docs/probes.md).

- ``MonitorProbe``: a registered probe (name, location, hashed token) and its last heartbeat.
- ``ProbeEvent``: a probe went offline or came back (one row per change, never one per missed beat).
- ``LocationState`` / ``LocationResult`` / ``LocationHourly``: per (endpoint, location) status, raw results
  and hourly aggregates of endpoints checked from more than one place (``locations:`` in the endpoint
  file). An endpoint checked only by the server's own scheduler (the default, ``[local]``) keeps using
  ``monitor_states``/``monitor_results``/``monitor_hourly`` alone; for the others ``monitor_states`` holds
  the verdict of the locations.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow
from calcifer.monitoring.models.checks import RowId


class MonitorProbe(Base):
    __tablename__ = "monitor_probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    location: Mapped[str] = mapped_column(String(63), index=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    # sha256 of the token; None once revoked (a new one is given by rotating).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[str] = mapped_column(String(64), default="")
    clock_offset_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    queue_length: Mapped[int] = mapped_column(Integer, default=0)
    checks_per_second: Mapped[float] = mapped_column(Float, default=0.0)
    dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    results_total: Mapped[int] = mapped_column(BigInteger, default=0)


class ProbeEvent(Base):
    __tablename__ = "monitor_probe_events"
    __table_args__ = (Index("ix_monitor_probe_events_probe_at", "probe_id", "at"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    probe_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))  # offline, online
    message: Mapped[str] = mapped_column(String(500), default="")


class LocationState(Base):
    __tablename__ = "monitor_location_states"

    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location: Mapped[str] = mapped_column(String(63), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    probe_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LocationResult(Base):
    """One check of one location; ``(probe_id, seq)`` is unique, so a replayed upload is stored once."""

    __tablename__ = "monitor_location_results"
    __table_args__ = (Index("ix_monitor_location_results_endpoint_time", "endpoint_id", "location", "checked_at_ms"),
                      Index("ux_monitor_location_results_probe_seq", "probe_id", "seq", unique=True))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(63))
    probe_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checked_at_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(SmallInteger)  # choices.ResultCode
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str | None] = mapped_column(String(300), nullable=True)


class LocationHourly(Base):
    __tablename__ = "monitor_location_hourly"

    endpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location: Mapped[str] = mapped_column(String(63), primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime(), primary_key=True)
    checks: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    degraded: Mapped[int] = mapped_column(Integer, default=0)
    latency_n: Mapped[int] = mapped_column(Integer, default=0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)
    latency_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_max: Mapped[float | None] = mapped_column(Float, nullable=True)
