"""Finished worktrees kept for reuse ("spares"), so a new work item's checkout writes only what differs.

Checking out a worktree of main writes every file: at 10,000 files that takes seconds, bound by the
filesystem (and slower still right after another worktree was deleted: ext4 without a journal scans the
recently deleted inodes on every file it creates). A worktree whose work item was just merged is clean
and differs from the new main only by what was merged since. So instead of deleting it, its folder and
index move into a pool, and the next work item's worktree is made from a spare: one rename, then a
checkout that rewrites only the files that differ (what ``git switch`` does in an existing checkout).

The pool is ``<worktrees folder>/.spare/``, at most ``MAX_SPARES`` entries, each a folder:

    <hex>/files    the working files (their old ``.git`` file is replaced when they are reused)
    <hex>/index    the worktree's index, whose stat data lets the checkout skip unchanged files
    <hex>/commit   the commit those files and that index hold: the checkout's baseline

An entry is published by renaming ``<hex>.tmp`` to ``<hex>`` and claimed by renaming it to
``<hex>.taken``, so two creates never share a spare. Nothing here decides what a worktree ends up
holding: the caller's checkout (forced, untracked and ignored files removed) makes it match its branch
whatever a spare holds; a spare without index or commit only makes that checkout write more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

POOL = ".spare"
MAX_SPARES = 2
# A claimed or half-published entry older than this was left by a crash (a claim lasts milliseconds).
STALE_SECONDS = 600.0


@dataclass(frozen=True)
class Spare:
    root: Path
    commit: str | None

    @property
    def files(self) -> Path:
        return self.root / "files"

    @property
    def index(self) -> Path:
        return self.root / "index"


def pool_of(worktree_path: Path) -> Path:
    return worktree_path.parent / POOL


def _ready_entries(pool: Path) -> list[str]:
    try:
        return sorted(name for name in os.listdir(pool) if "." not in name)
    except OSError:
        return []


def retire(*, worktree_path: Path, index_path: Path, commit: str) -> bool:
    """Move a worktree folder and its index into the pool beside it.

    Returns False, having moved nothing, when the pool is full or the folder cannot be moved (the caller
    then deletes the worktree as usual). The index is moved when it can be; without it the spare still
    works, its reuse just rewrites every file.
    """
    pool = pool_of(worktree_path)
    if worktree_path.is_symlink() or not worktree_path.is_dir():
        return False
    try:
        pool.mkdir(exist_ok=True)
        if len(_ready_entries(pool)) >= MAX_SPARES:
            return False
        entry = pool / f"{uuid.uuid4().hex}.tmp"
        entry.mkdir()
    except OSError:
        return False
    try:
        os.rename(worktree_path, entry / "files")
    except OSError:
        shutil.rmtree(entry, ignore_errors=True)
        return False
    with contextlib.suppress(OSError):
        os.replace(index_path, entry / "index")
    with contextlib.suppress(OSError):
        (entry / "commit").write_text(commit, encoding="ascii")
    with contextlib.suppress(OSError):  # unpublished, it is removed as stale later
        os.rename(entry, entry.with_suffix(""))
    return True


def claim(worktree_path: Path) -> Spare | None:
    """Take a spare from the pool beside ``worktree_path`` (None when there is none)."""
    pool = pool_of(worktree_path)
    for name in _ready_entries(pool):
        taken = pool / f"{name}.taken"
        try:
            os.rename(pool / name, taken)
        except OSError:
            continue  # another create took it
        spare = Spare(root=taken, commit=_read_commit(taken / "commit"))
        if spare.files.is_symlink() or not spare.files.is_dir():
            discard(spare.root)
            continue
        return spare
    return None


def _read_commit(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text) else None


def discard(path: Path) -> None:
    """Delete a pool entry (never follows symlinks)."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def prune(worktrees_dir: Path, *, now: float | None = None) -> int:
    """Remove entries a crash left half-published or claimed, and any beyond ``MAX_SPARES``.

    Returns how many were removed.
    """
    pool = worktrees_dir / POOL
    try:
        names = sorted(os.listdir(pool))
    except OSError:
        return 0
    now = time.time() if now is None else now
    removed = 0
    ready = 0
    for name in names:
        path = pool / name
        if "." in name:
            try:
                found = path.lstat()
                age = now - max(found.st_mtime, found.st_ctime)  # a rename (the claim) sets ctime
            except OSError:
                continue
            if age < STALE_SECONDS:
                continue
        else:
            ready += 1
            if ready <= MAX_SPARES:
                continue
        discard(path)
        removed += 1
    return removed
