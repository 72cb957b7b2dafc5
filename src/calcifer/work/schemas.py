from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from calcifer.changelog.choices import ChangeType
from calcifer.work.choices import ReviewAction, ReviewState, ReviewVerdict, WorkAction, WorkStatus

NOTES_MAX = 2000
COMMENT_MAX = 2000  # characters in a review comment
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SERVICE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def clean_title(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise ValueError("give the work item a title")
    if len(value) > 200:
        raise ValueError(f"use at most 200 characters (this one has {len(value)})")
    if _CONTROL.search(value):
        raise ValueError("remove control characters from the title")
    return value


def clean_service(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not SERVICE_SLUG.match(value):
        raise ValueError("a service slug uses lowercase letters, digits and dashes (e.g. grafana)")
    return value


class WorkItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="One line, at most 200 characters.")
    category: str
    action: WorkAction
    description: str = Field(default="", max_length=20_000)
    service: str | None = Field(default=None, description="Linked catalog service slug.")
    assignee: str | None = Field(default=None, description="Username.")

    _title = field_validator("title")(clean_title)
    _service = field_validator("service")(clean_service)


class WorkItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    description: str | None = Field(default=None, max_length=20_000)
    service: str | None = None
    assignee: str | None = None
    status: WorkStatus | None = Field(default=None, description="planning or in_progress; use merge to "
                                      "complete and DELETE to cancel.")
    notes: str | None = Field(default=None, max_length=NOTES_MAX)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else clean_title(value)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        return clean_service(value)


class ChecklistEntry(BaseModel):
    text: str
    done: bool


class ChecklistToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    done: bool


class ChecklistAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=300)


class WorkItemPublic(BaseModel):
    id: int
    title: str
    slug: str
    category: str
    action: str
    description: str
    service: str | None
    status: WorkStatus
    notes: str
    branch: str
    worktree: str | None = Field(description="The worktree's path on the server; null for viewers.")
    base_commit: str
    merge_commit: str | None
    archive_tag: str | None
    author: str | None
    assignee: str | None
    checklist: list[ChecklistEntry]
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


class ChangelogInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ChangeType
    text: str = Field(min_length=1, max_length=300)


class CommitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=5000)
    files: list[str] | None = Field(default=None, description="Paths to commit; all changes when omitted.")
    changelog: ChangelogInput | None = None


class FileContent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(max_length=1_048_576)


class ProblemPublic(BaseModel):
    code: str
    message: str
    path: str | None = Field(default=None, description="The file the problem is in, when it has a place.")
    line: int | None = None


class MergeCheck(BaseModel):
    ready: bool
    problems: list[ProblemPublic] = Field(description="Unmet rules: each one refuses the merge (409).")
    warnings: list[ProblemPublic] = Field(default_factory=list,
                                          description="Listed for the author; they do not refuse the merge.")
    on_main: list[ProblemPublic] = Field(default_factory=list,
                                         description="Problems main already has that the branch did not "
                                                     "cause; shown apart, never refusing.")


class ChecklistTemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[str] = Field(max_length=50)


class WorkItemListPublic(BaseModel):
    items: list[WorkItemPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class FileChangePublic(BaseModel):
    path: str
    status: str = Field(description="added, modified, deleted or conflicted")
    binary: bool
    diff: str = Field(description="Unified diff; empty for binary files.")


class ChangesPublic(BaseModel):
    items: list[FileChangePublic] = Field(description="Uncommitted changes, by path.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class CommitPublic(BaseModel):
    id: str
    short_id: str
    message: str
    summary: str
    author: str
    email: str
    time: dt.datetime


class CommitListPublic(BaseModel):
    items: list[CommitPublic] = Field(description="Commits main lacks, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class CommitCreatedPublic(BaseModel):
    id: str = Field(description="The new commit's id.")


class BranchPublic(BaseModel):
    exists: bool
    merged: bool
    ahead: int = Field(description="Commits on the branch that main lacks.")
    behind: int = Field(description="Commits on main that the branch lacks.")
    conflicts: list[str] = Field(description="Files that would conflict merging into main.")


class UpdateFromMainPublic(BaseModel):
    conflicts: list[str]
    clean: bool


class ChecklistTemplatePublic(BaseModel):
    category: str
    action: str
    items: list[str]
    customised: bool


class ChecklistTemplateListPublic(BaseModel):
    items: list[ChecklistTemplatePublic] = Field(
        description="Every category and action, categories in the configured order, then actions.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ChecklistTemplateSaved(BaseModel):
    category: str
    action: str
    items: list[str]


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: ReviewAction = Field(description="approve or changes_requested (not by the work item's author), "
                                              "or request: ask for a review.")
    comment: str = Field(default="", max_length=COMMENT_MAX,
                         description="Required with changes_requested; at most 2000 characters.")


class ReviewPublic(BaseModel):
    id: int
    work_item_id: int
    reviewer: str
    verdict: ReviewVerdict
    comment: str
    commit: str | None = Field(description="The branch tip the review was given at.")
    created_at: dt.datetime


class CurrentVerdictPublic(BaseModel):
    reviewer: str
    verdict: ReviewVerdict
    comment: str
    commit: str | None
    at: dt.datetime
    stale: bool = Field(description="An approval of an earlier commit, dismissed by newer commits.")


class ReviewSummaryPublic(BaseModel):
    state: ReviewState
    required: bool = Field(description="Merging needs an approval (preference merges_need_approval).")
    branch_tip: str | None
    approvals: list[str]
    stale_approvals: list[str]
    changes_requested: list[str]
    requested_by: str | None
    requested_at: dt.datetime | None
    reviewers: list[CurrentVerdictPublic] = Field(description="Each reviewer's latest verdict.")


class ReviewListPublic(BaseModel):
    items: list[ReviewPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
    summary: ReviewSummaryPublic


# -- conflicts left by an update from main ------------------------------------------------------------

class LineRangePublic(BaseModel):
    start: int = Field(description="The first line, numbered from 1 (for no lines: where they would start).")
    count: int


class ConflictHunkPublic(BaseModel):
    number: int = Field(description="From 1, in the file's order; what `choices[].hunk` names.")
    base: str = Field(description="The lines as they were where the branch left main.")
    ours: str = Field(description="The lines as the work item's branch has them.")
    theirs: str = Field(description="The lines as main has them.")
    base_lines: LineRangePublic
    ours_lines: LineRangePublic
    theirs_lines: LineRangePublic
    resolved: bool = Field(description="No longer between conflict markers in the merged text.")


class ConflictFilePublic(BaseModel):
    path: str
    resolved: bool = Field(description="Its merged content is staged: nothing left to decide in it.")
    text: bool = Field(description="Every version is text (False: binary, a link, or too large; keep a side).")
    base: str | None
    ours: str | None
    theirs: str | None
    ours_deleted: bool = Field(description="The branch deleted the file.")
    theirs_deleted: bool = Field(description="Main deleted the file.")
    merged: str | None = Field(description="The merged text so far (undecided hunks between conflict markers).")
    hunks: list[ConflictHunkPublic]
    unresolved_hunks: int


class ConflictListPublic(BaseModel):
    items: list[ConflictFilePublic]
    next_cursor: str | None = None
    unresolved: list[str] = Field(description="Paths still conflicted (all of them, whatever the page).")


class HunkChoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hunk: int = Field(ge=1, le=100_000, description="The hunk's number.")
    take: Literal["ours", "theirs", "both"] | None = Field(
        default=None, description="ours, theirs, or both (ours then theirs).")
    text: str | None = Field(default=None, max_length=1_048_576, description="The hunk's lines, written by hand.")


class ConflictResolve(BaseModel):
    """Exactly one of `content`, `choices` or `take`."""

    model_config = ConfigDict(extra="forbid")

    content: str | None = Field(default=None, max_length=1_048_576,
                                description="The whole merged text; staged once no conflict marker is left.")
    choices: list[HunkChoiceIn] | None = Field(default=None, max_length=1000,
                                               description="Per hunk: a side to take, or its text.")
    take: Literal["ours", "theirs"] | None = Field(
        default=None, description="The whole file as one side has it (a side that deleted it deletes it).")


class ConflictsResolvedPublic(BaseModel):
    commit: str = Field(description="The merge commit (parents: the branch's tip and main's merged commit).")
