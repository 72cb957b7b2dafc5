"""The managed repository: creation, adoption, reading main, branches.

The repository is bare (branch ``main``); every work item gets a branch and a linked worktree.
All git work runs in-process through pygit2; no git subprocess, and no user text ever becomes
a git option.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from calcifer.errors import Conflict, Invalid, NotFound

from ._repo import (
    MAIN,
    MAIN_REF,
    bare_repo,
    branch_ref,
    main_oid,
    open_repo,
    ref_target,
    resolve_commit,
)

INITIAL_FILES: dict[str, bytes] = {
    "CHANGES.md": b"# Changelog\n",
    "catalog/services/.gitkeep": b"",
    "catalog/endpoints/.gitkeep": b"",
    "docs/.gitkeep": b"",
    "docs/_templates/.gitkeep": b"",
}

CALCIFER_NAME = "Calcifer"
CALCIFER_EMAIL = "calcifer@localhost"
INITIAL_MESSAGE = "Initialize Calcifer repository\n"

_URL = re.compile(r"^(https?|ssh|git|file)://[^\s]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")


# --------------------------------------------------------------------------------------------------
# creating and adopting


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _open_existing_bare(path: Path) -> pygit2.Repository | None:
    try:
        repo = open_repo(path)
    except NotFound:
        return None
    return repo if repo.is_bare else None


def _check_initial_path(path: str) -> None:
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts)
    ):
        raise Invalid(f"Initial file path {path!r} is not a plain relative path")


def init_repository(*, path: Path, initial_files: dict[str, bytes] | None = None) -> bool:
    """Create the bare managed repository at ``path`` with branch main and one initial commit.

    The commit (author "Calcifer <calcifer@localhost>") holds ``initial_files`` (default
    :data:`INITIAL_FILES`); HEAD points at refs/heads/main. Returns True when created, False when a
    bare repository already exists there (it is left untouched). Raises Invalid when ``path`` is a
    non-empty folder that is not a bare git repository, or an initial file path is not plain.
    """
    files = INITIAL_FILES if initial_files is None else initial_files
    for name in files:
        _check_initial_path(name)
    if path.exists():
        if _open_existing_bare(path) is not None:
            return False
        if not path.is_dir():
            raise Invalid(f"{path} exists and is not a folder")
        if not _is_empty_dir(path):
            raise Invalid(f"{path} exists, is not empty and is not a bare git repository")
        created_dir = False
    else:
        created_dir = True
    try:
        repo = pygit2.init_repository(str(path), bare=True, initial_head=MAIN)
        index = pygit2.Index()
        for name, data in sorted(files.items()):
            index.add(pygit2.IndexEntry(name, repo.create_blob(data), FileMode.BLOB))
        tree = index.write_tree(repo)
        sig = pygit2.Signature(CALCIFER_NAME, CALCIFER_EMAIL)
        repo.create_commit(MAIN_REF, sig, sig, INITIAL_MESSAGE, tree, [])
        repo.set_head(MAIN_REF)
    except BaseException:
        _wipe(path, keep_dir=not created_dir)
        raise
    return True


def _wipe(path: Path, *, keep_dir: bool) -> None:
    """Remove what a failed init/adopt created at ``path`` (the folder itself unless ``keep_dir``)."""
    if not path.exists():
        return
    if keep_dir:
        for child in path.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    child.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _check_source(source: str) -> str:
    if not isinstance(source, str) or not source.strip():
        raise Invalid("The repository source is empty")
    if source.startswith("-"):
        raise Invalid("The repository source must not start with '-'")
    if any(ord(ch) < 0x20 for ch in source):
        raise Invalid("The repository source contains control characters")
    if _URL.match(source):
        return source
    local = Path(source).expanduser()
    if local.exists():
        return str(local.resolve())
    raise Invalid(
        f"{source!r} is neither an existing local path nor a git URL "
        "(http(s)://, ssh://, git@host:path, file://)"
    )


def adopt_repository(*, source: str, path: Path) -> None:
    """Clone ``source`` (a local path or a git URL) as the bare managed repository at ``path``.

    Afterwards a local branch main exists (created from the source's default branch, e.g. master,
    when the source has none) and HEAD points at it. Raises Invalid when ``path`` exists and is not
    an empty folder, when ``source`` is not a local path or URL (or starts with '-'), when the clone
    fails, or when the source has no commits. A failed adoption leaves nothing behind.
    """
    src = _check_source(source)
    if path.exists() and not _is_empty_dir(path):
        raise Invalid(f"{path} exists and is not empty")
    existed = path.exists()
    try:
        try:
            repo = pygit2.clone_repository(src, str(path), bare=True)
        except (pygit2.GitError, OSError, ValueError) as exc:
            raise Invalid(f"Could not clone {source!r}: {exc}") from exc
        if ref_target(repo, MAIN_REF) is None:
            start: pygit2.Commit | None = None
            candidates: list[str] = []
            if not repo.head_is_unborn:
                candidates.append(repo.head.name)
            candidates += ["refs/heads/master", "refs/remotes/origin/main", "refs/remotes/origin/master"]
            for name in candidates:
                oid = ref_target(repo, name)
                if oid is not None:
                    start = repo[oid].peel(pygit2.Commit)
                    break
            if start is None:
                raise Invalid(f"{source!r} has no commits to adopt")
            repo.create_branch(MAIN, start)
        repo.set_head(MAIN_REF)
    except BaseException:
        _wipe(path, keep_dir=existed)
        raise


# --------------------------------------------------------------------------------------------------
# reading main (straight from git objects)


def is_reachable(*, repo_path: Path) -> bool:
    """True when ``repo_path`` opens as a git repository that has refs/heads/main. Never raises."""
    try:
        repo = bare_repo(repo_path)
        return ref_target(repo, MAIN_REF) is not None
    except Exception:  # noqa: BLE001 - a health probe: any failure means "not reachable"
        return False


def main_head(*, repo_path: Path) -> str:
    """Return main's tip commit id. Raises NotFound when there is no repository or no main."""
    return str(main_oid(bare_repo(repo_path)))


def read_file_at(*, repo_path: Path, path: str, ref: str = MAIN) -> bytes | None:
    """Return the bytes of ``path`` at ``ref`` (branch, tag or commit id), or None if not a file there.

    Reads git objects, not a checkout. Raises NotFound for an unknown ``ref`` or repository.
    """
    repo = bare_repo(repo_path)
    commit = resolve_commit(repo, ref)
    clean = path.strip("/")
    if not clean:
        return None
    try:
        entry = commit.tree[clean]
    except (KeyError, ValueError):
        return None
    obj = repo[entry.id]
    if not isinstance(obj, pygit2.Blob):
        return None
    return obj.data


def blob_id_at(*, repo_path: Path, path: str, ref: str = MAIN) -> str | None:
    """The blob id of the file ``path`` at ``ref`` (no content read), or None if not a file there.

    Raises NotFound for an unknown ``ref`` or repository.
    """
    commit = resolve_commit(bare_repo(repo_path), ref)
    clean = path.strip("/")
    if not clean:
        return None
    try:
        entry = commit.tree[clean]
    except (KeyError, ValueError):
        return None
    return str(entry.id) if entry.type_str == "blob" else None


def _tree_paths(tree: pygit2.Tree, prefix: str = "", out: list[str] | None = None) -> list[str]:
    # A recursion over Tree objects is ~10x faster than flattening through Index.read_tree, whose
    # entries cross the cffi boundary one by one. Submodule entries (commits) are not files.
    paths: list[str] = [] if out is None else out
    for entry in tree:
        kind = entry.type_str
        name = entry.name or ""
        if kind == "blob":
            paths.append(prefix + name)
        elif kind == "tree" and isinstance(entry, pygit2.Tree):
            _tree_paths(entry, f"{prefix}{name}/", paths)
    return paths


def list_files_at(*, repo_path: Path, prefix: str = "", ref: str = MAIN) -> list[str]:
    """Return the sorted paths of all files at ``ref`` under ``prefix``.

    ``prefix`` naming a folder ("docs" or "docs/") lists everything below it; otherwise it is a plain
    string prefix of the path ("docs/setup-" lists docs/setup-*). Raises NotFound for an unknown ref.
    """
    repo = bare_repo(repo_path)
    tree = resolve_commit(repo, ref).tree
    folder = prefix.strip("/")
    if not folder:
        return sorted(_tree_paths(tree))
    try:
        entry = tree[folder]
    except (KeyError, ValueError):
        entry = None
    if entry is not None:
        obj = repo[entry.id]
        if isinstance(obj, pygit2.Tree):
            return sorted(_tree_paths(obj, folder + "/"))
        if not prefix.endswith("/"):
            return [folder]
        return []
    parent, _, _ = folder.rpartition("/")
    if parent:
        try:
            parent_obj = repo[tree[parent].id]
        except (KeyError, ValueError):
            return []
        if not isinstance(parent_obj, pygit2.Tree):
            return []
        paths = _tree_paths(parent_obj, parent + "/")
    else:
        paths = _tree_paths(tree)
    return sorted(p for p in paths if p.startswith(prefix))


# --------------------------------------------------------------------------------------------------
# branches


def branch_exists(*, repo_path: Path, branch: str) -> bool:
    """True when refs/heads/<branch> exists. Raises Invalid for a malformed name."""
    return ref_target(bare_repo(repo_path), branch_ref(branch)) is not None


def branch_tip(*, repo_path: Path, branch: str) -> str | None:
    """The branch's tip commit id, or None when it does not exist. Raises Invalid for a bad name."""
    oid = ref_target(bare_repo(repo_path), branch_ref(branch))
    return str(oid) if oid is not None else None


def list_branches(*, repo_path: Path) -> list[str]:
    """All local branch names, sorted."""
    return sorted(bare_repo(repo_path).listall_branches())


def archive_branch(*, repo_path: Path, branch: str) -> str | None:
    """Tag the branch tip as ``archive/<branch>`` (lightweight) so its commits stay reachable.

    When that tag exists already, "-2", "-3", ... is appended. Returns the tag name, or None when
    the branch does not exist. Raises Invalid for a malformed branch name.
    """
    repo = bare_repo(repo_path)
    tip = ref_target(repo, branch_ref(branch))
    if tip is None:
        return None
    base = f"archive/{branch}"
    for n in range(1, 10_000):
        name = base if n == 1 else f"{base}-{n}"
        try:
            repo.references.create(f"refs/tags/{name}", tip)
        except pygit2.AlreadyExistsError:
            continue
        return name
    raise Conflict(f"Too many archive tags for {branch}", code="archive_exhausted")
