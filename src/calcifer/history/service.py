"""Main's history: the commits on main's first-parent line, each with its work item, files and diff.

Calcifer lands every work item as a merge commit with a ``Work-Item: N`` trailer, so main's
first-parent line reads as one entry per landed change. The work item is found the way the docs'
history finds it (``docs.service.work_item_from_message``), and a path filter keeps the commits whose
version of that path (a file or a folder) differs from their first parent's, as a doc's history does.
A commit's diff is taken against its first parent: for a merge, what it brought into main.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from calcifer.docs import history as docs_history
from calcifer.errors import Invalid, NotFound
from calcifer.gitrepo import (
    Commit,
    CommitInfo,
    DeltaStatus,
    Diff,
    GitError,
    Oid,
    Patch,
    Repository,
    bare_repo,
    commit_info,
    main_oid,
)
from calcifer.history.diffview import MAX_LINES, FileView, file_view
from calcifer.listing import decode_cursor, encode_cursor
from calcifer.work import service as work_service

MAIN_REF = "main"
MAX_LIMIT = 100
MAX_SCAN = 20_000  # first-parent commits walked per page when a path filter skips most of them
MAX_LISTED_FILES = 50  # paths named per commit in a list; the count is always exact
MAX_FILES = 500  # files shown in one commit's detail
MAX_FILE_DIFF_BYTES = 64 * 1024
MAX_TOTAL_DIFF_BYTES = 1024 * 1024
MAX_PATH_LENGTH = 1024

_ID = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass(frozen=True)
class CommitEntry:
    commit: CommitInfo
    work_item_id: int | None
    work_item_title: str | None
    files_changed: int
    files: list[str]  # at most MAX_LISTED_FILES of them


@dataclass(frozen=True)
class CommitPage:
    entries: list[CommitEntry]
    next_cursor: str | None
    path: str | None


@dataclass(frozen=True)
class FileDiff:
    path: str
    old_path: str | None  # set when renamed
    status: str  # "added" | "modified" | "deleted" | "renamed" | "typechange"
    binary: bool
    additions: int
    deletions: int
    diff: str  # unified diff; "" for binary files and for diffs cut by the total cap
    truncated: bool  # the diff was cut (per-file or total cap)


@dataclass(frozen=True)
class CommitDetail:
    entry: CommitEntry
    files: list[FileDiff]
    truncated: bool  # some file's diff was cut, or files beyond MAX_FILES were left out
    files_left_out: int
    views: list[FileView] = field(default_factory=list)  # the files drawn for the page (asked for)


_STATUS = {
    DeltaStatus.ADDED: "added",
    DeltaStatus.DELETED: "deleted",
    DeltaStatus.RENAMED: "renamed",
    DeltaStatus.TYPECHANGE: "typechange",
}


def _clean_path(path: str | None) -> str | None:
    if path is None:
        return None
    clean = path.strip().strip("/")
    if not clean:
        return None
    if len(clean) > MAX_PATH_LENGTH or "\x00" in clean or any(p in ("", ".", "..") for p in clean.split("/")):
        raise Invalid("path must be a file or folder path in the repository, e.g. catalog/services/web.yaml.",
                      code="bad_path")
    return clean


def _check_ref(ref: str) -> None:
    if ref != MAIN_REF:
        raise Invalid(f"ref must be {MAIN_REF!r}: history follows main only.", code="bad_ref")


def _diff(repo: Repository, commit: Commit) -> Diff:
    if commit.parent_ids:
        parent = repo[commit.parent_ids[0]].peel(Commit)
        return parent.tree.diff_to_tree(commit.tree)
    return commit.tree.diff_to_tree(swap=True)


def _delta_paths(diff: Diff) -> list[str]:
    return [delta.new_file.path if delta.status != DeltaStatus.DELETED else delta.old_file.path
            for delta in diff.deltas]


def _entries(session: Session, repo: Repository, commits: list[Commit]) -> list[CommitEntry]:
    infos = [commit_info(c) for c in commits]
    ids = [docs_history.work_item_from_message(info.message) for info in infos]
    items = work_service.get_work_items(session=session, ids={i for i in ids if i is not None})
    entries = []
    for commit, info, wid in zip(commits, infos, ids, strict=True):
        paths = _delta_paths(_diff(repo, commit))
        item = items.get(wid) if wid is not None else None
        entries.append(CommitEntry(commit=info, work_item_id=wid,
                                   work_item_title=item.title if item is not None else None,
                                   files_changed=len(paths), files=paths[:MAX_LISTED_FILES]))
    return entries


def _start(repo: Repository, cursor: str | None) -> Commit | None:
    main = repo[main_oid(repo)].peel(Commit)
    if not cursor:
        return main
    value = decode_cursor(cursor, 1)[0]
    if not isinstance(value, str) or not _ID.match(value) or len(value) != 40:
        raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
    oid = Oid(hex=value)
    target = repo.get(oid)
    if not isinstance(target, Commit) or (oid != main.id and not repo.descendant_of(main.id, oid)):
        raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
    return target


def list_commits(*, session: Session, repo_path: Path, ref: str = MAIN_REF, path: str | None = None,
                 limit: int = 50, cursor: str | None = None) -> CommitPage:
    """Main's first-parent commits, newest first, ``limit`` (at most 100) a page; with ``path``, only
    those that changed that file or folder. ``next_cursor`` continues further back (None at the end).

    Raises Invalid for a ref other than main, a bad path or cursor; NotFound when main does not exist.
    """
    _check_ref(ref)
    clean = _clean_path(path)
    limit = max(1, min(int(limit), MAX_LIMIT))
    repo = bare_repo(repo_path)
    start = _start(repo, cursor)
    commits: list[Commit] = []
    next_commit: str | None = None
    if clean is None:
        commit: Commit | None = start
        while commit is not None and len(commits) < limit:
            commits.append(commit)
            commit = repo[commit.parent_ids[0]].peel(Commit) if commit.parent_ids else None
        next_commit = str(commit.id) if commit is not None else None
    elif start is not None:
        changes, next_commit = docs_history.first_parent_changes(repo, start, clean, limit=limit,
                                                                  max_scan=MAX_SCAN)
        commits = [c for c, _ in changes]
    return CommitPage(entries=_entries(session, repo, commits),
                      next_cursor=encode_cursor([next_commit]) if next_commit else None, path=clean)


def _resolve(repo: Repository, commit_id: str) -> Commit:
    if not isinstance(commit_id, str) or not _ID.match(commit_id):
        raise Invalid(f"{str(commit_id)[:80]!r} is not a commit id: use 7 to 40 hexadecimal digits.",
                      code="bad_commit_id")
    try:
        found = repo.revparse_single(commit_id.lower()) if len(commit_id) < 40 else repo.get(commit_id.lower())
    except (KeyError, ValueError, GitError):
        found = None
    if not isinstance(found, Commit):
        raise NotFound(f"There is no commit {commit_id} in the repository.")
    return found


def _file_diff(patch: Patch, budget: int) -> FileDiff:
    delta = patch.delta
    status = _STATUS.get(delta.status, "modified")
    path = delta.old_file.path if status == "deleted" else delta.new_file.path
    old_path = delta.old_file.path if status == "renamed" else None
    _, additions, deletions = patch.line_stats
    if delta.is_binary:
        return FileDiff(path=path, old_path=old_path, status=status, binary=True, additions=0, deletions=0,
                        diff="", truncated=False)
    data = patch.data
    cap = min(MAX_FILE_DIFF_BYTES, budget)
    truncated = len(data) > cap
    if truncated:
        data = data[:cap]
        data = data[:data.rfind(b"\n") + 1]  # whole lines only
    return FileDiff(path=path, old_path=old_path, status=status, binary=False, additions=additions,
                    deletions=deletions, diff=data.decode("utf-8", errors="replace"), truncated=truncated)


def commit_detail(*, session: Session, repo_path: Path, commit_id: str, views: bool = False) -> CommitDetail:
    """One commit (7 to 40 hex digits), its work item and every file it changed against its first
    parent, each with a unified diff. Binary files are named without a diff; a file's diff is cut at
    64 KiB and the whole commit's at 1 MiB, and the cut files say so (``truncated``).

    Raises Invalid for a malformed id, NotFound for an id naming no commit.
    """
    repo = bare_repo(repo_path)
    commit = _resolve(repo, commit_id)
    entry = _entries(session, repo, [commit])[0]
    diff = _diff(repo, commit)
    budget = MAX_TOTAL_DIFF_BYTES
    files: list[FileDiff] = []
    drawn: list[FileView] = []
    # Only the files shown get a patch made: a commit that adds thousands of files costs their deltas only.
    for index in range(min(len(diff), MAX_FILES)):
        patch = diff[index]
        if patch is None:
            continue
        file = _file_diff(patch, budget)
        budget -= len(file.diff.encode("utf-8", errors="replace"))
        files.append(file)
        if views:
            drawn.append(file_view(patch, max_lines=max(0, file.diff.count("\n")) if file.truncated else MAX_LINES))
    left_out = len(diff) - len(files)
    truncated = left_out > 0 or any(f.truncated for f in files)
    return CommitDetail(entry=entry, files=files, truncated=truncated, files_left_out=left_out, views=drawn)
