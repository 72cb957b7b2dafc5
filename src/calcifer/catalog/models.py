"""The catalog index: main's catalog files mirrored into tables for fast lists, filters and graphs.

Everything here is rebuilt from git by ``index.sync_from_git``; the files stay the truth.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow


class CatalogService(Base):
    __tablename__ = "catalog_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    host: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    depends_on: Mapped[list[str]] = mapped_column(JSON, default=list)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    file: Mapped[str] = mapped_column(String(1024))
    line: Mapped[int] = mapped_column(Integer, default=1)
    blob_id: Mapped[str] = mapped_column(String(64))
    # The indexed commit at which this file's current content was first seen, and when.
    commit_id: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class CatalogEndpoint(Base):
    __tablename__ = "catalog_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    service: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(16), index=True)
    target: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    interval: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[float] = mapped_column(Float)
    retries: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, index=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    file: Mapped[str] = mapped_column(String(1024))
    line: Mapped[int] = mapped_column(Integer, default=1)
    # True when listed in its service's file rather than a file of its own.
    nested: Mapped[bool] = mapped_column(Boolean, default=False)
    blob_id: Mapped[str] = mapped_column(String(64))
    commit_id: Mapped[str] = mapped_column(String(64))
    # indexed: the newest one is part of the signature the probes' plan checks per upload (monitoring.locations)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class CatalogProblem(Base):
    """A file that did not load (error) or looks wrong (warning), with where to look."""

    __tablename__ = "catalog_problems"
    __table_args__ = (Index("ix_catalog_problems_file_line", "file", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    file: Mapped[str] = mapped_column(String(1024))
    line: Mapped[int] = mapped_column(Integer, default=1)
    severity: Mapped[str] = mapped_column(String(16), index=True)
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    slug: Mapped[str | None] = mapped_column(String(63), nullable=True)


class CatalogTag(Base):
    """One row per service and tag, so a tag filter is an index lookup, not a JSON scan."""

    __tablename__ = "catalog_tags"
    __table_args__ = (Index("ix_catalog_tags_tag_service", "tag", "service_slug"),)

    service_slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    tag: Mapped[str] = mapped_column(String(63), primary_key=True)


class CatalogEdge(Base):
    """``from_slug`` needs ``to_slug``: it depends on it (``depends_on``) or runs on it (``host``).

    ``to_slug`` may name no indexed service (that is reported as a problem).
    """

    __tablename__ = "catalog_edges"
    __table_args__ = (Index("ix_catalog_edges_to_slug", "to_slug"),)

    from_slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    to_slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)


class CatalogState(Base):
    """The single row (id 1) saying which commit the index mirrors."""

    __tablename__ = "catalog_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    synced_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    services: Mapped[int] = mapped_column(Integer, default=0)
    endpoints: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)
