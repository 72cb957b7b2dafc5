"""Shapes of the webhooks API: webhooks (the secret is write-only) and their deliveries."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

NAME_MAX = 100
SECRET_MAX = 256
FILTER_MAX = 200      # entries in one filter list
FILTER_ITEM_MAX = 100  # characters of one entry


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Where deliveries are POSTed: an http:// or https:// URL.")
    events: list[str] = Field(description="Event names, e.g. work_item.merged (see docs/webhooks.md).")
    secret: str = Field(description="Signs every delivery (X-Calcifer-Signature). Stored sealed; never shown again.")
    name: str = Field(default="", description="What the Settings page calls it (default: the URL's host).")
    services: list[str] = Field(default_factory=list, description="Only events about these services.")
    tags: list[str] = Field(default_factory=list, description="Only events about services with one of these tags.")
    categories: list[str] = Field(default_factory=list, description="Only work items of these categories.")
    enabled: bool = True


class WebhookUpdate(BaseModel):
    """Fields to change; ``secret`` absent or empty keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    events: list[str] | None = None
    secret: str | None = Field(default=None, description="A new secret; absent keeps the current one.")
    name: str | None = None
    services: list[str] | None = None
    tags: list[str] | None = None
    categories: list[str] | None = None
    enabled: bool | None = None


class WebhookPublic(BaseModel):
    id: int
    name: str
    url: str
    events: list[str]
    services: list[str]
    tags: list[str]
    categories: list[str]
    enabled: bool
    secret_set: bool = Field(description="Always true: the secret is stored sealed and never returned.")
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class WebhookListPublic(BaseModel):
    items: list[WebhookPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class DeliveryPublic(BaseModel):
    id: int
    delivery: str = Field(description="The X-Calcifer-Delivery header's value.")
    webhook_id: int
    kind: str
    event: str
    event_id: int | None
    status: str
    attempts: int
    response_code: int | None
    response_ms: int | None
    last_error: str
    created_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = Field(description="When it is retried (pending only).")
    delivered_at: dt.datetime | None


class DeliveryListPublic(BaseModel):
    items: list[DeliveryPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
