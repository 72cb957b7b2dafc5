"""User-supplied paths inside a worktree: validation and plain file operations.

Every path that comes from a user goes through :func:`safe_path` before it touches the disk or git.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from calcifer.errors import Invalid, NotFound

MAX_PATH_LENGTH = 255
MAX_COMPONENT_LENGTH = 200
MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: the most Calcifer edits (and shows in its editor)
BINARY_SNIFF_BYTES = 8000  # git's own heuristic: a NUL byte in the first 8000 bytes means binary


def _check_text(path: str) -> list[str]:
    if not isinstance(path, str) or not path.strip():
        raise Invalid("The file path is empty")
    if "\x00" in path:
        raise Invalid("The file path contains a NUL byte")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        raise Invalid("The file path contains control characters")
    if "\\" in path:
        raise Invalid(f"The file path {path!r} contains a backslash; use '/' between folders")
    if path.startswith("/") or (len(path) > 1 and path[0].isalpha() and path[1] == ":"):
        raise Invalid(f"The file path {path!r} must be relative to the repository root")
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_LENGTH:
        raise Invalid(f"The file path is longer than {MAX_PATH_LENGTH} bytes")
    parts = path.split("/")
    for part in parts:
        if part == "":
            raise Invalid(f"The file path {path!r} has an empty folder name (a doubled or trailing '/')")
        if part in (".", ".."):
            raise Invalid(f"The file path {path!r} must not contain '.' or '..'")
        if _is_git_dir_name(part):
            raise Invalid(f"The file path {path!r} must not reach into '.git'")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_LENGTH:
            raise Invalid(f"A name in the file path is longer than {MAX_COMPONENT_LENGTH} bytes")
    return parts


def _is_git_dir_name(part: str) -> bool:
    # ".git", ".GIT", ".git." and ".git " all mean the git directory on some filesystem.
    return part.lower().rstrip(". ") == ".git"


def safe_path(*, root: Path, path: str) -> Path:
    """Validate the user-supplied relative ``path`` and return its absolute location under ``root``.

    Returns ``root.resolve() / path`` (the last component is not dereferenced, so a symlink that
    stays inside ``root`` is itself addressable). Raises Invalid for an empty path, NUL or control
    characters, backslashes, absolute paths, '.' / '..' / empty components, a '.git' component,
    a path longer than 255 bytes or a component longer than 200 bytes, and any path whose resolved
    location (following symlinks) is ``root`` itself, outside ``root`` or inside a '.git'.
    """
    parts = _check_text(path)
    base = root.resolve()
    candidate = base.joinpath(*parts)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise Invalid(f"The file path {path!r} cannot be resolved: {exc}") from exc
    if resolved == base or not resolved.is_relative_to(base):
        raise Invalid(f"The file path {path!r} points outside the repository")
    if any(_is_git_dir_name(part) for part in resolved.relative_to(base).parts):
        raise Invalid(f"The file path {path!r} must not reach into '.git'")
    return candidate


def relative(root: Path, absolute: Path) -> str:
    """The posix path of ``absolute`` relative to the resolved ``root``."""
    return absolute.relative_to(root.resolve()).as_posix()


def is_binary(data: bytes) -> bool:
    """True when ``data`` would be shown as binary: a NUL in the first 8000 bytes, or not UTF-8."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _require_root(worktree_path: Path) -> None:
    if not worktree_path.is_dir():
        raise NotFound(f"The worktree {worktree_path} does not exist")


def read_worktree_file(*, worktree_path: Path, path: str) -> str:
    """Return the text of ``path`` in the worktree.

    Raises Invalid for a bad path, a directory, a file over 1 MiB or a binary file (NUL byte in the
    first 8000 bytes, or not UTF-8); NotFound when the file does not exist.
    """
    _require_root(worktree_path)
    target = safe_path(root=worktree_path, path=path)
    if target.is_dir():
        raise Invalid(f"{path} is a folder, not a file")
    try:
        with open(target, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise NotFound(f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise Invalid(f"{path} is a folder, not a file") from exc
    if len(data) > MAX_FILE_BYTES:
        raise Invalid(f"{path} is larger than 1 MiB and cannot be edited here")
    if is_binary(data):
        raise Invalid(f"{path} is a binary file and cannot be edited as text")
    return data.decode("utf-8")


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file and a rename (keeps the file's mode)."""
    directory = target.parent
    mode: int | None = None
    with contextlib.suppress(FileNotFoundError):
        mode = target.stat().st_mode & 0o7777
    fd, tmp_name = tempfile.mkstemp(prefix=".calcifer-", suffix=".tmp", dir=str(directory))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode if mode is not None else 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_worktree_file(*, worktree_path: Path, path: str, content: str) -> bool:
    """Write ``content`` (UTF-8) to ``path`` in the worktree atomically, creating parent folders.

    A symlink inside the worktree is written through (the link stays). Returns True when the file
    was created, False when it was replaced. Raises Invalid for a bad path, content over 1 MiB,
    a folder at ``path`` or a file where a parent folder should be; NotFound if the worktree is gone.
    """
    _require_root(worktree_path)
    target = safe_path(root=worktree_path, path=path)
    data = content.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise Invalid(f"{path}: content is larger than 1 MiB")
    real = target.resolve()  # inside the worktree (checked by safe_path)
    if real.is_dir():
        raise Invalid(f"{path} is a folder; cannot write a file over it")
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise Invalid(f"{path}: a parent folder name is already used by a file") from exc
    created = not real.exists()
    atomic_write(real, data)
    return created


def delete_worktree_file(*, worktree_path: Path, path: str) -> None:
    """Delete the file (or symlink) ``path`` from the worktree and any folders left empty by it.

    Raises NotFound when it does not exist; Invalid for a bad path or a folder.
    """
    _require_root(worktree_path)
    target = safe_path(root=worktree_path, path=path)
    if not target.is_symlink():
        if target.is_dir():
            raise Invalid(f"{path} is a folder; delete the files in it instead")
        if not target.exists():
            raise NotFound(f"{path} does not exist")
    try:
        target.unlink()
    except FileNotFoundError as exc:
        raise NotFound(f"{path} does not exist") from exc
    root = worktree_path.resolve()
    parent = target.parent
    while parent != root and parent.is_relative_to(root):
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def confine_worktree(*, worktrees_dir: Path, path: str | Path) -> Path:
    """Where the worktree a stored or imported ``path`` names may live: ``worktrees_dir / <its last name>``.

    A work item's worktree is always a direct child of the worktrees folder (``<id>-<slug>``), so only
    the last name of ``path`` is kept: a path written by another installation (a backup, an export) or
    edited in the database is re-derived inside this installation's worktrees folder before anything
    touches the disk. Raises Invalid when that name cannot be a worktree folder ('.', '..', '.git',
    control characters, a backslash, over 200 bytes) or when it is a symlink leading out of the folder.
    """
    text = str(path)
    name = text.rstrip("/").rsplit("/", 1)[-1]
    if not name or name in (".", "..") or _is_git_dir_name(name) or "\\" in name \
            or any(ord(ch) < 0x20 or ch == "\x7f" for ch in name) \
            or len(name.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_LENGTH:
        raise Invalid(f"The worktree path {text[:300]!r} cannot name a worktree folder under {worktrees_dir}")
    base = worktrees_dir.resolve()
    candidate = base / name
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise Invalid(f"The worktree path {text[:300]!r} cannot be resolved: {exc}") from exc
    if resolved.parent != base:
        raise Invalid(f"The worktree folder {candidate} leads outside {base}")
    return candidate
