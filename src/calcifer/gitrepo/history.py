"""History: merge bases, commits ahead of main, the commit that merged a branch, a file's history."""

from __future__ import annotations

import heapq
from pathlib import Path

import pygit2
from pygit2.enums import SortMode

from calcifer.errors import Invalid, NotFound

from ._repo import (
    MAIN,
    bare_repo,
    branch_ref,
    commit_info,
    has_no_own_commits,
    main_oid,
    open_repo,
    ref_target,
    resolve_commit,
)
from .models import CommitInfo


def merge_base(*, repo_path: Path, branch: str) -> str | None:
    """The best common ancestor of main and ``branch``; None when the branch does not exist or
    shares no history with main. Raises Invalid for a malformed name, NotFound without main.
    """
    repo = bare_repo(repo_path)
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        return None
    base = repo.merge_base(main_oid(repo), tip)
    return str(base) if base is not None else None


def find_merging_commit(*, repo_path: Path, branch: str, limit: int = 5000) -> str | None:
    """The commit on main's first-parent line that brought ``branch``'s tip into main: the merge
    commit, or the tip itself when main was fast-forwarded to it (e.g. merged outside Calcifer).

    Returns None when the branch does not exist or is not merged. Raises Invalid for a malformed
    name, NotFound without main.
    """
    repo = bare_repo(repo_path)
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        return None
    main = main_oid(repo)
    if has_no_own_commits(repo, branch, tip):
        return None
    if tip == main:
        return str(tip)
    if not repo.descendant_of(main, tip):
        return None
    commit = repo[main].peel(pygit2.Commit)
    # The first-parent commits that contain the tip form an unbroken line back from main's tip;
    # the last of them is where the branch landed.
    for _ in range(limit):
        parents = commit.parent_ids
        if not parents:
            return str(commit.id)
        first = parents[0]
        if first == tip:
            return str(first)
        if not repo.descendant_of(first, tip):
            return str(commit.id)
        commit = repo[first].peel(pygit2.Commit)
    return None


def commits_ahead(*, repo_path: Path, branch: str, limit: int = 200) -> list[CommitInfo]:
    """Commits on ``branch`` that main lacks, newest first, at most ``limit``.

    Raises NotFound when the branch or main does not exist, Invalid for a bad name.
    """
    repo = bare_repo(repo_path)
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        raise NotFound(f"Branch {branch} does not exist")
    walker = repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.TIME)
    walker.hide(main_oid(repo))
    result: list[CommitInfo] = []
    for commit in walker:
        if len(result) >= limit:
            break
        result.append(commit_info(commit))
    return result


def find_commit_with_trailer(*, repo_path: Path, trailer: str, limit: int = 5000) -> str | None:
    """Walk main's first-parent history (newest first, at most ``limit`` commits) for a commit whose
    message has a line exactly equal to ``trailer`` (e.g. "Work-Item: 12"). Returns its id or None.
    """
    wanted = trailer.strip()
    if not wanted:
        raise Invalid("Trailer is empty")
    needle = wanted.encode("utf-8")
    repo = bare_repo(repo_path)
    commit = repo[main_oid(repo)].peel(pygit2.Commit)
    # Following parent_ids by hand is ~10x faster than a Walker with simplify_first_parent.
    for _ in range(limit):
        raw = commit.raw_message
        if needle in raw and any(line.strip() == wanted for line in commit.message.splitlines()):
            return str(commit.id)
        parents = commit.parent_ids
        if not parents:
            return None
        commit = repo[parents[0]].peel(pygit2.Commit)
    return None


def file_history(*, repo_path: Path, path: str, ref: str = MAIN, limit: int = 100) -> list[CommitInfo]:
    """Commits reachable from ``ref`` that changed ``path``, newest first (commit date), at most
    ``limit``.

    A commit counts when the path differs from every parent (git log's default simplification of
    merges). Raises NotFound for an unknown ref.
    """
    repo = bare_repo(repo_path)
    start = resolve_commit(repo, ref)
    parts = [part for part in path.split("/") if part]
    if not parts:
        return []
    # The path's id in a tree, memoised per (level, tree id): unchanged folders are shared by
    # many commits, so most lookups are a dict hit (git's pathspec-limited diff, done by hand).
    steps: dict[tuple[int, pygit2.Oid], pygit2.Oid | None] = {}
    leaves: dict[pygit2.Oid, pygit2.Oid | None] = {}

    def leaf(commit: pygit2.Commit) -> pygit2.Oid | None:
        if commit.id in leaves:
            return leaves[commit.id]
        node: pygit2.Oid | None = commit.tree_id
        for level, name in enumerate(parts):
            if node is None:
                break
            key = (level, node)
            if key in steps:
                node = steps[key]
                continue
            tree = repo[node]
            child: pygit2.Oid | None = None
            if isinstance(tree, pygit2.Tree):
                try:
                    child = tree[name].id
                except (KeyError, ValueError):
                    child = None
            steps[key] = node = child
        leaves[commit.id] = node
        return node

    result: list[CommitInfo] = []
    counter = 0
    queue: list[tuple[int, int, pygit2.Commit]] = [(-start.commit_time, counter, start)]
    seen = {start.id}
    while queue and len(result) < limit:
        _, _, commit = heapq.heappop(queue)
        parents = commit.parents
        mine = leaf(commit)
        if parents:
            changed = all(leaf(parent) != mine for parent in parents)
        else:
            changed = mine is not None
        if changed:
            result.append(commit_info(commit))
        for parent in parents:
            if parent.id not in seen:
                seen.add(parent.id)
                counter += 1
                heapq.heappush(queue, (-parent.commit_time, counter, parent))
    return result


def _path_entry(tree: pygit2.Tree, path: str) -> str | None:
    try:
        return str(tree[path].id)
    except KeyError:
        return None


def merges_touching(*, repo_path: Path, path: str, limit: int = 2000) -> list[CommitInfo]:
    """Merge commits on main's first-parent line that changed ``path`` against their first parent,
    newest first. Work-item merges carry the ``Work-Item: N`` trailer, so this maps a file's history
    to the work items that changed it. Walks at most ``limit`` first-parent commits."""
    repo = open_repo(repo_path)
    commit = repo.get(main_oid(repo))
    assert isinstance(commit, pygit2.Commit)
    found: list[CommitInfo] = []
    for _ in range(limit):
        parents = commit.parent_ids
        if not parents:
            break
        first = repo.get(parents[0])
        assert isinstance(first, pygit2.Commit)
        if len(parents) > 1 and _path_entry(commit.tree, path) != _path_entry(first.tree, path):
            found.append(commit_info(commit))
        commit = first
    return found
