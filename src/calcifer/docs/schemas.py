"""Shapes of the docs' JSON API: docs on main, their history and diffs, edits on work items, templates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calcifer.work.schemas import ChangelogInput, WorkItemPublic

CONTENT_MAX = 1_048_576  # characters in one doc written through the API

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
    items: list[TemplatePublic] = Field(description="By name.")
    next_cursor: str | None = Field(description=NEXT_CURSOR)
    source: str
    message: str
    known_placeholders: list[str]


class PreviewPublic(BaseModel):
    html: str
    title: str | None


class StandardDocChangePublic(BaseModel):
    work_item: WorkItemPublic
    change: DocChangePublic


class DocWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(max_length=CONTENT_MAX, description="The whole doc, markdown.")
    changelog: ChangelogInput | None = Field(default=None, description='Default: "Added doc <path>" or '
                                             '"Changed doc <path>".')
    message: str | None = Field(default=None, max_length=5000, description="Commit message (default: the "
                                "changelog entry).")


class DocDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changelog: ChangelogInput | None = None
    message: str | None = Field(default=None, max_length=5000)


class DocRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(max_length=1000)
    new_path: str = Field(max_length=1000)
    update_links: bool = Field(default=False, description="Rewrite links to the old path in the branch's "
                               "docs (and the moved doc's own relative links) in the same commit.")
    changelog: ChangelogInput | None = None
    message: str | None = Field(default=None, max_length=5000)


class DocFromTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = Field(max_length=200, description="Template name, e.g. runbook.")
    path: str = Field(max_length=1000)
    service: str | None = Field(default=None, max_length=100, description="Service slug to fill service.*")
    title: str = Field(default="", max_length=200)
    changelog: ChangelogInput | None = None
    message: str | None = Field(default=None, max_length=5000)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    markdown: str = Field(max_length=CONTENT_MAX)
    path: str = Field(default="", max_length=1000, description="The doc's path (resolves relative links).")


class StandardDocChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operation: str = Field(description="save, delete or rename")
    path: str = Field(max_length=1000)
    summary: str = Field(max_length=200, description="One line: the work item's title and notes.")
    content: str | None = Field(default=None, max_length=CONTENT_MAX)
    new_path: str | None = Field(default=None, max_length=1000)
    update_links: bool = False
