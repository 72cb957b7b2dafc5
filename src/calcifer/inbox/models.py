"""Personal notifications, each person's channel settings and preferences, the SMTP settings, and the
assignee each work item had when the inbox last heard of it (to tell a new assignment from an edit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow

RowId = BigInteger().with_variant(Integer(), "sqlite")


class Notification(Base):
    """``event_id`` + ``user_id`` is unique: an outbox event notifies each person once, however often
    it is read (a consumer that crashed before advancing its cursor reads it again). ``mail_state``:
    ``choices.MailState``; a claimed row carries its sender's ``mail_claim`` token and ``mail_claimed_at``."""

    __tablename__ = "inbox_notifications"
    __table_args__ = (Index("ix_inbox_notifications_user", "user_id", "id"),
                      Index("uq_inbox_notifications_event_user", "event_id", "user_id", "kind", unique=True),
                      Index("ix_inbox_notifications_mail", "mail_state", "user_id"),
                      Index("ix_inbox_notifications_push", "push_pending"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(500))
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    mail_state: Mapped[str] = mapped_column(String(16), default="none")
    mail_claim: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # When ``mail_claim`` was taken: a claim older than ``inbox.service.MAIL_LEASE`` has lapsed.
    mail_claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    push_pending: Mapped[bool] = mapped_column(Boolean, default=False)


class PersonSettings(Base):
    """``apprise_sealed``: the person's apprise URL sealed (``calcifer.sealed``, purpose
    ``inbox-apprise``); ``preferences``: ``{kind: {channel: bool}}`` over the defaults."""

    __tablename__ = "inbox_person_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    apprise_sealed: Mapped[str] = mapped_column(Text, default="")
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_mail_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SmtpSettings(Base):
    """One row (id 1). ``password_sealed`` sealed with purpose ``inbox-smtp``."""

    __tablename__ = "inbox_smtp"

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=25)
    security: Mapped[str] = mapped_column(String(16), default="none")
    username: Mapped[str] = mapped_column(String(255), default="")
    password_sealed: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(254), default="")
    base_url: Mapped[str] = mapped_column(String(500), default="")
    digest_minutes: Mapped[int] = mapped_column(Integer, default=10)


class KnownAssignee(Base):
    __tablename__ = "inbox_known_assignees"

    work_item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), nullable=True)
