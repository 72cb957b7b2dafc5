"""The search index: one row per searchable thing (doc, service, endpoint, work item, changelog entry).

Everything here is derived (from main's files, the catalog index and work items) and rebuilt by
``index_sync.refresh``. The full-text index itself depends on the engine and is made by migration 0004:

- SQLite: ``search_fts``, an FTS5 table over ``title`` and ``body`` with ``search_documents`` as its
  external content, kept in step by triggers on ``search_documents``;
- PostgreSQL: tsvector columns on ``search_documents``, ``tsv`` (title weighted A, body B) and
  ``title_tsv`` (the title alone), each with a GIN index. They are not mapped here: only ``engines``
  writes them, in SQL, with the row.

On SQLite a row's id also tells its kind (``choices.SearchKind.code``), see ``engines._SQLite``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime


class SearchDocument(Base):
    __tablename__ = "search_documents"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Unique within its kind: a doc's path, a service's slug, a work item's id, a changelog entry's hash.
    key: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2048))
    meta: Mapped[str] = mapped_column(String(500), default="")  # one line shown under the title
    # What the row was built from (a blob id, or a hash of the source): unchanged means no re-index.
    version: Mapped[str] = mapped_column(String(64))
    # Last, so that SQLite reads the columns before it without touching a long body's overflow pages.
    body: Mapped[str] = mapped_column(Text)


class SearchState(Base):
    """The single row (id 1) saying what the index mirrors."""

    __tablename__ = "search_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    main_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)  # docs and CHANGES.md
    changelog_blob: Mapped[str | None] = mapped_column(String(64), nullable=True)
    catalog_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the catalog index's
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
