"""Git object types and small object-level helpers for the slices that read the object database directly.

The catalog index, the docs index and search walk trees and read blobs on their hot paths, so they keep
pygit2's objects rather than going through path-based calls; they name those types through these aliases
(re-exported by ``calcifer.gitrepo``) so that pygit2 itself stays an implementation detail of this package.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, FileMode

from ._repo import MAIN_REF

Repository = pygit2.Repository
Commit = pygit2.Commit
Tree = pygit2.Tree
Blob = pygit2.Blob
Oid = pygit2.Oid
GitObject = pygit2.Object
GitError = pygit2.GitError
Diff = pygit2.Diff
Patch = pygit2.Patch

# A tree entry of these modes is a regular file's content (not a symlink or a submodule).
BLOB_MODES = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)
LINK_MODE = FileMode.LINK

__all__ = [
    "BLOB_MODES",
    "LINK_MODE",
    "Blob",
    "Commit",
    "DeltaStatus",
    "Diff",
    "GitError",
    "GitObject",
    "Oid",
    "Patch",
    "Repository",
    "Tree",
    "blob_hash",
    "blob_patch",
    "changed_blob_ids",
    "init_empty_bare",
    "point_head_at_main",
    "text_patch",
]


def blob_hash(data: bytes) -> str:
    """The blob id git gives ``data``, without writing it anywhere."""
    return str(pygit2.hash(data))


def changed_blob_ids(repo: Repository, old: Commit, new: Commit) -> dict[str, str | None]:
    """Every path that differs between ``old`` and ``new`` with its blob id in ``new`` (None: gone there).
    A rename shows as its old path gone and its new path present."""
    paths: dict[str, str | None] = {}
    for delta in repo.diff(old, new).deltas:
        if delta.status == DeltaStatus.DELETED:
            paths[delta.old_file.path] = None
        else:
            paths[delta.new_file.path] = str(delta.new_file.id)
            if delta.old_file.path != delta.new_file.path:
                paths[delta.old_file.path] = None
    return paths


def text_patch(old: bytes, new: bytes, *, path: str, context_lines: int = 3) -> tuple[str, int, int]:
    """The unified diff from ``old`` to ``new`` for the file at ``path`` ('' when they are equal), with
    the numbers of lines it adds and removes."""
    patch = pygit2.Patch.create_from(old, new, old_as_path=path, new_as_path=path, context_lines=context_lines)
    _, added, removed = patch.line_stats
    return patch.text or "", added, removed


def blob_patch(old: bytes, new: bytes, *, path: str, context_lines: int = 3) -> Patch:
    """The patch from ``old`` to ``new`` for the file at ``path``, for a diff view to draw. It reads the two
    buffers without copying them: keep them alive while it is used."""
    return pygit2.Patch.create_from(old, new, old_as_path=path, new_as_path=path, context_lines=context_lines)


def init_empty_bare(*, path: Path) -> None:
    """Create an empty bare repository at ``path`` whose HEAD names main (used before a restore fetches)."""
    pygit2.init_repository(str(path), bare=True, initial_head="main")


def point_head_at_main(*, repo_path: Path) -> None:
    """Make HEAD of the repository at ``repo_path`` name main (a fetch into a fresh repository leaves it)."""
    pygit2.Repository(str(repo_path)).set_head(MAIN_REF)
