"""Shapes of the changelog's JSON API: main's CHANGES.md entries, plain and with their work items."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

NEXT_CURSOR = "Pass as `cursor` for the next page; null on the last."


class ChangelogEntryPublic(BaseModel):
    section: str
    date: dt.date | None
    type: str | None
    text: str
    work_item_id: int | None


class ChangelogListPublic(BaseModel):
    items: list[ChangelogEntryPublic]
    next_cursor: str | None = Field(default=None, description=NEXT_CURSOR)


class ChangelogRowPublic(BaseModel):
    section: str
    date: dt.date | None
    type: str | None
    text: str
    work_item_id: int | None
    work_item_title: str | None
    service: str | None
    commit: str | None


class ChangelogRowListPublic(BaseModel):
    items: list[ChangelogRowPublic]
    next_cursor: str | None = Field(description=NEXT_CURSOR)
