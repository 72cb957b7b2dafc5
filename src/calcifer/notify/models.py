"""Notification channels (apprise URLs) and the delivery outbox.

A delivery row is written in the same transaction as the status change it reports (no network
there); the notifier sends it later. ``(channel_id, event_key)`` is unique: never more than one
message per event per channel, however often a hook fires or however many notifiers run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow
from calcifer.notify.choices import ALL_EVENTS

RowId = BigInteger().with_variant(Integer(), "sqlite")


class Channel(Base):
    """An apprise URL and what it hears about.

    ``url`` holds secrets (tokens, passwords): it is stored as given because it must work, and it is
    never shown, logged or audited; ``url_masked`` is what people see. Routing: a change is sent when
    the endpoint is listed in ``endpoints``, or its service in ``services``, or the service carries
    one of ``tags``; all three empty means every endpoint.
    """

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(Text)
    url_masked: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    endpoints: Mapped[list[str]] = mapped_column(JSON, default=list)
    events: Mapped[list[str]] = mapped_column(JSON, default=lambda: list(ALL_EVENTS))  # choices.NotifyEvent
    # Remind every N minutes while an endpoint stays down; 0: no reminders.
    reminder_minutes: Mapped[int] = mapped_column(Integer, default=0)
    created_by_name: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One message for one channel: queued, sent, failed (with a secret-free error) or held."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (UniqueConstraint("channel_id", "event_key"),
                      Index("ix_notify_deliveries_status_next", "status", "next_attempt_at"),
                      Index("ix_notify_deliveries_channel_created", "channel_id", "created_at"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notify_channels.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # choices.DeliveryKind
    endpoint_slug: Mapped[str | None] = mapped_column(String(63), nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # choices.DeliveryStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
