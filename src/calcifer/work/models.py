from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from calcifer.auth.models import User
from calcifer.db import Base, UTCDateTime, utcnow


class WorkItem(Base):
    __tablename__ = "work_items"
    __table_args__ = (Index("ix_work_items_status_updated", "status", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(60))
    category: Mapped[str] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    service: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    branch: Mapped[str] = mapped_column(String(255), default="")
    worktree_path: Mapped[str] = mapped_column(String(1024), default="")
    base_commit: Mapped[str] = mapped_column(String(64), default="")
    merge_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    archive_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Set while a merge runs: the atomic claim that lets exactly one of concurrent merges proceed.
    merging_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                  nullable=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                    nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    author: Mapped[User | None] = relationship(foreign_keys=[author_id], lazy="joined")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    checklist: Mapped[list[ChecklistItem]] = relationship(
        back_populates="work_item", cascade="all, delete-orphan", order_by="ChecklistItem.position",
        lazy="selectin",
    )

    @property
    def worktree_name(self) -> str:
        return f"wi-{self.id}"


class ChecklistItem(Base):
    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"),
                                              index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(300))
    done: Mapped[bool] = mapped_column(Boolean, default=False)

    work_item: Mapped[WorkItem] = relationship(back_populates="checklist")


class ChecklistTemplate(Base):
    """Admin-edited checklist for a category × action; built-in defaults apply when absent."""

    __tablename__ = "checklist_templates"
    __table_args__ = (UniqueConstraint("category", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(16))
    items: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RepairReport(Base):
    """What start-up reconciliation found and repaired, shown to admins."""

    __tablename__ = "repair_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    work_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(1000))


class WorkReview(Base):
    """One entry of a work item's review history: a review request, an approval or a change request.

    `commit` is the branch tip the entry was made at, so an approval of an older tip is recognised as
    stale (see `calcifer.work.reviews`). `reviewer_name` keeps who it was after the account is deleted.
    """

    __tablename__ = "work_reviews"
    __table_args__ = (Index("ix_work_reviews_work_item_id_id", "work_item_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                    nullable=True)
    reviewer_name: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(24))
    comment: Mapped[str] = mapped_column(Text, default="")
    commit: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    reviewer: Mapped[User | None] = relationship(foreign_keys=[reviewer_id], lazy="joined")
