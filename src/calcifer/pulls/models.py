"""The forge's settings (one row; the API token sealed) and one pull request per work item."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow


class ForgeConfig(Base):
    """Where pull requests are opened. The token is sealed (``calcifer.sealed``), never shown back."""

    __tablename__ = "forge_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    kind: Mapped[str] = mapped_column(String(16))              # choices.ForgeKind
    api_url: Mapped[str] = mapped_column(String(1000))
    repository: Mapped[str] = mapped_column(String(300))       # owner/name, or GitLab's project path or id
    token_sealed: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PullRequest(Base):
    """A work item's pull request on the forge (the latest one: a closed one can be replaced)."""

    __tablename__ = "pull_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))               # the forge it was opened on
    number: Mapped[int] = mapped_column(Integer)                # GitHub/Gitea number, GitLab iid
    url: Mapped[str] = mapped_column(String(1000))              # the forge's page of it
    state: Mapped[str] = mapped_column(String(16), default="open")  # choices.PullState
    branch: Mapped[str] = mapped_column(String(300))
    head_commit: Mapped[str] = mapped_column(String(64))        # the branch tip as last pushed
    merge_commit: Mapped[str] = mapped_column(String(64), default="")  # as the forge reports it
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")  # the forge's message, when it last failed
    comment_key: Mapped[str] = mapped_column(String(64), default="")  # digest of the problems last posted
    settled: Mapped[bool] = mapped_column(Boolean, default=False)  # the work item is complete or cancelled
