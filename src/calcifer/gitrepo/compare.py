"""Two refs compared as a forge compares them: the commits ``head`` has that ``base`` lacks, and the
changes from their merge base to ``head`` (``base...head``), renames detected."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pygit2

from calcifer.errors import Invalid, NotFound

from ._repo import bare_repo, validate_branch_name

MAX_COMMITS = 250
_HEX = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass(frozen=True)
class Comparison:
    repo: pygit2.Repository
    base: pygit2.Commit
    head: pygit2.Commit
    merge_base: pygit2.Oid | None  # None: the two share no history (the diff is then base's tree to head's)
    commits: list[pygit2.Commit]  # head's commits that base lacks, newest first, at most MAX_COMMITS
    commits_total: int
    diff: pygit2.Diff


def resolve_ref(repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    """A branch, a tag or a commit id (7 to 40 hex digits) as a commit. Raises Invalid for a name that
    is none of those shapes, NotFound for one that names nothing here."""
    if not isinstance(ref, str) or not ref or len(ref) > 200:
        raise Invalid("Name a branch, a tag or a commit id (7 to 40 hexadecimal digits).", code="bad_ref")
    candidates: list[str] = []
    if _HEX.match(ref):
        candidates.append("")
    try:
        validate_branch_name(ref)
    except Invalid:
        if not candidates:
            raise Invalid(f"{ref[:80]!r} is not a branch, tag or commit id.", code="bad_ref") from None
    else:
        candidates[:0] = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    for name in candidates:
        if name:
            found = repo.references.get(name)
            if found is not None:
                return found.peel(pygit2.Commit)
            continue
        try:
            target = repo.revparse_single(ref.lower()) if len(ref) < 40 else repo.get(ref.lower())
        except (KeyError, ValueError, pygit2.GitError):
            target = None
        if isinstance(target, pygit2.Commit):
            return target
    raise NotFound(f"There is no branch, tag or commit {ref[:80]!r} in the repository.")


def compare(*, repo_path: Path, base: str, head: str) -> Comparison:
    """``base...head``. Raises Invalid/NotFound for a ref as ``resolve_ref`` does."""
    repo = bare_repo(repo_path)
    base_commit, head_commit = resolve_ref(repo, base), resolve_ref(repo, head)
    merge_base = repo.merge_base(base_commit.id, head_commit.id)
    walker = repo.walk(head_commit.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    if merge_base is not None:
        walker.hide(merge_base)
    else:
        walker.hide(base_commit.id)
    commits: list[pygit2.Commit] = []
    total = 0
    for commit in walker:
        total += 1
        if len(commits) < MAX_COMMITS:
            commits.append(commit)
    start = repo[merge_base].peel(pygit2.Commit).tree if merge_base is not None else base_commit.tree
    diff = start.diff_to_tree(head_commit.tree)
    diff.find_similar()  # renames (and a changed file that moved) as one entry, as git shows them
    return Comparison(repo, base_commit, head_commit, merge_base, commits, total, diff)
