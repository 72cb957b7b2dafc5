"""Merging: a branch into main (in memory, compare-and-swap on main), and main into a worktree."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, ResetMode

from calcifer.errors import Conflict, NotFound, Problem

from ._repo import (
    MAIN_REF,
    branch_ref,
    clean_message,
    main_oid,
    open_repo,
    open_worktree,
    ref_target,
    repo_lock,
    signature,
)
from .changes import conflict_entries, drop_conflict
from .models import Author, BranchStatus, FileMerger
from .paths import atomic_write

MAX_MERGE_ATTEMPTS = 8


def _entry(tree: pygit2.Tree | None, path: str) -> pygit2.Object | None:
    if tree is None:
        return None
    try:
        return tree[path]
    except (KeyError, ValueError):
        return None


def _blob_data(repo: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    blob = repo[oid]
    if not isinstance(blob, pygit2.Blob):
        raise TypeError(f"{oid} is not a file")
    return blob.data


def _merged_by_mergers(
    repo: pygit2.Repository,
    index: pygit2.Index,
    *,
    base: pygit2.Tree | None,
    ours: pygit2.Tree,
    theirs: pygit2.Tree,
    file_mergers: dict[str, FileMerger] | None,
) -> dict[str, tuple[bytes, FileMode]]:
    """Content for each merger path that conflicts in ``index`` or changed on both sides.

    A merger path is merged by its function whenever both sides changed it, not only when git's
    line merge conflicts: a changelog merged by entries stays well-formed either way. A path
    deleted on one side is left to git (it stays a conflict if git says so).
    """
    if not file_mergers:
        return {}
    conflicts = conflict_entries(index)
    result: dict[str, tuple[bytes, FileMode]] = {}
    for path, merger in file_mergers.items():
        if path in conflicts:
            anc, our, their = conflicts[path]
            if our is None or their is None:
                continue
            base_id, our_id, their_id, mode = (anc.id if anc else None), our.id, their.id, our.mode
        else:
            b, o, t = _entry(base, path), _entry(ours, path), _entry(theirs, path)
            if o is None or t is None or o.id == t.id:
                continue
            base_id = b.id if b is not None else None
            if base_id in (o.id, t.id):
                continue  # only one side changed it: git's result is that side's content
            our_id, their_id, mode = o.id, t.id, FileMode(o.filemode)
        base_data = _blob_data(repo, base_id) if base_id is not None else None
        merged = merger(base_data, _blob_data(repo, our_id), _blob_data(repo, their_id))
        result[path] = (bytes(merged), FileMode(mode))
    return result


def _stage_merged(
    repo: pygit2.Repository, index: pygit2.Index, merged: dict[str, tuple[bytes, FileMode]]
) -> None:
    conflicted = set(conflict_entries(index))
    for path, (data, mode) in merged.items():
        drop_conflict(index, path, conflicted)
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), mode))


def _base_tree(repo: pygit2.Repository, a: pygit2.Oid, b: pygit2.Oid) -> pygit2.Tree | None:
    base = repo.merge_base(a, b)
    return repo[base].peel(pygit2.Tree) if base is not None else None


def _merge_in_memory(
    repo: pygit2.Repository,
    ours: pygit2.Oid,
    theirs: pygit2.Oid,
    file_mergers: dict[str, FileMerger] | None,
) -> tuple[pygit2.Index, list[str]]:
    """Merge commit ``theirs`` into ``ours`` in memory; return the index and the conflicted paths."""
    ours_commit = repo[ours].peel(pygit2.Commit)
    theirs_commit = repo[theirs].peel(pygit2.Commit)
    # merge_commits (not merge_trees) so criss-cross histories get libgit2's recursive merge base.
    index = repo.merge_commits(ours_commit, theirs_commit)
    merged = _merged_by_mergers(
        repo,
        index,
        base=_base_tree(repo, ours, theirs),
        ours=ours_commit.tree,
        theirs=theirs_commit.tree,
        file_mergers=file_mergers,
    )
    _stage_merged(repo, index, merged)
    return index, sorted(conflict_entries(index))


def _branch_tip(repo: pygit2.Repository, branch: str) -> pygit2.Oid:
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        raise NotFound(f"Branch {branch} does not exist")
    return tip


def _is_merged(repo: pygit2.Repository, main: pygit2.Oid, tip: pygit2.Oid) -> bool:
    return tip == main or repo.descendant_of(main, tip)


def branch_status(
    *, repo_path: Path, branch: str, file_mergers: dict[str, FileMerger] | None = None
) -> BranchStatus:
    """How ``branch`` stands against main.

    ``merged`` is True when the branch tip is reachable from main (also when merged outside
    Calcifer, and for a branch without commits of its own); ``ahead``/``behind`` count commits;
    ``conflicts`` lists the files that would conflict merging into main (empty when merged), paths
    handled by ``file_mergers`` excepted. A missing branch gives exists=False. Raises Invalid for a
    malformed name, NotFound without main.
    """
    repo = open_repo(repo_path)
    main = main_oid(repo)
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        return BranchStatus(exists=False, merged=False, ahead=0, behind=0, conflicts=[])
    ahead, behind = repo.ahead_behind(tip, main)
    if ahead == 0:
        return BranchStatus(exists=True, merged=True, ahead=0, behind=behind, conflicts=[])
    _, conflicts = _merge_in_memory(repo, main, tip, file_mergers)
    return BranchStatus(exists=True, merged=False, ahead=ahead, behind=behind, conflicts=conflicts)


def _prepare_merge(
    repo_path: Path,
    branch: str,
    sig: pygit2.Signature,
    message: str,
    file_mergers: dict[str, FileMerger] | None,
) -> tuple[pygit2.Oid, pygit2.Oid]:
    """Compute the merge of ``branch`` into main's current tip: return (main tip used, merge commit)."""
    repo = open_repo(repo_path)
    main = main_oid(repo)
    tip = _branch_tip(repo, branch)
    if _is_merged(repo, main, tip):
        raise Conflict(
            f"Branch {branch} is already merged into main",
            code="already_merged",
            problems=[Problem("already_merged", f"{branch} is already merged into main")],
        )
    index, conflicts = _merge_in_memory(repo, main, tip, file_mergers)
    if conflicts:
        raise Conflict(
            f"Branch {branch} conflicts with main in {len(conflicts)} file(s): {', '.join(conflicts)}",
            code="merge_conflict",
            problems=[Problem("merge_conflict", f"{path} conflicts with main") for path in conflicts],
        )
    tree = index.write_tree(repo)
    commit = repo.create_commit(None, sig, sig, message, tree, [main, tip])
    return main, commit


def _swap_main(repo_path: Path, expected: pygit2.Oid, new: pygit2.Oid, branch: str) -> bool:
    """Point main at ``new`` if it still points at ``expected`` (call with the repo lock held)."""
    repo = open_repo(repo_path)
    ref = repo.references.get(MAIN_REF)
    if ref is None or ref.target != expected:
        return False
    try:
        # set_target is itself a compare-and-swap against the value read above, so even a writer
        # that ignores our lock file (a git push) cannot be overwritten silently.
        ref.set_target(new, f"merge {branch}: merged by Calcifer")
    except pygit2.GitError:
        return False
    return True


def merge_into_main(
    *,
    repo_path: Path,
    branch: str,
    author: Author,
    message: str,
    file_mergers: dict[str, FileMerger] | None = None,
) -> str:
    """Merge ``branch`` into main with a real merge commit (parents: main tip, branch tip), never
    fast-forward. Paths in ``file_mergers`` are merged by their function (base, ours=main,
    theirs=branch); any other conflict refuses the merge and changes nothing. main is updated by
    compare-and-swap under the lock file ``<repo>/calcifer-merge.lock``; if main moved meanwhile the
    merge is recomputed (bounded). Returns the merge commit id.

    Raises NotFound (branch or main missing), Invalid (bad name, author or empty message), Conflict
    code "already_merged", "merge_conflict" (one problem per conflicting file) or "main_moved".
    """
    sig = signature(author)
    text = clean_message(message)
    branch_ref(branch)
    for attempt in range(MAX_MERGE_ATTEMPTS):
        if attempt == 0:
            # Optimistic: compute without the lock so merges of different branches overlap.
            expected, commit = _prepare_merge(repo_path, branch, sig, text, file_mergers)
            with repo_lock(repo_path):
                if _swap_main(repo_path, expected, commit, branch):
                    return str(commit)
        else:
            # main moved under us: compute again while holding the lock, so only outside writers
            # (not other Calcifer merges) can move it now.
            with repo_lock(repo_path):
                expected, commit = _prepare_merge(repo_path, branch, sig, text, file_mergers)
                if _swap_main(repo_path, expected, commit, branch):
                    return str(commit)
    raise Conflict(
        "main kept changing while merging; try again",
        code="main_moved",
        problems=[Problem("main_moved", "main kept changing while merging")],
    )


def _has_uncommitted(repo: pygit2.Repository) -> bool:
    return bool(repo.status(untracked_files="all", ignored=True))


def update_from_main(
    *, worktree_path: Path, author: Author, file_mergers: dict[str, FileMerger] | None = None
) -> tuple[str | None, list[str]]:
    """Merge main into the worktree's branch.

    Returns (merge commit id, []) when the merge was clean (the commit is made on the branch);
    (None, []) when the branch already contains main; (None, conflicted paths) on conflicts — the
    worktree is then left mid-merge (conflicted index, files with conflict markers, MERGE_HEAD and
    MERGE_MSG) so that commit_worktree finishes it. Paths in ``file_mergers`` are merged by their
    function (base, ours=branch, theirs=main). Raises NotFound (worktree or main missing), Invalid
    (bad author), Conflict code "uncommitted_changes" or "merge_in_progress".
    """
    sig = signature(author)
    repo = open_worktree(worktree_path)
    root = worktree_path.resolve()
    if repo.listall_mergeheads():
        conflicts = sorted(conflict_entries(repo.index))
        raise Conflict(
            "A merge from main is in progress: resolve the conflicts and commit first",
            code="merge_in_progress",
            problems=[Problem("merge_in_progress", f"{p} still has merge conflicts") for p in conflicts],
        )
    if _has_uncommitted(repo):
        raise Conflict(
            "Commit or discard the uncommitted changes before updating from main",
            code="uncommitted_changes",
            problems=[Problem("uncommitted_changes", "The worktree has uncommitted changes")],
        )
    head = repo.head.peel(pygit2.Commit).id
    main_ref = repo.lookup_reference(MAIN_REF)
    main = main_oid(repo)
    if _is_merged(repo, head, main):
        return None, []
    branch = repo.head.shorthand
    head_commit = repo[head].peel(pygit2.Commit)
    main_commit = repo[main].peel(pygit2.Commit)
    try:
        # Passing the reference (not the id) labels the conflict markers and MERGE_MSG with "main".
        repo.merge(main_ref)
        index = repo.index
        merged = _merged_by_mergers(
            repo,
            index,
            base=_base_tree(repo, head, main),
            ours=head_commit.tree,
            theirs=main_commit.tree,
            file_mergers=file_mergers,
        )
        conflicted = set(conflict_entries(index))
        for path, (data, _mode) in merged.items():
            atomic_write(root / path, data)
            drop_conflict(index, path, conflicted)
            index.add(path)
        index.write()
        conflicts = sorted(conflict_entries(index))
        if conflicts:
            return None, conflicts
        tree = index.write_tree()
        commit = repo.create_commit(
            "HEAD", sig, sig, f"Merge branch 'main' into {branch}\n", tree, [head, main]
        )
        repo.state_cleanup()
        return str(commit), []
    except BaseException:
        # Leave the worktree as it was before the merge.
        with contextlib.suppress(pygit2.GitError, OSError):
            if repo.head.peel(pygit2.Commit).id == head:
                repo.reset(head, ResetMode.HARD)
                repo.state_cleanup()
        raise
