"""Shapes of the docs' JSON API: docs on main, their history and diffs, edits on work items, templates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calcifer.work.schemas import WorkItemPublic

NEXT_CURSOR = "Pass as `cursor` for the next page; null on the last."


class DocSummaryPublic(BaseModel):
    path: str
    title: str | None
    updated_at: dt.datetime | None
    commit: str | None
    template: bool


class DocListPublic(BaseModel):
    items: list[DocSummaryPublic]
    next_cursor: str | None = Field(description=NEXT_CURSOR)
    limit: int


class DocCommitPublic(BaseModel):
    id: str
    short_id: str
    summary: str
    author: str
    time: dt.datetime


class HistoryEntryPublic(BaseModel):
    commit: DocCommitPublic | None
    change: str
    work_item_id: int | None
    work_item_title: str | None


class DocHistoryPublic(BaseModel):
    path: str
    exists: bool = Field(description="The doc exists on main.")
    items: list[HistoryEntryPublic]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class DocDiffPublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    path: str
    from_: DocCommitPublic | None = Field(alias="from")
    to: DocCommitPublic | None
    identical: bool
    truncated: bool
    added: int
    removed: int
    diff: str = Field(description="Unified diff text.")


class TocEntryPublic(BaseModel):
    level: int
    text: str
    anchor: str


class BacklinkPublic(BaseModel):
    kind: str = Field(description="doc or service")
    key: str
    title: str
    url: str


class DocPublic(BaseModel):
    path: str
    markdown: str
    html: str = Field(description="Sanitised HTML.")
    title: str | None
    toc: list[TocEntryPublic]
    front_matter: dict[str, Any]
    links: list[str]
    backlinks: list[BacklinkPublic]
    last_commit: HistoryEntryPublic | None
    commit: str


class WorkDocPublic(BaseModel):
    path: str
    content: str
    exists: bool
    source: str = Field(description='"main", "work item" (its worktree changed it) or "new"')


class LinkRefPublic(BaseModel):
    path: str
    line: int
    target: str
    where: str = Field(description='"branch" (the work item\'s worktree) or "main"')


class DocChangePublic(BaseModel):
    work_item_id: int
    commit: str
    path: str
    operation: str = Field(description="created, updated, deleted or renamed")
    old_path: str | None
    linking_docs: list[LinkRefPublic]
    updated_docs: list[str]
    unfilled_placeholders: list[str]


class TemplatePublic(BaseModel):
    name: str
    path: str
    title: str
    description: str
    placeholders: list[str]
    source: str = Field(description='"main" (docs/_templates/) or "default" (shipped with Calcifer)')
    text: str | None = Field(default=None, description="The template itself (single template only).")


class TemplateListPublic(BaseModel):
    items: list[TemplatePublic]
    source: str
    message: str
    known_placeholders: list[str]


class PreviewPublic(BaseModel):
    html: str
    title: str | None


class StandardDocChangePublic(BaseModel):
    work_item: WorkItemPublic
    change: DocChangePublic
