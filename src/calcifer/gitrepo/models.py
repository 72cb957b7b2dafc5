"""Plain value types returned by the git layer (no pygit2 objects leak out of ``gitrepo``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# (base, ours, theirs) -> merged bytes. ``base`` is None when the file has no common ancestor.
FileMerger = Callable[[bytes | None, bytes, bytes], bytes]


@dataclass(frozen=True)
class Author:
    """Who a commit is written by (also used as committer)."""

    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    id: str
    short_id: str
    message: str
    summary: str
    author_name: str
    author_email: str
    time: datetime  # author time, tz-aware UTC
    parents: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # "added" | "modified" | "deleted" | "conflicted"
    diff: str  # unified diff text; "" for binary files
    binary: bool


@dataclass(frozen=True)
class BranchStatus:
    exists: bool
    merged: bool  # the branch tip is reachable from main (also when merged outside Calcifer)
    ahead: int  # commits on the branch that main lacks
    behind: int  # commits on main that the branch lacks
    conflicts: list[str] = field(default_factory=list)  # files that would conflict merging into main
