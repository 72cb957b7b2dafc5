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


@dataclass(frozen=True)
class FilePatch:
    """One file of ``base...head``, diffed alone (see ``compare_file``)."""

    patch: pygit2.Patch
    path: str
    old_path: str | None  # set when renamed
    status: str  # "added" | "deleted" | "renamed" | "modified"
    # The patch reads the blobs' memory without owning it: they live as long as it does.
    blobs: tuple[pygit2.Blob | None, pygit2.Blob | None] = (None, None)


def _blob(repo: pygit2.Repository, tree: pygit2.Tree, path: str) -> pygit2.Blob | None:
    try:
        entry = tree[path]
    except (KeyError, ValueError):
        return None
    obj = repo.get(entry.id)
    return obj if isinstance(obj, pygit2.Blob) else None


def compare_file(*, repo_path: Path, base: str, head: str, path: str, old_path: str | None = None) -> FilePatch:
    """One file of ``base...head`` (``old_path``: where a renamed file came from), diffed from the two
    blobs alone: no walk of the commits, no diff of the whole trees. Raises Invalid/NotFound for a ref as
    ``resolve_ref`` does, NotFound when the file is not among those the comparison changed."""
    repo = bare_repo(repo_path)
    base_commit, head_commit = resolve_ref(repo, base), resolve_ref(repo, head)
    merge_base = repo.merge_base(base_commit.id, head_commit.id)
    start = repo[merge_base].peel(pygit2.Commit).tree if merge_base is not None else base_commit.tree
    before = old_path or path
    old, new = _blob(repo, start, before), _blob(repo, head_commit.tree, path)
    if (old is None and new is None) or (old_path and (old is None or new is None)) or (
            old is not None and new is not None and old.id == new.id and before == path):
        raise NotFound(f"{path[:200]!r} is not among the files this comparison changed.")
    status = "added" if old is None else "deleted" if new is None else "renamed" if before != path else "modified"
    patch = pygit2.Patch.create_from(old, new, old_as_path=before, new_as_path=path)
    return FilePatch(patch=patch, path=path, old_path=before if status == "renamed" else None, status=status,
                     blobs=(old, new))
