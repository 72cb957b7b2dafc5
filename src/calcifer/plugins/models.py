"""Plugin toggles and the event consumer's position."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow

RowId = BigInteger().with_variant(Integer(), "sqlite")


class PluginState(Base):
    """An admin's choice for one installed plugin (a distribution name); no row: enabled."""

    __tablename__ = "plugin_states"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by_name: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PluginCursor(Base):
    """How far the plugin event consumer got in the domain-event outbox (advanced with a compare-and-set,
    so several consumers never hand an event to subscribers twice)."""

    __tablename__ = "plugin_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(RowId, default=0)
