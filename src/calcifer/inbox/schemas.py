"""Notification, preference and SMTP shapes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class NotificationPublic(BaseModel):
    id: int
    kind: str
    text: str
    url: str
    read: bool
    created_at: dt.datetime


class NotificationListPublic(BaseModel):
    items: list[NotificationPublic]
    next_cursor: str | None
    unread: int


class UnreadPublic(BaseModel):
    unread: int


class PreferencesUpdate(BaseModel):
    preferences: dict[str, dict[str, bool]] = Field(
        default_factory=dict, description="{kind: {channel: on}}; channels: in_app, email, apprise; "
        "kinds not given keep what they had")
    apprise_url: str | None = Field(default=None, max_length=2000,
                                    description="your own apprise URL; \"\" removes it, absent keeps it")


class PreferencesPublic(BaseModel):
    preferences: dict[str, dict[str, bool]]
    apprise_url_set: bool
    apprise_url: str | None = Field(description="masked: scheme and host only")
    email: str


class SmtpUpdate(BaseModel):
    host: str = Field(default="", max_length=255)
    port: int = Field(default=25, ge=1, le=65535)
    security: str = Field(default="none", pattern="^(none|starttls|tls)$")
    username: str = Field(default="", max_length=255)
    password: str | None = Field(default=None, max_length=500, description="absent keeps the stored one")
    sender: str = Field(default="", max_length=254)
    base_url: str = Field(default="", max_length=500, description="where links in mails point, e.g. "
                          "https://calcifer.example.org")
    digest_minutes: int = Field(default=10, ge=0, le=1440)


class SmtpPublic(BaseModel):
    host: str
    port: int
    security: str
    username: str
    password_set: bool
    sender: str
    base_url: str
    digest_minutes: int
