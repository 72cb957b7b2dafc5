"""Merging: a branch into main (in memory, compare-and-swap on main), and main into a worktree."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode, ResetMode

from calcifer.errors import Conflict, Invalid, NotFound, Problem

from ._repo import (
    MAIN_REF,
    bare_repo,
    branch_ref,
    clean_message,
    has_no_own_commits,
    main_oid,
    open_worktree,
    ref_target,
    repo_lock,
    signature,
)
from .changes import conflict_entries, drop_conflict
from .conflicts import render_conflicted
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


class _NeedsFullMerge(Exception):
    """A path changed on both sides (and no merger handles it): libgit2's file-level merge decides."""


def _entries(tree: pygit2.Tree | None) -> dict[str, pygit2.Object]:
    return {} if tree is None else {entry.name or "": entry for entry in tree}


def _as_tree(repo: pygit2.Repository, obj: pygit2.Object | None) -> pygit2.Tree | None:
    if obj is None or obj.type_str != "tree":
        return None
    tree = repo[obj.id]
    return tree if isinstance(tree, pygit2.Tree) else None


def _trivial_merge(
    repo: pygit2.Repository,
    base: pygit2.Tree | None,
    ours: pygit2.Tree,
    theirs: pygit2.Tree,
    mergers: dict[str, FileMerger],
    prefix: str = "",
) -> pygit2.Oid:
    """Three-way merge by whole trees and files, like git's "trivial" merge: a subtree or file
    changed on one side only is taken from that side without looking inside; only folders changed
    on both sides are opened. Paths in ``mergers`` changed on both sides are merged by their
    function. Returns the merged tree id. Raises _NeedsFullMerge for anything else changed on both
    sides, so the caller falls back to libgit2's full merge (file-level merge, renames, conflicts).
    """
    if ours.id == theirs.id or (base is not None and base.id == theirs.id):
        return ours.id
    if base is not None and base.id == ours.id:
        return theirs.id
    base_e, ours_e, theirs_e = _entries(base), _entries(ours), _entries(theirs)
    builder = repo.TreeBuilder(ours)
    changed = False
    for name in sorted(set(ours_e) | set(theirs_e) | set(base_e)):
        b, o, t = base_e.get(name), ours_e.get(name), theirs_e.get(name)
        b_key = (b.id, b.filemode) if b is not None else None
        o_key = (o.id, o.filemode) if o is not None else None
        t_key = (t.id, t.filemode) if t is not None else None
        if o_key == t_key or b_key == t_key:
            continue  # same on both sides, or only ours changed it
        if b_key == o_key:  # only theirs changed it
            if t is None:
                builder.remove(name)
            else:
                builder.insert(name, t.id, t.filemode)
            changed = True
            continue
        path = prefix + name
        o_tree, t_tree = _as_tree(repo, o), _as_tree(repo, t)
        if o_tree is not None and t_tree is not None and (b is None or b.type_str == "tree"):
            merged_id = _trivial_merge(repo, _as_tree(repo, b), o_tree, t_tree, mergers, path + "/")
            merged_tree = repo[merged_id]
            if isinstance(merged_tree, pygit2.Tree) and len(merged_tree) == 0:
                builder.remove(name)  # git does not keep empty folders
            else:
                builder.insert(name, merged_id, FileMode.TREE)
            changed = True
            continue
        merger = mergers.get(path)
        if (
            merger is None
            or o is None
            or t is None
            or o.type_str != "blob"
            or t.type_str != "blob"
            or (b is not None and b.type_str != "blob")
        ):
            raise _NeedsFullMerge(path)
        base_data = _blob_data(repo, b.id) if b is not None else None
        data = bytes(merger(base_data, _blob_data(repo, o.id), _blob_data(repo, t.id)))
        builder.insert(name, repo.create_blob(data), o.filemode)
        changed = True
    return builder.write() if changed else ours.id


def _merge_in_memory(
    repo: pygit2.Repository,
    ours: pygit2.Oid,
    theirs: pygit2.Oid,
    file_mergers: dict[str, FileMerger] | None,
) -> tuple[pygit2.Oid | None, list[str]]:
    """Merge commit ``theirs`` into ``ours`` in memory.

    Returns (merged tree id, []) when clean, (None, conflicted paths) otherwise.
    """
    ours_commit = repo[ours].peel(pygit2.Commit)
    theirs_commit = repo[theirs].peel(pygit2.Commit)
    base_id = repo.merge_base(ours, theirs)
    base = repo[base_id].peel(pygit2.Tree) if base_id is not None else None
    try:
        # Fast path, cost proportional to what changed rather than to the size of the tree.
        tree = _trivial_merge(repo, base, ours_commit.tree, theirs_commit.tree, dict(file_mergers or {}))
        return tree, []
    except _NeedsFullMerge:
        pass
    # merge_commits (not merge_trees) so criss-cross histories get libgit2's recursive merge base.
    index = repo.merge_commits(ours_commit, theirs_commit)
    merged = _merged_by_mergers(
        repo, index, base=base, ours=ours_commit.tree, theirs=theirs_commit.tree, file_mergers=file_mergers
    )
    _stage_merged(repo, index, merged)
    conflicts = sorted(conflict_entries(index))
    if conflicts:
        return None, conflicts
    return index.write_tree(repo), []


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
    Calcifer) — except for a work branch that still sits where create_work_branch started it: it
    has nothing to merge, so it is reported merged=False, ahead=0. ``ahead``/``behind`` count commits;
    ``conflicts`` lists the files that would conflict merging into main (empty when merged), paths
    handled by ``file_mergers`` excepted. A missing branch gives exists=False. Raises Invalid for a
    malformed name, NotFound without main.
    """
    repo = bare_repo(repo_path)
    main = main_oid(repo)
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        return BranchStatus(exists=False, merged=False, ahead=0, behind=0, conflicts=[])
    ahead, behind = repo.ahead_behind(tip, main)
    if ahead == 0:
        merged = not has_no_own_commits(repo, branch, tip)
        return BranchStatus(exists=True, merged=merged, ahead=0, behind=behind, conflicts=[])
    _, conflicts = _merge_in_memory(repo, main, tip, file_mergers)
    return BranchStatus(exists=True, merged=False, ahead=ahead, behind=behind, conflicts=conflicts)


def _check_extra_files(extra_files: dict[str, bytes]) -> dict[tuple[str, ...], bytes]:
    """Split and validate the paths of files to add to a merge commit (plain relative paths only)."""
    result: dict[tuple[str, ...], bytes] = {}
    for path, data in extra_files.items():
        parts = tuple(path.split("/"))
        if (
            not path
            or path.startswith("/")
            or "\\" in path
            or any(ord(ch) < 0x20 for ch in path)
            or any(part in ("", ".", "..") or part.lower().rstrip(". ") == ".git" for part in parts)
        ):
            raise Invalid(f"Extra merge file path {path!r} is not a plain relative path")
        if not isinstance(data, bytes):
            raise Invalid(f"Extra merge file {path} must be bytes")
        result[parts] = data
    for parts in result:
        for length in range(1, len(parts)):
            if parts[:length] in result:
                raise Invalid(f"Extra merge file {'/'.join(parts[:length])} is also a folder")
    return result


def _with_files(
    repo: pygit2.Repository, tree: pygit2.Tree | None, files: dict[tuple[str, ...], bytes]
) -> pygit2.Oid:
    """``tree`` with ``files`` (split paths) added or replaced; only the folders on their way are rebuilt.

    Raises Invalid when a file would replace a folder or a folder a file.
    """
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    existing = _entries(tree)
    folders: dict[str, dict[tuple[str, ...], bytes]] = {}
    for parts, data in files.items():
        name = parts[0]
        if len(parts) == 1:
            if name in existing and existing[name].type_str == "tree":
                raise Invalid(f"Extra merge file {name} would replace a folder")
            builder.insert(name, repo.create_blob(data), FileMode.BLOB)
        else:
            folders.setdefault(name, {})[parts[1:]] = data
    for name, sub in folders.items():
        entry = existing.get(name)
        if entry is not None and entry.type_str != "tree":
            raise Invalid(f"Extra merge files need a folder {name}, but it is a file")
        builder.insert(name, _with_files(repo, _as_tree(repo, entry), sub), FileMode.TREE)
    return builder.write()


def _prepare_merge(
    repo_path: Path,
    branch: str,
    sig: pygit2.Signature,
    message: str,
    file_mergers: dict[str, FileMerger] | None,
    extra_files: dict[tuple[str, ...], bytes] | None = None,
) -> tuple[pygit2.Oid, pygit2.Oid]:
    """Compute the merge of ``branch`` into main's current tip: return (main tip used, merge commit)."""
    repo = bare_repo(repo_path)
    main = main_oid(repo)
    tip = _branch_tip(repo, branch)
    if has_no_own_commits(repo, branch, tip):
        raise Conflict(
            f"Branch {branch} has no commits to merge",
            code="no_commits",
            problems=[Problem("no_commits", f"{branch} has no commits of its own")],
        )
    if _is_merged(repo, main, tip):
        raise Conflict(
            f"Branch {branch} is already merged into main",
            code="already_merged",
            problems=[Problem("already_merged", f"{branch} is already merged into main")],
        )
    tree, conflicts = _merge_in_memory(repo, main, tip, file_mergers)
    if tree is None:
        raise Conflict(
            f"Branch {branch} conflicts with main in {len(conflicts)} file(s): {', '.join(conflicts)}",
            code="merge_conflict",
            problems=[Problem("merge_conflict", f"{path} conflicts with main") for path in conflicts],
        )
    if extra_files:
        tree = _with_files(repo, repo[tree].peel(pygit2.Tree), extra_files)
    commit = repo.create_commit(None, sig, sig, message, tree, [main, tip])
    return main, commit


def _swap_main(repo_path: Path, expected: pygit2.Oid, new: pygit2.Oid, branch: str) -> bool:
    """Point main at ``new`` if it still points at ``expected`` (call with the repo lock held)."""
    repo = bare_repo(repo_path)
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
    extra_files: dict[str, bytes] | None = None,
) -> str:
    """Merge ``branch`` into main with a real merge commit (parents: main tip, branch tip), never
    fast-forward. Paths in ``file_mergers`` are merged by their function (base, ours=main,
    theirs=branch); any other conflict refuses the merge and changes nothing. ``extra_files``
    (path -> bytes) are added to, or replace files in, the merge commit's tree (e.g. a work-log
    entry written at merge time); they appear in no branch commit. main is updated by
    compare-and-swap under the lock file ``<repo>/calcifer-merge.lock``; if main moved meanwhile the
    merge is recomputed (bounded). Returns the merge commit id.

    Raises NotFound (branch or main missing), Invalid (bad name, author, empty message or an extra
    file path that is not plain, or that would turn a file into a folder or back), Conflict
    code "no_commits" (the work branch has no commits of its own), "already_merged",
    "merge_conflict" (one problem per conflicting file) or "main_moved".
    """
    sig = signature(author)
    text = clean_message(message)
    branch_ref(branch)
    extra = _check_extra_files(extra_files) if extra_files else None
    for attempt in range(MAX_MERGE_ATTEMPTS):
        if attempt == 0:
            # Optimistic: compute without the lock so merges of different branches overlap.
            expected, commit = _prepare_merge(repo_path, branch, sig, text, file_mergers, extra)
            with repo_lock(repo_path):
                if _swap_main(repo_path, expected, commit, branch):
                    return str(commit)
        else:
            # main moved under us: compute again while holding the lock, so only outside writers
            # (not other Calcifer merges) can move it now.
            with repo_lock(repo_path):
                expected, commit = _prepare_merge(repo_path, branch, sig, text, file_mergers, extra)
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
    head_commit = repo.head.peel(pygit2.Commit)
    head, head_tree = head_commit.id, head_commit.tree
    main_ref = repo.lookup_reference(MAIN_REF)
    main = main_oid(repo)
    if _is_merged(repo, head, main):
        return None, []
    branch = repo.head.shorthand
    message = f"Merge branch 'main' into {branch}\n"
    tree, _ = _merge_in_memory(repo, head, main, file_mergers)
    if tree is not None:
        # Clean: update only the files that differ, then record the merge commit on the branch.
        try:
            merged_tree = repo[tree].peel(pygit2.Tree)
            changed = sorted(
                {
                    path
                    for d in head_tree.diff_to_tree(merged_tree).deltas
                    for path in (d.old_file.path, d.new_file.path)
                }
            )
            if changed:
                # The worktree is clean (checked above), so forcing is safe; a literal path list lets
                # libgit2 skip the rest of the worktree instead of scanning all of it again.
                repo.checkout_tree(
                    merged_tree,
                    strategy=CheckoutStrategy.FORCE | CheckoutStrategy.DISABLE_PATHSPEC_MATCH,
                    paths=changed,
                )
            commit = repo.create_commit("HEAD", sig, sig, message, tree, [head, main])
        except BaseException:
            _restore(repo, head)
            raise
        return str(commit), []
    main_commit = repo[main].peel(pygit2.Commit)
    try:
        # Conflicts: let libgit2 write the merge state (conflicted index, conflict markers in the
        # files, MERGE_HEAD, MERGE_MSG). Passing the reference labels the markers with "main".
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
        remaining = sorted(conflict_entries(index))
        if remaining:
            # Each conflict between diff3 markers (base included) that the resolver can match to its hunks.
            render_conflicted(repo, root, remaining)
            return None, remaining
        # Only merger paths conflicted: the merge is complete after all.
        commit = repo.create_commit("HEAD", sig, sig, message, index.write_tree(), [head, main])
        repo.state_cleanup()
        return str(commit), []
    except BaseException:
        _restore(repo, head)
        raise


def _restore(repo: pygit2.Repository, head: pygit2.Oid) -> None:
    """Put the worktree back as it was before a failed update (HEAD still at ``head``)."""
    with contextlib.suppress(pygit2.GitError, OSError):
        if repo.head.peel(pygit2.Commit).id == head:
            repo.reset(head, ResetMode.HARD)
        repo.state_cleanup()


def _patch_id(repo: pygit2.Repository, commit: pygit2.Commit) -> str | None:
    if len(commit.parents) != 1:
        return None
    return str(repo.diff(commit.parents[0], commit).patchid)


def landed_commits(*, repo_path: Path, head: str, landed: str, among: set[str] | frozenset[str],
                   file_mergers: dict[str, FileMerger] | None = None, limit: int = 500) -> set[str] | None:
    """Whether the branch tip ``head`` landed on main as commit ``landed`` (the forge's merge, squash or
    rebase result), and which of the commits ``among`` it made there.

    Landed means the tree of ``landed`` already holds the branch's changes: merging ``head`` into it
    changes nothing (CHANGES.md through ``file_mergers``). None when it did not land (or either commit
    is unknown). The commits are ``landed`` itself; for a merge commit, those of ``among`` its other
    parents bring (GitLab's squash commit under its merge commit); for a rebase, the commits on
    ``landed``'s first-parent line, newest first, whose patches match one of the branch's own commits
    (``head`` back to where it left main)."""
    repo = bare_repo(repo_path)
    try:
        tip = repo[pygit2.Oid(hex=head)].peel(pygit2.Commit)
        result = repo[pygit2.Oid(hex=landed)].peel(pygit2.Commit)
    except (KeyError, ValueError):
        return None
    if tip.id != result.id and not repo.descendant_of(result.id, tip.id):
        tree, _conflicts = _merge_in_memory(repo, result.id, tip.id, file_mergers)
        if tree is None or tree != result.tree_id:
            return None
    found = {str(result.id)}
    if len(result.parents) > 1:
        walker = repo.walk(result.id, pygit2.enums.SortMode.TOPOLOGICAL)
        walker.hide(result.parent_ids[0])
        for count, commit in enumerate(walker):
            if count >= limit:
                break
            if str(commit.id) in among:
                found.add(str(commit.id))
        return found
    base = repo.merge_base(tip.id, result.id)
    branch_patches: set[str] = set()
    walker = repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL)
    if base is not None:
        walker.hide(base)
    for count, commit in enumerate(walker):
        if count >= limit:
            break
        patch = _patch_id(repo, commit)
        if patch is not None:
            branch_patches.add(patch)
    commit = result
    for _ in range(limit):
        if len(commit.parents) != 1:
            break
        parent = commit.parents[0]
        if str(parent.id) not in among or _patch_id(repo, parent) not in branch_patches:
            break
        found.add(str(parent.id))
        commit = parent
    return found


def on_main(*, repo_path: Path, commit: str) -> bool:
    """True when ``commit`` is main's tip or one of its ancestors (False for an unknown commit)."""
    repo = bare_repo(repo_path)
    try:
        oid = repo[pygit2.Oid(hex=commit)].peel(pygit2.Commit).id
    except (KeyError, ValueError):
        return False
    main = main_oid(repo)
    return oid == main or repo.descendant_of(main, oid)
