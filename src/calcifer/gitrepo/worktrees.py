"""Worktrees: one linked worktree per work item branch — creating, checking, re-creating and retiring them,
and removing work branches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy
from pygit2.errors import check_error
from pygit2.ffi import C, ffi

from calcifer.errors import Conflict, Invalid, NotFound, Problem

from . import spares
from ._repo import (
    bare_repo,
    base_ref,
    branch_ref,
    main_oid,
    open_repo,
    ref_target,
    validate_branch_name,
    validate_worktree_name,
)
from .service import CALCIFER_EMAIL, CALCIFER_NAME, _is_empty_dir


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
