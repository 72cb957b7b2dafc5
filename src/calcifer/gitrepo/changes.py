"""Uncommitted changes in a work item's worktree: listing them with diffs, and committing them."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, DiffOption, FileMode, FileStatus

from calcifer.errors import Conflict, Invalid, NotFound, Problem

from ._repo import clean_message, forget_worktree, lent_worktree, signature, worktree_repo
from .models import Author, FileChange
from .paths import atomic_write, is_binary, relative, safe_path

_MARKER_START = re.compile(rb"^<{7}( |$)", re.MULTILINE)
_MARKER_END = re.compile(rb"^>{7}( |$)", re.MULTILINE)


def conflict_entries(
    index: pygit2.Index,
) -> dict[str, tuple[pygit2.IndexEntry | None, pygit2.IndexEntry | None, pygit2.IndexEntry | None]]:
    """Map each conflicted path to its (ancestor, ours, theirs) entries.

    Iterating ``Index.conflicts`` yields the entry triples, not paths, and ``in`` does not work on it.
    """
    conflicts = index.conflicts
    if conflicts is None:
        return {}
    result = {}
    for ancestor, ours, theirs in conflicts:
        entry = ours or theirs or ancestor
        if entry is not None:
            result[entry.path] = (ancestor, ours, theirs)
    return result


def drop_conflict(index: pygit2.Index, path: str, conflicted: set[str]) -> None:
    # Adding a stage-0 entry does not clear the conflict stages of that path: remove them first.
    if path in conflicted:
        conflicts = index.conflicts
        if conflicts is not None:
            del conflicts[path]
        conflicted.discard(path)


# The status of a worktree as its two diffs (HEAD to index, index to worktree): the same deltas libgit2's
# status merges, but through pygit2's cffi calls, which release the GIL (``Repository.status`` holds it
# for the whole walk of the worktree), so a merge check can run its other rules meanwhile.
_WORKDIR_DIFF = (DiffOption.INCLUDE_TYPECHANGE | DiffOption.INCLUDE_UNTRACKED | DiffOption.RECURSE_UNTRACKED_DIRS
                 | DiffOption.INCLUDE_IGNORED)


def _changed_paths(repo: pygit2.Repository, root: Path) -> dict[str, int]:
    """Every path that differs from HEAD (index or workdir), ignore rules disregarded (except .git).

    Values are status flags; only ``FileStatus.CONFLICTED`` is meant to be read from them.
    """
    index = repo.index
    flagged: dict[str, int] = {}
    tree = _head_tree(repo)
    if tree is None:
        for entry in index:
            flagged[entry.path] = int(FileStatus.INDEX_NEW)
    else:
        for delta in index.diff_to_tree(tree, flags=DiffOption.INCLUDE_TYPECHANGE).deltas:
            flagged[delta.old_file.path] = int(FileStatus.INDEX_MODIFIED)
    for delta in index.diff_to_workdir(flags=_WORKDIR_DIFF).deltas:
        path = delta.old_file.path
        mark = FileStatus.CONFLICTED if delta.status == DeltaStatus.CONFLICTED else FileStatus.WT_MODIFIED
        flagged[path] = flagged.get(path, 0) | int(mark)
    for path in conflict_entries(index):
        flagged[path] = flagged.get(path, 0) | int(FileStatus.CONFLICTED)
    result: dict[str, int] = {}
    for path, flags in flagged.items():
        if path.endswith("/"):  # an ignored folder is reported whole: list its files
            for dirpath, dirnames, filenames in os.walk(root / path):
                dirnames[:] = [d for d in dirnames if d != ".git"]
                for filename in filenames:
                    result[(Path(dirpath) / filename).relative_to(root).as_posix()] = flags
        else:
            result[path] = flags
    return result


def _disk(root: Path, path: str) -> tuple[bytes | None, int | None]:
    """(content, git file mode) of the workdir file; symlinks give their target. (None, None) if absent."""
    full = root / path
    try:
        info = full.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    if stat.S_ISLNK(info.st_mode):
        return os.fsencode(os.readlink(full)), int(FileMode.LINK)
    if not stat.S_ISREG(info.st_mode):
        return None, None
    mode = FileMode.BLOB_EXECUTABLE if info.st_mode & 0o111 else FileMode.BLOB
    return full.read_bytes(), int(mode)


def _head(repo: pygit2.Repository, tree: pygit2.Tree | None, path: str) -> tuple[bytes | None, int | None]:
    if tree is None:
        return None, None
    try:
        entry = tree[path]
    except (KeyError, ValueError):
        return None, None
    obj = repo[entry.id]
    if not isinstance(obj, pygit2.Blob):
        return None, None
    return obj.data, int(entry.filemode)


def _head_tree(repo: pygit2.Repository) -> pygit2.Tree | None:
    if repo.head_is_unborn:
        return None
    return repo.head.peel(pygit2.Commit).tree


def worktree_changes(*, worktree_path: Path) -> list[FileChange]:
    """Uncommitted changes (index and working files against HEAD), sorted by path.

    Untracked files count as added (their diff shows every line added); ignore rules are not
    applied. Each change carries a unified diff ("" for binary files). Conflicted paths have status
    "conflicted" and diff HEAD against the file with its conflict markers. Raises NotFound when the
    worktree is missing.
    """
    return _changes(worktree_repo(worktree_path), worktree_path)


def worktree_state(*, worktree_path: Path) -> tuple[list[str], list[FileChange]]:
    """(``worktree_conflicts``, ``worktree_changes``) of the worktree, reading its index once."""
    return _state(worktree_repo(worktree_path), worktree_path)


def _state(repo: pygit2.Repository, worktree_path: Path) -> tuple[list[str], list[FileChange]]:
    return sorted(conflict_entries(repo.index)), _changes(repo, worktree_path)


@contextmanager
def worktree_state_ahead(*, worktree_path: Path) -> Iterator[Callable[[], tuple[list[str], list[FileChange]]]]:
    """``worktree_state`` started in a thread of its own, for a caller with other work meanwhile (the
    walk of a large worktree is mostly system calls, run without the GIL): yields the function that
    waits for the answer and returns it, or raises what ``worktree_state`` would have raised.

    The worktree's handle (kept by the caller's thread, its index already parsed) is lent to the worker
    until the block ends, which waits for the worker.
    """
    with ExitStack() as stack:
        try:
            repo = stack.enter_context(lent_worktree(worktree_path))
        except NotFound as exc:
            missing = exc

            def fail() -> tuple[list[str], list[FileChange]]:
                raise missing

            yield fail
            return
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="worktree-state"))
        yield pool.submit(_state, repo, worktree_path).result


def _changes(repo: pygit2.Repository, worktree_path: Path) -> list[FileChange]:
    root = worktree_path.resolve()
    tree = _head_tree(repo)
    conflicted = set(conflict_entries(repo.index))
    changes: list[FileChange] = []
    for path, flags in sorted(_changed_paths(repo, root).items()):
        old, old_mode = _head(repo, tree, path)
        new, new_mode = _disk(root, path)
        is_conflict = path in conflicted or bool(flags & FileStatus.CONFLICTED)
        if old is None and new is None:
            continue
        if old == new and old_mode == new_mode and not is_conflict:
            continue  # e.g. only the index differed and the file is back to HEAD
        if is_conflict:
            status = "conflicted"
        elif old is None:
            status = "added"
        elif new is None:
            status = "deleted"
        else:
            status = "modified"
        binary = (old is not None and is_binary(old)) or (new is not None and is_binary(new))
        diff = ""
        if not binary:
            patch = pygit2.Patch.create_from(old, new, path, path)
            diff = patch.text or ""
        changes.append(FileChange(path=path, status=status, diff=diff, binary=binary))
    return changes


_INDEX_DELTAS = frozenset("AMDT")


def _tree_of_index(repo: pygit2.Repository, index: pygit2.Index, head: pygit2.Tree | None) -> pygit2.Oid:
    """The tree the index describes, as ``index.write_tree()`` writes it.

    libgit2 rebuilds every folder of an index that has no cache of its trees (a worktree it checked
    out has none): ~40 ms at 10,000 files. Here HEAD's tree gets the entries where the index differs
    from it (a diff of index and tree is a few ms); only the folders on their way are written.
    """
    if head is None:
        return index.write_tree()
    changes: dict[tuple[str, ...], tuple[pygit2.Oid, int] | None] = {}
    for delta in index.diff_to_tree(head).deltas:
        status = delta.status_char()
        if status not in _INDEX_DELTAS:
            return index.write_tree()  # e.g. a conflict: let libgit2 decide (and refuse)
        if status == "D":
            changes[tuple(delta.old_file.path.split("/"))] = None
        else:
            if status == "T":
                changes[tuple(delta.old_file.path.split("/"))] = None
            changes[tuple(delta.new_file.path.split("/"))] = (delta.new_file.id, delta.new_file.mode)
    if not changes:
        return head.id
    tree = _apply_entries(repo, head, changes)
    return tree if tree is not None else repo.TreeBuilder().write()


def _apply_entries(repo: pygit2.Repository, tree: pygit2.Tree | None,
                   changes: dict[tuple[str, ...], tuple[pygit2.Oid, int] | None]) -> pygit2.Oid | None:
    """``tree`` with entries set (or removed, for None) at split paths; None when nothing is left
    (git keeps no empty folders)."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    here: dict[str, tuple[pygit2.Oid, int] | None] = {}
    below: dict[str, dict[tuple[str, ...], tuple[pygit2.Oid, int] | None]] = {}
    for parts, value in changes.items():
        if len(parts) == 1:
            here[parts[0]] = value
        else:
            below.setdefault(parts[0], {})[parts[1:]] = value
    for name, value in here.items():
        if value is not None:
            builder.insert(name, value[0], value[1])
        elif name not in below and builder.get(name) is not None:
            builder.remove(name)
    for name, sub in below.items():
        if here.get(name) is not None:
            continue  # a folder replaced by a file: its old entries only go away
        entry = builder.get(name)
        subtree = repo[entry.id] if entry is not None and entry.type_str == "tree" else None
        merged = _apply_entries(repo, subtree if isinstance(subtree, pygit2.Tree) else None, sub)
        if merged is not None:
            builder.insert(name, merged, FileMode.TREE)
        elif builder.get(name) is not None:
            builder.remove(name)
    return builder.write() if len(builder) else None


def worktree_conflicts(*, worktree_path: Path) -> list[str]:
    """Paths that are conflicted in the worktree's index (after update_from_main), sorted."""
    return sorted(conflict_entries(worktree_repo(worktree_path).index))


def _has_markers(data: bytes) -> bool:
    return bool(_MARKER_START.search(data) and _MARKER_END.search(data))


def commit_worktree(
    *,
    worktree_path: Path,
    message: str,
    author: Author,
    files: list[str] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> str:
    """Stage ``files`` (every change when None) plus ``extra_files`` and commit on the worktree's branch.

    Each path is validated with safe_path; a file that no longer exists is staged as a removal.
    ``extra_files`` (e.g. the updated CHANGES.md) are staged from memory and written to the worktree
    only once the commit exists. When the worktree is mid-merge (after update_from_main) the commit
    gets main as second parent and the merge state is cleaned up. Nothing is staged on disk when
    the call fails. Returns the new commit id.

    Raises Invalid (empty message, bad path, folder given), NotFound (worktree or listed file missing),
    Conflict code "unresolved_conflicts" (a conflicted path is not staged, or still holds conflict
    markers) or "nothing_to_commit" (the resulting tree equals HEAD's and no merge is in progress).
    """
    text = clean_message(message)
    sig = signature(author)
    try:
        return _commit(worktree_repo(worktree_path), worktree_path, text=text, sig=sig, files=files,
                       extra_files=extra_files)
    except BaseException:
        forget_worktree(worktree_path)  # its index in memory may hold what was staged before the failure
        raise


def _commit(repo: pygit2.Repository, worktree_path: Path, *, text: str, sig: pygit2.Signature,
            files: list[str] | None, extra_files: dict[str, bytes] | None) -> str:
    root = worktree_path.resolve()
    index = repo.index
    conflicted = set(conflict_entries(index))
    extra = dict(extra_files or {})
    extra_rel = {relative(root, safe_path(root=root, path=p)): data for p, data in extra.items()}

    if files is None:
        paths = sorted(set(_changed_paths(repo, root)) - set(extra_rel))
    else:
        paths = []
        for name in files:
            rel = relative(root, safe_path(root=root, path=name))
            if rel not in paths and rel not in extra_rel:
                paths.append(rel)

    tree_before = _head_tree(repo)
    unresolved: list[str] = []
    for rel in paths:
        full = root / rel
        if full.is_dir() and not full.is_symlink():
            raise Invalid(f"{rel} is a folder; list the files to commit")
        if full.is_symlink() or full.exists():
            if rel in conflicted and not full.is_symlink() and _has_markers(full.read_bytes()):
                unresolved.append(rel)
                continue
            drop_conflict(index, rel, conflicted)
            index.add(rel)
        else:
            known = rel in conflicted or rel in index or _head(repo, tree_before, rel)[0] is not None
            if not known:
                raise NotFound(f"{rel} does not exist")
            drop_conflict(index, rel, conflicted)
            if rel in index:
                index.remove(rel)
    for rel, data in extra_rel.items():
        mode = index[rel].mode if rel in index else FileMode.BLOB
        drop_conflict(index, rel, conflicted)
        index.add(pygit2.IndexEntry(rel, repo.create_blob(data), mode))

    unresolved += sorted(conflicted)
    if unresolved:
        problems = [
            Problem("unresolved_conflicts", f"{p} still has merge conflicts") for p in sorted(set(unresolved))
        ]
        raise Conflict(
            "Resolve the merge conflicts before committing", code="unresolved_conflicts", problems=problems
        )

    tree = _tree_of_index(repo, index, tree_before)
    merge_heads = repo.listall_mergeheads()
    if not merge_heads and tree_before is not None and tree == tree_before.id:
        raise Conflict(
            "Nothing to commit: the selected files have no changes",
            code="nothing_to_commit",
            problems=[Problem("nothing_to_commit", "The selected files have no changes")],
        )
    parents = [] if repo.head_is_unborn else [repo.head.target]
    parents += [m for m in merge_heads if m not in parents]
    commit = repo.create_commit("HEAD", sig, sig, text, tree, parents)

    # The commit exists: bring the working files and the index on disk in line with it.
    for rel, data in extra_rel.items():
        target = root / rel
        real = target.resolve() if target.is_symlink() else target
        real.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(real, data)
        index.add(rel)
    index.write()
    if merge_heads:
        repo.state_cleanup()
    return str(commit)


def parse_patch(diff: str) -> pygit2.Patch | None:
    """The patch of one file's unified diff text (a ``FileChange.diff``), for the diff view; None when the
    text holds no file's patch."""
    if not diff:
        return None
    try:
        parsed = pygit2.Diff.parse_diff(diff)
    except (pygit2.GitError, ValueError):
        return None
    for patch in parsed:
        return patch
    return None
