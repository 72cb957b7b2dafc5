"""Notification events and delivery states."""

from __future__ import annotations

from enum import StrEnum


class NotifyEvent(StrEnum):
    """What a channel can be told about (a channel picks any of them; all by default)."""

    DOWN = "down"
    RECOVERY = "recovery"
    DEGRADED = "degraded"
    CERT_EXPIRY = "cert_expiry"


class DeliveryKind(StrEnum):
    """What a delivery row carries: one of the events, a reminder while down, or a test message."""

    DOWN = "down"
    RECOVERY = "recovery"
    DEGRADED = "degraded"
    CERT_EXPIRY = "cert_expiry"
    REMINDER = "reminder"
    TEST = "test"


class DeliveryStatus(StrEnum):
    PENDING = "pending"    # waiting for the notifier (also between retries)
    SENDING = "sending"    # claimed by a notifier; the claim lapses at next_attempt_at
    SENT = "sent"
    FAILED = "failed"      # gave up after the last retry
    HELD = "held"          # the endpoint was in maintenance: recorded, never sent


ALL_EVENTS = [e.value for e in NotifyEvent]
