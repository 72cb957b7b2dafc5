"""Shapes of the audit log's JSON API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryPublic(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    summary: str
    before: Any = Field(description="The object's fields before the change (null when created).")
    after: Any = Field(description="The object's fields after the change (null when deleted).")


class AuditListPublic(BaseModel):
    items: list[AuditEntryPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
