"""Comment, watch and timeline shapes for the API and forms."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

BODY_MAX = 20_000


class CommentCreate(BaseModel):
    body: str = Field(min_length=1, max_length=BODY_MAX, description="markdown (sanitised like docs)")


class CommentUpdate(BaseModel):
    body: str = Field(min_length=1, max_length=BODY_MAX)


class CommentEditPublic(BaseModel):
    body: str
    edited_at: dt.datetime
    editor: str


class CommentPublic(BaseModel):
    id: int
    target_kind: str
    target_key: str
    author: str
    body: str
    html: str
    created_at: dt.datetime
    edited_at: dt.datetime | None
    mentions: list[str]
    url: str


class CommentDetailPublic(CommentPublic):
    history: list[CommentEditPublic]


class CommentListPublic(BaseModel):
    items: list[CommentPublic]
    next_cursor: str | None


class WatchPublic(BaseModel):
    target_kind: str
    target_key: str
    watching: bool


class UsernameListPublic(BaseModel):
    items: list[str]


class TimelineEntryPublic(BaseModel):
    kind: str
    at: dt.datetime
    actor: str
    text: str
    comment_id: int | None = None
    html: str | None = None


class TimelinePublic(BaseModel):
    items: list[TimelineEntryPublic]
