"""Shared helpers of the git layer: opening repositories, names, signatures, commit conversion, locks.

Every public function gets its own ``pygit2.Repository``, fresh or from a per-thread cache of handles
(``bare_repo``, ``worktree_repo``): libgit2 objects must not be shared between threads.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pygit2
from pygit2.enums import RepositoryOpenFlag

from calcifer.errors import Invalid, NotFound

from .models import Author, CommitInfo

MAIN = "main"
MAIN_REF = "refs/heads/main"
# Where create_work_branch records each work branch's starting commit, so that a branch without
# commits of its own is not mistaken for a merged one (both have their tip reachable from main).
BASE_REFS = "refs/calcifer/base/"
LOCK_FILE = "calcifer-merge.lock"

_WORKTREE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")


def skip_rehashing_on_read() -> None:
    """Read objects as git does: trusting the object database, without hashing each object again.

    libgit2 by default re-hashes every object it reads (with the collision-detecting SHA-1, the costliest
    part of a fetch over ``file://``: a third of its time for 100 new commits). git itself verifies hashes
    where objects enter, not where they are read; so does libgit2 with this off: a fetched pack is still
    indexed (each object hashed) before its objects exist here, and ``git fsck`` finds a damaged disk.
    Process-wide, so the instance's set-up (``instance.prepare``) calls it once."""
    pygit2.settings.enable_strict_hash_verification(False)


def open_repo(repo_path: Path) -> pygit2.Repository:
    """Open the managed repository at exactly ``repo_path`` (never a parent directory's repository).

    Raises NotFound when there is no repository there.
    """
    try:
        # NO_SEARCH: without it libgit2 walks up the directory tree and could open an enclosing repo.
        return pygit2.Repository(str(repo_path), RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, KeyError, OSError) as exc:
        raise NotFound(f"No git repository at {repo_path}") from exc


_handles = threading.local()
_HANDLES_PER_THREAD = 4


def _forget_handles() -> None:
    global _handles
    _handles = threading.local()


# A forked worker must not reuse libgit2 handles (open files, mmaps) of its parent.
os.register_at_fork(after_in_child=_forget_handles)


def _thread_cache() -> OrderedDict[str, tuple[tuple[int, int, int, int], pygit2.Repository]]:
    cache: OrderedDict[str, tuple[tuple[int, int, int, int], pygit2.Repository]] | None
    cache = getattr(_handles, "cache", None)
    if cache is None:
        cache = _handles.cache = OrderedDict()
    return cache


def _kept_handle(key: str, stamp: tuple[int, int, int, int],
                 open_handle: Callable[[], pygit2.Repository]) -> tuple[pygit2.Repository, bool]:
    """This thread's handle for ``key`` if its ``stamp`` still matches, else a new one (kept, the least
    recently used dropped beyond ``_HANDLES_PER_THREAD``). Returns (handle, whether it was kept)."""
    cache = _thread_cache()
    hit = cache.get(key)
    if hit is not None and hit[0] == stamp:
        cache.move_to_end(key)
        return hit[1], True
    repo = open_handle()
    cache[key] = (stamp, repo)
    cache.move_to_end(key)
    while len(cache) > _HANDLES_PER_THREAD:
        cache.popitem(last=False)
    return repo, False


def _stamp(repo_path: Path) -> tuple[int, int, int, int]:
    """Identity of the repository on disk: its folder, and its pack folder's last change."""
    folder = os.stat(repo_path)
    try:
        packs = os.stat(repo_path / "objects" / "pack").st_mtime_ns
    except FileNotFoundError:
        packs = 0
    return folder.st_dev, folder.st_ino, folder.st_mtime_ns, packs


def bare_repo(repo_path: Path) -> pygit2.Repository:
    """The managed (bare) repository, from a small per-thread cache of open handles.

    Reopening costs little, but a fresh handle also starts with an empty object cache, and walking
    history cold is several times slower. Handles are never shared between threads (libgit2
    objects are not thread-safe); refs are read from disk on every lookup anyway. A handle is
    dropped when the folder is replaced (restore) or packs change (gc, push). Raises NotFound.
    """
    key = str(repo_path)
    try:
        stamp = _stamp(repo_path)
    except OSError as exc:
        raise NotFound(f"No git repository at {repo_path}") from exc
    repo, _kept = _kept_handle(key, stamp, lambda: open_repo(repo_path))
    return repo


@contextmanager
def lent_worktree(worktree_path: Path) -> Iterator[pygit2.Repository]:
    """``worktree_repo``'s handle, taken out of this thread's cache while the block runs so that another
    thread may use it alone (a ``worktree_repo`` of the same worktree meanwhile opens one of its own);
    kept again afterwards unless one was opened meanwhile. Raises NotFound as ``worktree_repo`` does."""
    repo = worktree_repo(worktree_path)
    key = f"worktree:{worktree_path}"
    cache = _thread_cache()
    kept = cache.pop(key, None)
    try:
        yield repo
    finally:
        if kept is not None and key not in cache:
            cache[key] = kept
            while len(cache) > _HANDLES_PER_THREAD:
                cache.popitem(last=False)


def _worktree_stamp(worktree_path: Path) -> tuple[int, int, int, int]:
    """Identity of a worktree on disk: its folder and its .git file (a recreated worktree has new ones)."""
    folder = os.stat(worktree_path)
    link = os.stat(worktree_path / ".git")
    return folder.st_dev, folder.st_ino, link.st_ino, link.st_mtime_ns


def worktree_repo(worktree_path: Path) -> pygit2.Repository:
    """The worktree's repository, from the same kind of per-thread cache as ``bare_repo``.

    A kept handle keeps its parsed index (3-4 ms to read and checksum at 10,000 files) and its cached
    trees, so a status right after a commit in the same thread skips both. The index is re-read here
    when the file changed on disk (libgit2 compares its checksum), so an outside ``git add`` is seen.
    A caller that changes the index in memory and fails before writing it must call
    ``forget_worktree``, or the next caller in this thread would see its unwritten changes. Raises
    NotFound when the worktree is missing or broken.
    """
    key = f"worktree:{worktree_path}"
    try:
        stamp = _worktree_stamp(worktree_path)
    except OSError as exc:
        raise NotFound(f"No worktree at {worktree_path}") from exc
    repo, kept = _kept_handle(key, stamp, lambda: open_worktree(worktree_path))
    if kept:
        repo.index.read(False)  # re-parsed only when the file on disk changed
    return repo


def forget_worktree(worktree_path: Path) -> None:
    """Drop this thread's kept handle of the worktree (see ``worktree_repo``)."""
    _thread_cache().pop(f"worktree:{worktree_path}", None)


def open_worktree(worktree_path: Path) -> pygit2.Repository:
    """Open the linked worktree at ``worktree_path``. Raises NotFound when it is missing or broken."""
    if not (worktree_path / ".git").exists():
        raise NotFound(f"No worktree at {worktree_path}")
    repo = open_repo(worktree_path)
    if repo.is_bare or repo.workdir is None:
        raise NotFound(f"No worktree at {worktree_path}")
    return repo


def validate_branch_name(branch: str) -> None:
    """Raise Invalid unless ``branch`` is a safe local branch name (never an option, never odd refs)."""
    if not isinstance(branch, str) or not branch:
        raise Invalid("Branch name is empty")
    if len(branch) > 200:
        raise Invalid("Branch name is longer than 200 characters")
    if branch.startswith("-") or any(part.startswith("-") for part in branch.split("/")):
        raise Invalid(f"Branch name {branch!r} must not start a component with '-'")
    if branch == "HEAD" or any(ord(ch) < 0x20 or ch == "\x7f" for ch in branch):
        raise Invalid(f"Branch name {branch!r} is not allowed")
    if not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
        raise Invalid(f"Branch name {branch!r} is not a valid git branch name")


def validate_worktree_name(name: str) -> None:
    """Raise Invalid unless ``name`` is a plain worktree name (letters, digits, ``._-``; max 100)."""
    if not isinstance(name, str) or not _WORKTREE_NAME.match(name):
        raise Invalid(
            f"Worktree name {name!r} must be 1-100 letters, digits, '.', '_' or '-' "
            "and start with a letter or digit"
        )


def branch_ref(branch: str) -> str:
    validate_branch_name(branch)
    return f"refs/heads/{branch}"


def ref_target(repo: pygit2.Repository, name: str) -> pygit2.Oid | None:
    """The commit id a direct reference points at, or None when the reference does not exist."""
    ref = repo.references.get(name)
    if ref is None:
        return None
    ref = ref.resolve()
    target = ref.target
    return target if isinstance(target, pygit2.Oid) else None


def base_ref(branch: str) -> str:
    return BASE_REFS + branch


def has_no_own_commits(repo: pygit2.Repository, branch: str, tip: pygit2.Oid) -> bool:
    """True when ``branch`` still points where create_work_branch started it."""
    return ref_target(repo, base_ref(branch)) == tip


def main_oid(repo: pygit2.Repository) -> pygit2.Oid:
    """main's tip. Raises NotFound when the repository has no main branch."""
    oid = ref_target(repo, MAIN_REF)
    if oid is None:
        raise NotFound("The repository has no branch 'main'")
    return oid


def resolve_commit(repo: pygit2.Repository, ref: str) -> pygit2.Commit:
    """Resolve a branch name, tag name, full ref name or commit id to a commit.

    Only plain names and hex ids are accepted (no revision syntax). Raises NotFound.
    """
    if not isinstance(ref, str) or not ref or ref.startswith("-"):
        raise NotFound(f"Unknown revision {ref!r}")
    candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    if ref.startswith("refs/"):
        candidates.insert(0, ref)
    for name in candidates:
        try:
            valid = pygit2.reference_is_valid_name(name)
        except (ValueError, TypeError):
            valid = False
        if not valid:
            continue
        found = repo.references.get(name)
        if found is not None:
            try:
                return found.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError) as exc:
                raise NotFound(f"{ref!r} does not point at a commit") from exc
    if _HEX.match(ref):
        try:
            obj = repo.revparse_single(ref) if len(ref) < 40 else repo.get(ref)
        except (KeyError, ValueError, pygit2.GitError):
            obj = None
        if obj is not None:
            try:
                return obj.peel(pygit2.Commit)
            except (pygit2.GitError, ValueError, TypeError):
                pass
    raise NotFound(f"Unknown revision {ref!r}")


def signature(author: Author) -> pygit2.Signature:
    """A pygit2 signature for ``author`` with the current time. Raises Invalid on a bad name/email."""
    name, email = (author.name or "").strip(), (author.email or "").strip()
    if not name or not email:
        raise Invalid("Author name and email are required")
    for value in (name, email):
        if any(ch in value for ch in "<>\n\r\x00"):
            raise Invalid("Author name and email must not contain '<', '>' or line breaks")
    try:
        return pygit2.Signature(name, email)
    except (ValueError, pygit2.GitError) as exc:
        raise Invalid(f"Invalid author: {exc}") from exc


def clean_message(message: str) -> str:
    """Strip the message like git does (outer blank lines, trailing spaces) and end it with a newline.

    Raises Invalid when nothing is left.
    """
    if not isinstance(message, str):
        raise Invalid("Commit message must be text")
    if "\x00" in message:
        raise Invalid("Commit message must not contain NUL bytes")
    lines = [line.rstrip() for line in message.replace("\r\n", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    if not text.strip():
        raise Invalid("Commit message is empty")
    return text + "\n"


def commit_info(commit: pygit2.Commit) -> CommitInfo:
    message = commit.message
    summary = message.split("\n", 1)[0].strip()
    cid = str(commit.id)
    return CommitInfo(
        id=cid,
        short_id=cid[:7],
        message=message,
        summary=summary,
        author_name=commit.author.name,
        author_email=commit.author.email,
        time=datetime.fromtimestamp(commit.author.time, tz=UTC),
        parents=[str(p) for p in commit.parent_ids],
    )


@contextmanager
def repo_lock(repo_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<repo>/calcifer-merge.lock`` for the block.

    ``flock`` locks belong to the open file description, so each caller opens its own descriptor:
    that serialises threads of one process as well as separate processes.
    """
    fd = os.open(str(repo_path / LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
