"""The domain-event outbox: one row per thing that happened, written in the transaction of the change
that caused it (so it exists exactly when the change does). Subscribers (webhooks) read it through
``outbox.service`` and mark rows ``dispatched`` once they have taken what they need."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow

RowId = BigInteger().with_variant(Integer(), "sqlite")


class DomainEvent(Base):
    """``name`` is a ``choices.EventName``; ``service`` and ``category`` are what subscribers filter on
    (the service the event is about, a work item's category), ``data`` the event's JSON payload."""

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_dispatched_id", "dispatched", "id"),
                      Index("ix_domain_events_occurred_at", "occurred_at"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    service: Mapped[str | None] = mapped_column(String(63), nullable=True)
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dispatched: Mapped[bool] = mapped_column(Boolean, default=False)


class SubscriberCursor(Base):
    """How far one subscriber (other than webhooks, which mark rows ``dispatched``) has read the outbox."""

    __tablename__ = "domain_event_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[int] = mapped_column(RowId, default=0)
