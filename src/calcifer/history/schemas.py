"""API shapes of main's history."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class CommitSummaryPublic(BaseModel):
    id: str
    short_id: str
    summary: str
    author: str
    author_email: str
    time: dt.datetime
    parents: list[str]
    work_item_id: int | None = Field(description="The work item the commit came from (its Work-Item trailer).")
    work_item_title: str | None
    files_changed: int = Field(description="Files the commit changed against its first parent.")
    files: list[str] = Field(description="The changed files' paths (at most 50).")


class CommitListPublic(BaseModel):
    items: list[CommitSummaryPublic]
    next_cursor: str | None = Field(description="Pass as cursor for the next (older) page; null at the end.")
    path: str | None


class FileDiffPublic(BaseModel):
    path: str
    old_path: str | None
    status: str
    binary: bool
    additions: int
    deletions: int
    diff: str = Field(description="Unified diff; empty for binary files.")
    truncated: bool = Field(description="The diff was cut (64 KiB a file, 1 MiB a commit).")


class CommitDetailPublic(BaseModel):
    commit: CommitSummaryPublic
    message: str
    files: list[FileDiffPublic]
    truncated: bool
    files_left_out: int


class ComparedCommitPublic(BaseModel):
    id: str
    short_id: str
    summary: str
    author: str
    time: dt.datetime
    work_item_id: int | None
    work_item_title: str | None


class ComparedFilePublic(FileDiffPublic):
    pass


class ComparePublic(BaseModel):
    base: str
    head: str
    base_commit: str
    head_commit: str
    merge_base: str | None = Field(description="Where head left base; null when they share no history.")
    commits: list[ComparedCommitPublic] = Field(description="Head's commits that base lacks, newest first "
                                                "(at most 250; commits_total counts them all).")
    commits_total: int
    files: list[ComparedFilePublic] = Field(description="Files changed from merge_base to head, renames "
                                            "detected (at most 300; files_total counts them all).")
    files_total: int
