"""Plugin toggles (the event consumer's position is an outbox subscriber cursor)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow


class PluginState(Base):
    """An admin's choice for one installed plugin (a distribution name); no row: enabled."""

    __tablename__ = "plugin_states"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by_name: Mapped[str] = mapped_column(String(64), default="system")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
