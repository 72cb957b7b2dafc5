"""Webhooks (where to POST which events, with a sealed signing secret) and their deliveries.

A delivery row holds the exact body it sends (so a retry or a redelivery sends the same bytes) and
its outcome. ``(webhook_id, dedupe_key)`` is unique, the key being ``event:<outbox id>`` for a fanned-out
event: a webhook gets at most one delivery per event, however many deliverers fan out.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow

RowId = BigInteger().with_variant(Integer(), "sqlite")


class Webhook(Base):
    """``secret_sealed`` is the signing secret sealed with ``calcifer.sealed`` (never shown again).
    Filters: ``services``, ``tags`` (of the event's service) and ``categories`` (of a work item); each
    non-empty one must match, and an event without that attribute does not match it."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(Text)
    secret_sealed: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_name: Mapped[str] = mapped_column(String(64), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One body for one webhook: pending until a 2xx, retried with back-off until ``give_up_at``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "dedupe_key"),
                      Index("ix_webhook_deliveries_due", "webhook_id", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_created", "created_at"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # X-Calcifer-Delivery
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # choices.DeliveryKind
    event: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # when the event happened
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # choices.DeliveryStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    give_up_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    response_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
