"""Shapes of the notification channels' JSON API: channels (URL masked) and their deliveries."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


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
