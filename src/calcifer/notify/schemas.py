"""Shapes of the notification channels' JSON API: channels (URL masked) and their deliveries."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

from calcifer.errors import Invalid


class ChannelPublic(BaseModel):
    id: int
    name: str
    url_masked: str = Field(description="The apprise URL with its secrets masked; the URL itself is never shown.")
    enabled: bool
    services: list[str]
    tags: list[str]
    endpoints: list[str]
    events: list[str]
    reminder_minutes: int
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ChannelListPublic(BaseModel):
    items: list[ChannelPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class DeliveryPublic(BaseModel):
    id: int
    channel_id: int
    event_key: str
    kind: str
    endpoint: str | None
    title: str
    status: str
    attempts: int
    last_error: str
    created_at: dt.datetime
    sent_at: dt.datetime | None


class DeliveryListPublic(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


def clean_reminder(minutes: int) -> int:
    """``minutes`` if it is a reminder interval Calcifer keeps (0 to a week); raises ``Invalid`` otherwise."""
    if minutes < 0 or minutes > 7 * 24 * 60:
        raise Invalid("The reminder interval is 0 (none) to 10080 minutes.",
                      details=[{"field": "reminder_minutes", "message": "0 to 10080"}])
    return int(minutes)


class ChannelUpdate(BaseModel):
    """Fields to change; `url` empty or absent keeps the stored URL."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    url: str | None = Field(default=None, description="A new URL; empty keeps the current one.")
    enabled: bool | None = None
    services: list[str] | None = None
    tags: list[str] | None = None
    endpoints: list[str] | None = None
    events: list[str] | None = None
    reminder_minutes: int | None = None


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    url: str
    enabled: bool = True
    services: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    endpoints: list[str] = Field(default_factory=list)
    events: list[str] | None = Field(default=None, description="down, recovery, degraded, cert_expiry; "
                                     "absent: all.")
    reminder_minutes: int = 0

    @field_validator("reminder_minutes")
    @classmethod
    def _minutes(cls, value: int) -> int:
        return clean_reminder(value)
