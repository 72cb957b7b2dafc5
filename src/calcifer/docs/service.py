"""Reading docs: paths, docs on main (straight from git objects), history, diffs, backlinks, the changelog.

Docs live in the managed repository under ``docs/``; nothing here reads a checkout or anything outside
``docs/`` (CHANGES.md aside). Every user-given path goes through ``validate_doc_path`` (or
``validate_image_path``) first, and a git symlink is never rendered or served.

History follows main's first-parent line: one entry per commit that landed a change to the file on
main, which for Calcifer's merges is the merge commit. Its work item is read from the message: the
``Work-Item: N`` trailer Calcifer writes, else a ``[#N](/work/N)`` link, else a trailing ``(#N)``
(the squash-merge style of other tools).

The index (tables ``docs_index``, ``docs_links``, ``docs_state``) mirrors main's docs for the tree,
titles and backlinks. ``sync_index`` rebuilds it after every merge (a ``work.service.on_main_changed``
hook), at start (``app.prepare``) and lazily when a page finds it behind main.

This module holds the paths and the git reads; history, diffs and the changelog are in ``history.py``,
the index in ``index_sync.py``, the tree, doc views and backlinks in ``views.py``.
"""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calcifer.docs.render import (
    IMAGE_TYPES,
)
from calcifer.errors import Invalid, NotFound
from calcifer.gitrepo import (
    BLOB_MODES,
    LINK_MODE,
    Blob,
    Commit,
    CommitInfo,
    GitObject,
    Repository,
    Tree,
    bare_repo,
    commit_info,
    main_oid,
    resolve_commit,
)

log = logging.getLogger("calcifer.docs")

DOCS_DIR = "docs"
TEMPLATES_DIR = "docs/_templates"
CHANGELOG_PATH = "CHANGES.md"
MAX_PATH_BYTES = 255
MAX_DOC_BYTES = 1024 * 1024  # what Calcifer edits, and renders
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_HISTORY_SCAN = 20_000  # commits walked on main's first-parent line per history page
MAX_INDEXED_DOCS = 50_000
MAX_LIST_LIMIT = 500
MAX_CHANGELOG_LIMIT = 500
MAX_DIFF_LINES = 5_000
RENDER_CACHE_SIZE = 128
STATE_ID = 1
SYNC_ATTEMPTS = 3
FRONT_MATTER_PROBLEM = "docs_front_matter"  # merge-check code: a doc's front matter does not read
RAW_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

_REV = re.compile(r"^[0-9a-fA-F]{7,40}$")
_TRAILER = re.compile(r"^Work-Item:[ \t]*([0-9]{1,18})[ \t]*$", re.MULTILINE)
_WORK_LINK = re.compile(r"\[#([0-9]{1,18})\]\(/work/\1\)")
_TRAILING_REF = re.compile(r"\(#([0-9]{1,18})\)\s*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_BLOB_MODES = BLOB_MODES


# ==================================================================================================
# paths


def _check_path_text(path: Any) -> str:
    if not isinstance(path, str) or not path:
        raise Invalid("The doc path is empty: give a path like docs/runbooks/backup.md.")
    if "\x00" in path:
        raise Invalid("The doc path contains a NUL byte.")
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in path):
        raise Invalid("The doc path contains control characters.")
    if "\\" in path:
        raise Invalid(f"The doc path {path[:80]!r} contains a backslash; use '/' between folders.")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":" and path[0].isalpha()):
        raise Invalid(f"The doc path {path[:80]!r} must be relative to the repository root, "
                      "like docs/runbooks/backup.md.")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise Invalid(f"The doc path is longer than {MAX_PATH_BYTES} bytes.")
    for part in path.split("/"):
        if part == "":
            raise Invalid(f"The doc path {path!r} has an empty folder name (a doubled or trailing '/').")
        if part in (".", ".."):
            raise Invalid(f"The doc path {path!r} must not contain '.' or '..'.")
        if part.lower().rstrip(". ") == ".git":
            raise Invalid(f"The doc path {path!r} must not reach into '.git'.")
    if not path.startswith(f"{DOCS_DIR}/"):
        raise Invalid(f"{path!r} is not a doc: docs live under {DOCS_DIR}/ (e.g. docs/runbooks/backup.md).")
    return path


def validate_doc_path(path: Any) -> str:
    """Return ``path`` when it names a markdown doc: ``docs/…/name.md``, plain and relative.

    Raises Invalid (with the reason) for an empty path, NUL or control characters, backslashes, an
    absolute path, '.'/'..'/empty components, '.git', more than 255 bytes, a path outside docs/, or
    one that does not end in ``.md``.
    """
    clean = _check_path_text(path)
    if not clean.endswith(".md"):
        raise Invalid(f"{clean!r} is not a markdown doc: doc paths end in .md.")
    return clean


def validate_image_path(path: Any) -> tuple[str, str]:
    """Return (path, content type) for an image under docs/ (png, jpg, gif, webp, svg).

    Raises Invalid like ``validate_doc_path``, and for any other kind of file.
    """
    clean = _check_path_text(path)
    content_type = IMAGE_TYPES.get(posixpath.splitext(clean.lower())[1])
    if content_type is None:
        raise Invalid(f"{clean!r} is not an image: only {', '.join(sorted(IMAGE_TYPES))} files are served "
                      "from docs/.")
    return clean, content_type


def validate_prefix(prefix: str | None) -> str | None:
    """A folder filter for the tree: None, or ``docs`` / ``docs/…`` without a trailing slash."""
    if prefix is None or not prefix.strip("/"):
        return None
    clean = prefix.strip("/")
    if clean == DOCS_DIR:
        return None
    return _check_path_text(clean)


def is_template(path: str) -> bool:
    return path.startswith(f"{TEMPLATES_DIR}/")


# ==================================================================================================
# git reads


@dataclass(frozen=True)
class DocFile:
    path: str
    text: str
    blob_id: str
    commit: CommitInfo  # the commit it was read at


def _repo(repo_path: Path) -> Repository:
    return bare_repo(repo_path)


def _main_commit(repo: Repository) -> Commit:
    return repo[main_oid(repo)].peel(Commit)


def _commit_on_main(repo: Repository, rev: str | None) -> Commit:
    """main's tip, or the commit ``rev`` (a hex id) when main contains it. Raises Invalid/NotFound."""
    main = _main_commit(repo)
    if rev is None or rev == "":
        return main
    if not isinstance(rev, str) or not _REV.match(rev):
        raise Invalid(f"{str(rev)[:80]!r} is not a commit id: use 7 to 40 hexadecimal digits.")
    commit = resolve_commit(repo, rev)
    if commit.id != main.id and not repo.descendant_of(main.id, commit.id):
        raise NotFound(f"Commit {rev} is not part of main's history.")
    return commit


def _entry(commit: Commit, path: str) -> GitObject | None:
    try:
        return commit.tree[path]
    except (KeyError, ValueError):
        return None


def _blob_at(repo: Repository, commit: Commit, path: str, *, what: str) -> Blob | None:
    """The file at ``path`` in ``commit``; None when absent. Raises Invalid for a symlink or a folder."""
    entry = _entry(commit, path)
    if entry is None:
        return None
    if entry.filemode == LINK_MODE:
        raise Invalid(f"{path} is a symbolic link; Calcifer does not follow links in docs. Replace it with "
                      f"the {what} itself.")
    if entry.filemode not in _BLOB_MODES or not isinstance(entry, Blob):
        if isinstance(entry, Tree):
            raise Invalid(f"{path} is a folder, not a {what}.")
        return None
    return entry


def _decode(data: bytes, path: str) -> str:
    if len(data) > MAX_DOC_BYTES:
        raise Invalid(f"{path} is larger than 1 MiB; Calcifer shows docs up to 1 MiB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path} is not UTF-8 text.") from exc


def read_doc(*, repo_path: Path, path: str, rev: str | None = None) -> DocFile:
    """The doc at main's tip (or at commit ``rev`` of main's history), read from git objects.

    Raises Invalid for a bad path, a symlink, a file over 1 MiB or not UTF-8; NotFound when the doc
    does not exist there (or ``rev`` is not on main).
    """
    clean = validate_doc_path(path)
    repo = _repo(repo_path)
    commit = _commit_on_main(repo, rev)
    blob = _blob_at(repo, commit, clean, what="doc")
    if blob is None:
        where = "on main" if rev is None else f"at {rev[:10]}"
        raise NotFound(f"There is no doc {clean} {where}.")
    return DocFile(path=clean, text=_decode(blob.data, clean), blob_id=str(blob.id), commit=commit_info(commit))


@dataclass(frozen=True)
class RawFile:
    path: str
    data: bytes
    content_type: str
    blob_id: str

    @property
    def filename(self) -> str:
        return posixpath.basename(self.path)


def read_image(*, repo_path: Path, path: str) -> RawFile:
    """An image under docs/ on main. Raises Invalid (bad path, not an image, symlink, > 10 MiB), NotFound."""
    clean, content_type = validate_image_path(path)
    repo = _repo(repo_path)
    blob = _blob_at(repo, _main_commit(repo), clean, what="image")
    if blob is None:
        raise NotFound(f"There is no image {clean} on main.")
    if blob.size > MAX_IMAGE_BYTES:
        raise Invalid(f"{clean} is larger than 10 MiB; Calcifer serves images up to 10 MiB.")
    return RawFile(path=clean, data=blob.data, content_type=content_type, blob_id=str(blob.id))
