"""The docs index: main's docs/**.md mirrored into tables for the tree, titles and backlinks.

Everything here is rebuilt from git by ``docs.index_sync.sync_index``; the files stay the truth.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime


class DocPage(Base):
    """One markdown file under docs/ on main (templates under docs/_templates/ included, flagged)."""

    __tablename__ = "docs_index"

    path: Mapped[str] = mapped_column(String(255), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    blob_id: Mapped[str] = mapped_column(String(64))
    is_template: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # The last commit on main's first-parent line that changed the file, and its commit time.
    commit_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DocLink(Base):
    """``source`` links to ``target``. Each is a doc path or ``service:<slug>``.

    Sources are docs (their markdown links) and services (their spec's ``links``); targets are docs
    and services. A doc's backlinks are the rows whose target is that doc.
    """

    __tablename__ = "docs_links"
    __table_args__ = (Index("ix_docs_links_target", "target"),)

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    target: Mapped[str] = mapped_column(String(255), primary_key=True)


class DocsState(Base):
    """The single row saying which main commit (and catalog sync) the index mirrors."""

    __tablename__ = "docs_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    synced_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    catalog_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    docs: Mapped[int] = mapped_column(Integer, default=0)
    links: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
