"""Comments (with their edit history) and watches.

A comment is about one target: ``(target_kind, target_key)`` where the key is a work item's or an
incident's id, a service's slug or a doc's path. A watch row stays when someone unwatches
(``watching`` false): an automatic watch (assignee, commenter...) must not come back by itself after
its person said no.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow


class Comment(Base):
    __tablename__ = "discussion_comments"
    __table_args__ = (Index("ix_discussion_comments_target", "target_kind", "target_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_key: Mapped[str] = mapped_column(String(300))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    author_name: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CommentEdit(Base):
    """A comment's body before one edit (newest edit last)."""

    __tablename__ = "discussion_comment_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("discussion_comments.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    editor_name: Mapped[str] = mapped_column(String(64))


class Watch(Base):
    __tablename__ = "discussion_watches"
    __table_args__ = (Index("ix_discussion_watches_user", "user_id"),)

    target_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    watching: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

