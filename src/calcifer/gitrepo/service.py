"""The managed repository: creation, adoption, reading main, branches and worktrees, history.

The repository is bare (branch ``main``); every work item gets a branch and a linked worktree.
All git work runs in-process through pygit2; no git subprocess, and no user text ever becomes
a git option.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileMode, SortMode
from pygit2.errors import check_error
from pygit2.ffi import C, ffi

from calcifer.errors import Conflict, Invalid, NotFound, Problem

from . import spares
from ._repo import (
    MAIN,
    MAIN_REF,
    bare_repo,
    base_ref,
    branch_ref,
    commit_info,
    has_no_own_commits,
    main_oid,
    open_repo,
    ref_target,
    resolve_commit,
    validate_branch_name,
    validate_worktree_name,
)
from .changes import commit_worktree, worktree_changes, worktree_conflicts, worktree_state
from .merge import branch_status, merge_into_main, update_from_main
from .models import Author, BranchStatus, CommitInfo, FileChange, FileMerger
from .paths import (
    MAX_FILE_BYTES,
    confine_worktree,
    delete_worktree_file,
    read_worktree_file,
    safe_path,
    write_worktree_file,
)

# The whole API is importable from this module too (callers use ``gitrepo.service as git``).
__all__ = [
    "INITIAL_FILES",
    "MAX_FILE_BYTES",
    "Author",
    "BranchStatus",
    "CommitInfo",
    "FileChange",
    "FileMerger",
    "adopt_repository",
    "archive_branch",
    "blob_id_at",
    "branch_exists",
    "branch_status",
    "branch_tip",
    "commit_worktree",
    "commits_ahead",
    "confine_worktree",
    "create_work_branch",
    "delete_worktree_file",
    "ensure_worktree",
    "file_history",
    "find_commit_with_trailer",
    "find_merging_commit",
    "init_repository",
    "is_reachable",
    "list_branches",
    "list_files_at",
    "list_worktrees",
    "main_head",
    "merge_base",
    "merge_into_main",
    "prune_spares",
    "read_file_at",
    "read_worktree_file",
    "remove_work_branch",
    "retire_worktree",
    "safe_path",
    "update_from_main",
    "worktree_changes",
    "worktree_conflicts",
    "worktree_state",
    "write_worktree_file",
]

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


# --------------------------------------------------------------------------------------------------
# worktrees


def list_worktrees(*, repo_path: Path) -> dict[str, Path]:
    """Map each registered worktree name to its folder (the folder may be missing)."""
    repo = bare_repo(repo_path)
    result: dict[str, Path] = {}
    for name in repo.list_worktrees():
        try:
            result[name] = Path(repo.lookup_worktree(name).path)
        except (pygit2.GitError, KeyError, ValueError):
            continue
    return result


def _record_dir(repo_path: Path, name: str) -> Path:
    return repo_path / "worktrees" / name


def _drop_record(repo: pygit2.Repository, repo_path: Path, name: str) -> None:
    """Forget the worktree record ``name`` (its folder must be gone or unwanted). Never raises."""
    with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
        if name in repo.list_worktrees():
            repo.lookup_worktree(name).prune(True)
    # A half-written record (e.g. from a failed add) is not always listed or prunable: remove it.
    record = _record_dir(repo_path, name)
    if record.is_dir() and not record.is_symlink():
        shutil.rmtree(record, ignore_errors=True)


def _prune_stale_records(repo: pygit2.Repository, repo_path: Path) -> None:
    """Drop records whose folder is gone, so their branches can be checked out again (git's prune)."""
    for name in repo.list_worktrees():
        try:
            stale = repo.lookup_worktree(name).is_prunable
        except (pygit2.GitError, KeyError, ValueError):
            stale = True
        if stale:
            _drop_record(repo, repo_path, name)


def _guard_folder(repo_path: Path, worktree_path: Path) -> None:
    """Refuse worktree paths that would make a removal destroy the repository or a root folder."""
    wt = worktree_path.resolve()
    repo = repo_path.resolve()
    if wt == Path(wt.anchor) or wt == repo or repo.is_relative_to(wt) or wt.is_relative_to(repo):
        raise Invalid(f"{worktree_path} cannot be a worktree folder of {repo_path}")


def _empty_commit(repo: pygit2.Repository) -> pygit2.Oid:
    """A fixed commit with an empty tree (same id every time, so it never piles up)."""
    tree = repo.TreeBuilder().write()
    sig = pygit2.Signature(CALCIFER_NAME, CALCIFER_EMAIL, 0, 0)
    return repo.create_commit(None, sig, sig, "Empty checkout placeholder\n", tree, [])


def _needs_filters(repo: pygit2.Repository, tree: pygit2.Tree) -> bool:
    """True when checking out ``tree`` may need content filters (.gitattributes, autocrlf, eol)."""
    config = repo.config
    for key in ("core.autocrlf", "core.eol"):
        if key in config:
            return True
    if (Path(repo.path) / "info" / "attributes").exists():
        return True
    return _has_attributes(tree)


# Tree id -> whether a .gitattributes is anywhere in it, for every folder seen: the walk costs ~10 ms
# at 10,000 files, and a new main shares all but a few folders with the last one.
_TREES_WITH_ATTRIBUTES: dict[pygit2.Oid, bool] = {}


def _has_attributes(node: pygit2.Tree) -> bool:
    found = _TREES_WITH_ATTRIBUTES.get(node.id)
    if found is not None:
        return found
    found = False
    for entry in node:
        if entry.name == ".gitattributes":
            found = True
            break
        if entry.type_str == "tree" and isinstance(entry, pygit2.Tree) and _has_attributes(entry):
            found = True
            break
    if len(_TREES_WITH_ATTRIBUTES) >= 20_000:
        _TREES_WITH_ATTRIBUTES.clear()
    _TREES_WITH_ATTRIBUTES[node.id] = found
    return found


def _checkout_all(linked: pygit2.Repository, tree: pygit2.Tree, *, filters: bool, reused: bool = False) -> None:
    """Make the worktree's files and index hold ``tree``.

    For a fresh (empty) worktree every file is written. For a ``reused`` spare the checkout also removes
    untracked and ignored files, and rewrites only what differs from HEAD's tree (the spare's commit)
    or from the index's stat data, like ``git switch``.
    """
    strategy = CheckoutStrategy.FORCE
    if reused:
        strategy |= CheckoutStrategy.REMOVE_UNTRACKED | CheckoutStrategy.REMOVE_IGNORED
    if filters:
        linked.checkout_tree(tree, strategy=strategy)
        return
    # Without content filters libgit2 skips a .gitattributes lookup (one realpath() per path
    # component) for every file: checkout gets ~2.5x faster. pygit2 does not expose the option.
    opts = ffi.new("git_checkout_options *")
    check_error(C.git_checkout_options_init(opts, 1))
    opts.checkout_strategy = int(strategy)
    opts.disable_filters = 1
    target = ffi.new("git_object **")
    ffi.buffer(target)[:] = tree._pointer[:]
    check_error(C.git_checkout_tree(linked._repo, target[0], opts))


def _move_in_spare(repo: pygit2.Repository, repo_path: Path, spare: spares.Spare, *, name: str,
                   worktree_path: Path) -> bool:
    """Put a spare's files and index where libgit2 just made the (empty) worktree ``name``.

    HEAD is detached at the spare's commit, the baseline for the checkout that follows. Returns False,
    with the empty worktree as it was, when the files cannot be moved in.
    """
    git_file = worktree_path / ".git"
    link = git_file.read_bytes()
    git_file.unlink()
    worktree_path.rmdir()
    try:
        os.rename(spare.files, worktree_path)
    except OSError:
        worktree_path.mkdir()
        git_file.write_bytes(link)
        return False
    if git_file.is_dir() and not git_file.is_symlink():
        shutil.rmtree(git_file)
    elif git_file.exists() or git_file.is_symlink():
        git_file.unlink()
    git_file.write_bytes(link)
    record = _record_dir(repo_path, name)
    with contextlib.suppress(OSError):
        os.replace(spare.index, record / "index")
    if spare.commit is not None and isinstance(repo.get(spare.commit), pygit2.Commit):
        (record / "HEAD").write_text(f"{spare.commit}\n", encoding="ascii")
    return True


def _add_worktree(
    repo: pygit2.Repository, repo_path: Path, *, ref_name: str, name: str, worktree_path: Path
) -> None:
    """Add the linked worktree checked out on ``ref_name``.

    libgit2's add_worktree checks out with content filters and no way to turn them off, so the
    worktree is first added on a throw-away branch at an empty commit (nothing to check out), then
    pointed at the real branch and checked out here: into a spare's files when the pool has one
    (see ``spares``), else into the empty folder. On failure everything this call created is
    removed and the error re-raised.
    """
    made: list[Path] = []
    parent = worktree_path.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    placeholder = f"refs/heads/calcifer-tmp/{uuid.uuid4().hex}"
    spare: spares.Spare | None = None
    try:
        try:
            worktree_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Invalid(f"Cannot create the folder for worktree {name}: {exc.strerror}") from exc
        if worktree_path.is_dir() and not any(worktree_path.iterdir()):
            worktree_path.rmdir()  # libgit2 insists on creating the folder itself
        tree = repo[repo.lookup_reference(ref_name).target].peel(pygit2.Tree)
        filters = _needs_filters(repo, tree)
        repo.references.create(placeholder, _empty_commit(repo))
        repo.add_worktree(name, str(worktree_path), repo.lookup_reference(placeholder))
        spare = spares.claim(worktree_path)
        reused = spare is not None and _move_in_spare(repo, repo_path, spare, name=name,
                                                      worktree_path=worktree_path)
        linked = open_repo(worktree_path)
        _checkout_all(linked, linked[tree.id].peel(pygit2.Tree), filters=filters, reused=reused)
        linked.set_head(ref_name)
        repo.references.delete(placeholder)
    except BaseException:
        if worktree_path.exists():
            shutil.rmtree(worktree_path, ignore_errors=True)
        _drop_record(repo, repo_path, name)
        with contextlib.suppress(pygit2.GitError, KeyError):
            repo.references.delete(placeholder)
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        if spare is not None:
            spares.discard(spare.root)


def create_work_branch(*, repo_path: Path, branch: str, worktree_path: Path, worktree_name: str) -> str:
    """Create ``branch`` at main's tip and a linked worktree at ``worktree_path`` checked out on it.

    Parent folders are created. Returns the base commit id (main's tip). On any failure everything
    done so far is undone. Raises Invalid for bad names/paths, Conflict (code "branch_exists",
    "worktree_exists" or "worktree_path_exists") when a piece already exists, NotFound without main.
    """
    ref_name = branch_ref(branch)
    validate_worktree_name(worktree_name)
    _guard_folder(repo_path, worktree_path)
    repo = bare_repo(repo_path)
    base = main_oid(repo)
    problems: list[Problem] = []
    if ref_target(repo, ref_name) is not None or repo.references.get(ref_name) is not None:
        problems.append(Problem("branch_exists", f"Branch {branch} already exists"))
    if worktree_name in repo.list_worktrees() or _record_dir(repo_path, worktree_name).exists():
        problems.append(Problem("worktree_exists", f"Worktree {worktree_name} already exists"))
    if worktree_path.exists() and not _is_empty_dir(worktree_path):
        problems.append(Problem("worktree_path_exists", f"{worktree_path} exists and is not empty"))
    if problems:
        raise Conflict(problems[0].message, code=problems[0].code, problems=problems)
    try:
        repo.references.create(ref_name, base)
    except pygit2.AlreadyExistsError as exc:
        raise Conflict(f"Branch {branch} already exists", code="branch_exists") from exc
    try:
        repo.references.create(base_ref(branch), base, force=True)
        _add_worktree(repo, repo_path, ref_name=ref_name, name=worktree_name, worktree_path=worktree_path)
    except BaseException:
        for name in (ref_name, base_ref(branch)):
            with contextlib.suppress(pygit2.GitError, KeyError):
                repo.references.delete(name)
        raise
    return str(base)


def _remove_folder(path: Path) -> None:
    """Delete the folder ``path`` and everything in it (symlinks removed, never followed).

    shutil.rmtree builds a full path string per entry (for its error handler): at 10,000 files that is
    ~15 ms of a merge. This walks by directory descriptors with names only. Any other problem than an
    entry that vanished meanwhile falls back to shutil.rmtree, which raises as before.
    """
    if not (os.open in os.supports_dir_fd and os.unlink in os.supports_dir_fd and os.rmdir in os.supports_dir_fd
            and os.scandir in os.supports_fd and hasattr(os, "O_NOFOLLOW")):
        shutil.rmtree(path)
        return
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

    def empty(folder: int) -> None:
        with os.scandir(folder) as found:
            entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in found]
        for name, is_dir in entries:
            try:
                if is_dir:
                    inner = os.open(name, flags, dir_fd=folder)
                    try:
                        empty(inner)
                    finally:
                        os.close(inner)
                    os.rmdir(name, dir_fd=folder)
                else:
                    os.unlink(name, dir_fd=folder)
            except FileNotFoundError:
                continue

    try:
        top = os.open(path, flags)
        try:
            empty(top)
        finally:
            os.close(top)
        os.rmdir(path)
    except (OSError, RecursionError):
        if os.path.lexists(path):
            shutil.rmtree(path)


_RM = shutil.which("rm") if os.name == "posix" else None


def start_folder_removal(*, repo_path: Path, worktree_path: Path) -> subprocess.Popen[bytes] | None:
    """Start deleting a worktree folder's files in a child process (``rm -rf -- PATH``, no shell).

    For a caller with other work to do meanwhile (the after-merge re-index): the unlinks of 10,000
    files run on another core instead of after it. ``finish_folder_removal`` waits for it; then
    ``remove_work_branch`` prunes the record and deletes the branch, and removes whatever is left
    in-process. None (nothing started) for a symlink, a missing folder, or without ``rm``. Raises
    Invalid for a folder that could not be a worktree.
    """
    _guard_folder(repo_path, worktree_path)
    if _RM is None or worktree_path.is_symlink() or not worktree_path.is_dir():
        return None
    try:
        return subprocess.Popen([_RM, "-rf", "--", str(worktree_path.absolute())], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
    except OSError:
        return None


def finish_folder_removal(process: subprocess.Popen[bytes] | None, *, timeout: float = 300.0) -> None:
    """Wait for ``start_folder_removal``'s process (killed after ``timeout`` s). Never raises: what it
    left is removed by ``remove_work_branch``."""
    if process is None:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def retire_worktree(*, repo_path: Path, worktree_name: str, worktree_path: Path) -> bool:
    """Keep a merged work item's worktree as a spare for the next one instead of deleting it.

    Moves the folder and its index into the pool beside it (see ``spares``); the record and branch are
    then removed by ``remove_work_branch`` as usual. Returns False, having changed nothing, when the
    pool is full or the worktree is not a sound linked worktree; the caller then deletes it.
    """
    validate_worktree_name(worktree_name)
    _guard_folder(repo_path, worktree_path)
    try:
        linked = open_repo(worktree_path)
        commit = str(linked.head.target)
    except (pygit2.GitError, NotFound, KeyError, ValueError, OSError):
        return False
    return spares.retire(worktree_path=worktree_path, index_path=_record_dir(repo_path, worktree_name) / "index",
                         commit=commit)


def prune_spares(*, worktrees_dir: Path) -> int:
    """Remove spare worktrees a crash left half-made (see ``spares.prune``); returns how many."""
    return spares.prune(worktrees_dir)


def remove_work_branch(
    *,
    repo_path: Path,
    branch: str,
    worktree_name: str,
    worktree_path: Path,
    delete_branch: bool = True,
) -> None:
    """Remove the worktree folder, prune its record, then (optionally) delete the branch.

    The order matters: libgit2 refuses to prune a worktree whose folder exists and to delete a
    branch checked out in a worktree. Idempotent: missing pieces are skipped. Uncommitted changes in
    the worktree are lost (archive or commit first). Raises Invalid for bad names or a folder that
    could not be a worktree; Conflict (code "branch_checked_out") when another worktree still has
    the branch checked out.
    """
    validate_branch_name(branch)
    validate_worktree_name(worktree_name)
    _guard_folder(repo_path, worktree_path)
    repo = bare_repo(repo_path)
    if worktree_path.is_symlink():
        worktree_path.unlink()
    elif worktree_path.exists():
        _remove_folder(worktree_path)
    _drop_record(repo, repo_path, worktree_name)
    if not delete_branch:
        return
    found = repo.branches.local.get(branch)
    if found is not None:
        try:
            found.delete()
        except pygit2.GitError as exc:
            raise Conflict(
                f"Branch {branch} is still checked out in another worktree", code="branch_checked_out"
            ) from exc
    with contextlib.suppress(pygit2.GitError, KeyError):
        repo.references.delete(base_ref(branch))


def _worktree_is_sound(repo: pygit2.Repository, name: str, worktree_path: Path, ref_name: str) -> bool:
    if name not in repo.list_worktrees():
        return False
    try:
        wt = repo.lookup_worktree(name)
        if wt.is_prunable or Path(wt.path).resolve() != worktree_path.resolve():
            return False
        linked = open_repo(worktree_path)
        return not linked.head_is_detached and linked.head.name == ref_name
    except (pygit2.GitError, NotFound, KeyError, ValueError, OSError):
        return False


def _copy_working_files(source: Path, target: Path) -> None:
    """Copy every file of ``source`` except its .git over ``target`` (keeps uncommitted edits)."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            filenames = [f for f in filenames if f != ".git"]
        (target / rel).mkdir(parents=True, exist_ok=True)
        for filename in filenames:
            src = Path(dirpath) / filename
            dst = target / rel / filename
            if dst.is_dir() and not dst.is_symlink():
                continue
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)


def _worktree_holding(repo_path: Path, ref_name: str) -> str | None:
    """The name of a registered worktree whose HEAD is ``ref_name``, if any."""
    records = repo_path / "worktrees"
    if not records.is_dir():
        return None
    for record in sorted(records.iterdir()):
        try:
            head = (record / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if head == f"ref: {ref_name}":
            return record.name
    return None


def ensure_worktree(*, repo_path: Path, branch: str, worktree_name: str, worktree_path: Path) -> bool:
    """Make sure the branch's worktree exists at ``worktree_path``; rebuild it when missing or broken.

    Used by reconciliation and restore. A broken folder that still holds files is moved aside, the
    worktree is recreated from the branch, the old working files are copied back over it (so
    uncommitted edits survive) and the old folder is removed. Returns True when it had to repair,
    False when all was well. Raises NotFound when the branch does not exist, Invalid for bad names,
    Conflict (code "branch_checked_out") when another worktree has the branch checked out.
    """
    ref_name = branch_ref(branch)
    validate_worktree_name(worktree_name)
    _guard_folder(repo_path, worktree_path)
    repo = bare_repo(repo_path)
    if ref_target(repo, ref_name) is None:
        raise NotFound(f"Branch {branch} does not exist")
    if _worktree_is_sound(repo, worktree_name, worktree_path, ref_name):
        return False
    stale: Path | None = None
    if worktree_path.is_symlink():
        worktree_path.unlink()
    elif worktree_path.exists() and not worktree_path.is_dir():
        # Something else sits where the worktree belongs: keep it beside, never delete it.
        worktree_path.rename(worktree_path.with_name(f"{worktree_path.name}.stale-{uuid.uuid4().hex[:8]}"))
    elif worktree_path.is_dir():
        if any(worktree_path.iterdir()):
            stale = worktree_path.with_name(f"{worktree_path.name}.stale-{uuid.uuid4().hex[:8]}")
            worktree_path.rename(stale)
        else:
            worktree_path.rmdir()
    _drop_record(repo, repo_path, worktree_name)
    _prune_stale_records(repo, repo_path)
    holder = _worktree_holding(repo_path, ref_name)
    if holder is not None:
        if stale is not None:
            stale.rename(worktree_path)
        raise Conflict(f"Branch {branch} is checked out in worktree {holder}", code="branch_checked_out")
    try:
        _add_worktree(repo, repo_path, ref_name=ref_name, name=worktree_name, worktree_path=worktree_path)
    except BaseException:
        if stale is not None and not worktree_path.exists():
            stale.rename(worktree_path)
        raise
    if stale is not None:
        _copy_working_files(stale, worktree_path)
        shutil.rmtree(stale, ignore_errors=True)
    return True


# --------------------------------------------------------------------------------------------------
# history


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
