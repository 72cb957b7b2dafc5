"""Closed lists of the webhooks slice."""

from __future__ import annotations

from enum import StrEnum

from calcifer.outbox.choices import ALL_EVENTS as ALL_EVENTS
from calcifer.outbox.choices import EventName as EventName

# The event a "send test" delivery carries (never subscribed to: every webhook may be sent one).
TEST_EVENT = "webhook.test"
# The version of the delivery body's schema (docs/webhooks.schema.json); bumped on an incompatible change.
SCHEMA_VERSION = 1


class DeliveryStatus(StrEnum):
    PENDING = "pending"      # waiting for its first attempt or its next retry
    SENDING = "sending"      # claimed by a deliverer (due again when its lease runs out)
    DELIVERED = "delivered"  # the receiver answered 2xx
    FAILED = "failed"        # retried for 24 hours without a 2xx (or a test that failed)


class DeliveryKind(StrEnum):
    EVENT = "event"            # fanned out from the outbox
    REDELIVERY = "redelivery"  # a copy of an earlier delivery, asked for by an admin
    TEST = "test"              # "send test"
