"""Compare two refs (``/compare/{base}...{head}``, ``GET /api/v1/compare``): the commits ``head`` brings,
and every file changed since the two parted, drawn as ``diffview`` draws diffs.

A large comparison stays quick to open: files are listed up to MAX_FILES, and their diffs are drawn in
the page only until INLINE_LINES lines have been drawn; the rest load one file at a time on demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from calcifer import gitrepo
from calcifer.docs import history as docs_history
from calcifer.gitrepo import CommitInfo, Patch, commit_info
from calcifer.history.diffview import STATUS_NAMES, FileView, file_view
from calcifer.history.service import MAX_TOTAL_DIFF_BYTES, FileDiff, _file_diff
from calcifer.work import service as work_service

MAX_FILES = 300
INLINE_LINES = 3_000


@dataclass(frozen=True)
class ComparedCommit:
    commit: CommitInfo
    work_item_id: int | None
    work_item_title: str | None


@dataclass(frozen=True)
class ComparedFile:
    path: str
    old_path: str | None
    status: str
    binary: bool
    additions: int
    deletions: int
    view: FileView | None  # drawn in the page; None: loaded on demand (the page is long enough)


@dataclass(frozen=True)
class CompareResult:
    base: str
    head: str
    base_id: str
    head_id: str
    merge_base: str | None
    commits: list[ComparedCommit]
    commits_total: int
    files: list[ComparedFile]
    files_total: int
    texts: list[FileDiff]  # unified diffs of the files, for the API (empty unless asked for)


def _commits(session: Session, comparison: gitrepo.Comparison) -> list[ComparedCommit]:
    infos = [commit_info(c) for c in comparison.commits]
    ids = [docs_history.work_item_from_message(info.message) for info in infos]
    items = work_service.get_work_items(session=session, ids={i for i in ids if i is not None})
    return [ComparedCommit(info, wid, items[wid].title if wid in items else None)
            for info, wid in zip(infos, ids, strict=True)]


def _patches(comparison: gitrepo.Comparison) -> list[Patch]:
    diff = comparison.diff
    return [p for p in (diff[i] for i in range(min(len(diff), MAX_FILES))) if p is not None]


def compare(*, session: Session, repo_path: Path, base: str, head: str, inline_lines: int = INLINE_LINES,
            texts: bool = False) -> CompareResult:
    """``base...head``: what ``head`` changed since it left ``base``; with ``texts``, every listed file's
    unified diff too (a file cut at 64 KiB, all at 1 MiB, as a commit's). Raises Invalid for a malformed
    ref, NotFound for one that names nothing."""
    comparison = gitrepo.compare(repo_path=repo_path, base=base, head=head)
    files: list[ComparedFile] = []
    diffs: list[FileDiff] = []
    budget = MAX_TOTAL_DIFF_BYTES
    drawn = 0
    # One patch per file, made once: the page's view and the API's text both come from it.
    for patch in _patches(comparison):
        _, additions, deletions = patch.line_stats
        view = None
        if drawn + additions + deletions <= inline_lines:
            view = file_view(patch)
            drawn += view.line_count
        if texts:
            text = _file_diff(patch, budget)
            budget -= len(text.diff.encode("utf-8", errors="replace"))
            diffs.append(text)
        delta = patch.delta
        status = view.status if view else _status(patch)
        files.append(ComparedFile(
            path=delta.old_file.path if status == "deleted" else delta.new_file.path,
            old_path=delta.old_file.path if status in ("renamed", "copied") else None, status=status,
            binary=bool(delta.is_binary), additions=0 if delta.is_binary else additions,
            deletions=0 if delta.is_binary else deletions, view=view))
    return CompareResult(base=base, head=head, base_id=str(comparison.base.id), head_id=str(comparison.head.id),
                         merge_base=str(comparison.merge_base) if comparison.merge_base else None,
                         commits=_commits(session, comparison), commits_total=comparison.commits_total,
                         files=files, files_total=len(comparison.diff), texts=diffs)


def _status(patch: Patch) -> str:
    return STATUS_NAMES.get(patch.delta.status, "modified")


def compare_file(*, repo_path: Path, base: str, head: str, path: str, old_path: str | None = None) -> FileView:
    """One changed file of ``base...head`` (``old_path``: where a renamed one came from), drawn whole (up
    to diffview.MAX_LINES lines): only that file is diffed, not the whole comparison again."""
    found = gitrepo.compare_file(repo_path=repo_path, base=base, head=head, path=path, old_path=old_path)
    return file_view(found.patch, status=found.status)
