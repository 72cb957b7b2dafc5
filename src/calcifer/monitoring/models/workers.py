"""Worker leases (PostgreSQL): which ``calcifer worker`` processes are alive, and which share of the
endpoints (a bucket) each one checks. See ``calcifer.monitoring.leases``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime


class MonitorWorker(Base):
    """A scheduler process that shares the endpoints; alive while ``expires_at`` (database time) is ahead."""

    __tablename__ = "monitor_workers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MonitorBucket(Base):
    """One share of the endpoints (endpoint id modulo the bucket count), leased to at most one worker.

    Free when ``worker_id`` is null, or when ``expires_at`` (database time) has passed: the worker that
    held it stopped renewing (died, or lost the database) and another may claim it.
    """

    __tablename__ = "monitor_buckets"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    worker_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
