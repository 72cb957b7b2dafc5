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
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import re
import threading
import time
import typing
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import String, Table, cast, delete, func, insert, select, update
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.catalog import index as catalog_index
from calcifer.catalog.models import CatalogService
from calcifer.changelog import service as changelog
from calcifer.changelog.choices import ChangeType
from calcifer.db import utcnow
from calcifer.docs.models import DocLink, DocPage, DocsState
from calcifer.docs.render import (
    IMAGE_TYPES,
    RenderedDoc,
    front_matter_error,
    index_markdown,
    render_inline_markdown,
    render_markdown,
)
from calcifer.errors import Invalid, NotFound, Problem
from calcifer.events import MainMoved
from calcifer.gitrepo import (
    BLOB_MODES,
    LINK_MODE,
    Blob,
    Commit,
    CommitInfo,
    GitError,
    GitObject,
    Oid,
    Repository,
    Tree,
    bare_repo,
    commit_info,
    main_oid,
    resolve_commit,
    text_patch,
)
from calcifer.work import service as work_service
from calcifer.work.choices import OPEN_STATUSES
from calcifer.work.models import WorkItem

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


# ==================================================================================================
# history


def work_item_from_message(message: str) -> int | None:
    """The work item a commit belongs to: ``Work-Item: N`` trailer, else ``[#N](/work/N)``, else a
    trailing ``(#N)`` on the first line. None when the message names none."""
    for pattern, text in ((_TRAILER, message), (_WORK_LINK, message),
                          (_TRAILING_REF, message.split("\n", 1)[0])):
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


@dataclass(frozen=True)
class HistoryEntry:
    commit: CommitInfo
    change: str  # "added" | "modified" | "deleted"
    work_item_id: int | None = None
    work_item_title: str | None = None


@dataclass(frozen=True)
class HistoryPage:
    path: str
    entries: list[HistoryEntry]
    next_cursor: str | None  # pass as ``before`` for older entries
    exists: bool  # the doc exists on main


def first_parent_changes(repo: Repository, start: Commit, path: str, *, limit: int,
                         max_scan: int = MAX_HISTORY_SCAN) -> tuple[list[tuple[Commit, str]], str | None]:
    """Commits on the first-parent line from ``start`` whose version of ``path`` differs from their
    first parent's, newest first, with the kind of change. Also returns where to continue (or None)."""
    found: list[tuple[Commit, str]] = []
    commit = start
    mine = _entry(commit, path)
    for _ in range(max_scan):
        parent_ids = commit.parent_ids
        parent = repo[parent_ids[0]].peel(Commit) if parent_ids else None
        theirs = _entry(parent, path) if parent is not None else None
        mine_id = mine.id if mine is not None else None
        theirs_id = theirs.id if theirs is not None else None
        if mine_id != theirs_id:
            change = "added" if theirs_id is None else ("deleted" if mine_id is None else "modified")
            found.append((commit, change))
            if len(found) >= limit:
                return found, str(parent.id) if parent is not None else None
        if parent is None:
            return found, None
        commit, mine = parent, theirs
    return found, str(commit.id)


def _entries(session: Session, changes: list[tuple[Commit, str]]) -> list[HistoryEntry]:
    infos = [(commit_info(commit), change) for commit, change in changes]
    wanted = {wid for info, _ in infos if (wid := work_item_from_message(info.message)) is not None}
    items = work_service.get_work_items(session=session, ids=wanted)
    entries = []
    for info, change in infos:
        wid = work_item_from_message(info.message)
        item = items.get(wid) if wid is not None else None
        entries.append(HistoryEntry(commit=info, change=change, work_item_id=wid,
                                    work_item_title=item.title if item is not None else None))
    return entries


def doc_history(*, session: Session, repo_path: Path, path: str, limit: int = 50,
                before: str | None = None) -> HistoryPage:
    """The commits on main that changed the doc, newest first, each with its work item.

    ``before`` (a cursor from the previous page: a commit id) continues further back. The doc need
    not exist on main any more (a deleted doc keeps its history). Raises Invalid for a bad path or
    cursor, NotFound when the doc never existed in the part of main's history walked.
    """
    clean = validate_doc_path(path)
    limit = max(1, min(int(limit), 200))
    repo = _repo(repo_path)
    main = _main_commit(repo)
    start = _commit_on_main(repo, before) if before else main
    changes, next_cursor = first_parent_changes(repo, start, clean, limit=limit)
    exists = _entry(main, clean) is not None
    if not changes and not exists and not before:
        raise NotFound(f"There is no doc {clean} on main, and none in its history.")
    return HistoryPage(path=clean, entries=_entries(session, changes), next_cursor=next_cursor, exists=exists)


def last_change(*, session: Session, repo_path: Path, path: str, rev: str | None = None) -> HistoryEntry | None:
    """The latest commit on main (or before ``rev``) that changed the doc; None when none is found."""
    clean = validate_doc_path(path)
    repo = _repo(repo_path)
    changes, _ = first_parent_changes(repo, _commit_on_main(repo, rev), clean, limit=1)
    return _entries(session, changes)[0] if changes else None


# ==================================================================================================
# diff


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "file" | "meta" | "hunk" | "add" | "del" | "ctx"
    text: str


@dataclass(frozen=True)
class DocDiff:
    path: str
    old: CommitInfo
    new: CommitInfo
    lines: list[DiffLine]
    identical: bool
    truncated: bool = False
    added: int = 0
    removed: int = 0


def _line_kind(line: str) -> str:
    if line.startswith(("+++ ", "--- ")):
        return "file"
    if line.startswith(("diff --git", "index ", "new file", "deleted file", "similarity", "rename ",
                        "old mode", "new mode", "\\ No newline")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"


def doc_diff(*, repo_path: Path, path: str, old: str | None, new: str | None) -> DocDiff:
    """The unified diff of the doc between two commits of main's history (``new`` defaults to main's
    tip; ``old`` to the change before the one that wrote ``new``'s version).

    A side where the doc does not exist counts as empty. Raises Invalid for a bad path or commit id,
    NotFound for a commit not on main, or when there is nothing older to compare with.
    """
    clean = validate_doc_path(path)
    repo = _repo(repo_path)
    new_commit = _commit_on_main(repo, new)
    if old:
        old_commit = _commit_on_main(repo, old)
    else:
        # The doc at ``new`` is what its latest change wrote; compare with the change before that (as
        # the history lists them), or with nothing when that change created it.
        changes, _ = first_parent_changes(repo, new_commit, clean, limit=2)
        if len(changes) > 1:
            old_commit = changes[1][0]
        elif changes and changes[0][0].parent_ids:
            old_commit = changes[0][0].parents[0]
        else:
            raise NotFound(f"{clean} has no earlier version to compare with.")
    old_blob = _blob_at(repo, old_commit, clean, what="doc")
    new_blob = _blob_at(repo, new_commit, clean, what="doc")
    if old_blob is None and new_blob is None:
        raise NotFound(f"{clean} exists in neither {str(old_commit.id)[:10]} nor {str(new_commit.id)[:10]}.")
    old_data = old_blob.data if old_blob is not None else b""
    new_data = new_blob.data if new_blob is not None else b""
    for data in (old_data, new_data):
        _decode(data, clean)  # size and encoding checks
    if old_data == new_data:
        return DocDiff(path=clean, old=commit_info(old_commit), new=commit_info(new_commit), lines=[],
                       identical=True)
    text, added, removed = text_patch(old_data, new_data, path=clean, context_lines=3)
    raw_lines = text.splitlines()
    truncated = len(raw_lines) > MAX_DIFF_LINES
    lines = [DiffLine(_line_kind(line), line) for line in raw_lines[:MAX_DIFF_LINES]]
    return DocDiff(path=clean, old=commit_info(old_commit), new=commit_info(new_commit), lines=lines,
                   identical=False, truncated=truncated, added=added, removed=removed)


# ==================================================================================================
# the index


@dataclass(frozen=True)
class SyncResult:
    commit: str
    docs: int
    links: int
    duration_ms: int
    skipped: bool = False


def _walk_docs(repo: Repository, tree: Tree, prefix: str, out: dict[str, Oid]) -> None:
    for entry in tree:
        name = entry.name or ""
        if isinstance(entry, Tree):
            _walk_docs(repo, entry, f"{prefix}{name}/", out)
        elif isinstance(entry, Blob) and entry.filemode in _BLOB_MODES and name.endswith(".md"):
            path = prefix + name
            try:
                validate_doc_path(path)
            except Invalid:
                continue  # unreachable through the pages anyway
            out[path] = entry.id
        if len(out) >= MAX_INDEXED_DOCS:
            return


def _doc_blobs(repo: Repository, commit: Commit) -> dict[str, Oid]:
    docs = _entry(commit, DOCS_DIR)
    found: dict[str, Oid] = {}
    if isinstance(docs, Tree):
        _walk_docs(repo, docs, f"{DOCS_DIR}/", found)
    return found


def _changed_paths(repo: Repository, old: Oid | None, new: Oid | None, prefix: str,
                   out: set[str]) -> None:
    """Paths under two trees whose entries differ (unchanged subtrees are skipped by their id)."""
    if old == new:
        return
    old_tree = repo[old] if old is not None else None
    new_tree = repo[new] if new is not None else None
    olds = {e.name: e for e in old_tree} if isinstance(old_tree, Tree) else {}
    news = {e.name: e for e in new_tree} if isinstance(new_tree, Tree) else {}
    for name in olds.keys() | news.keys():
        a, b = olds.get(name), news.get(name)
        if a is not None and b is not None and a.id == b.id and a.filemode == b.filemode:
            continue
        a_tree = a.id if isinstance(a, Tree) else None
        b_tree = b.id if isinstance(b, Tree) else None
        if a_tree is not None or b_tree is not None:
            _changed_paths(repo, a_tree, b_tree, f"{prefix}{name}/", out)
        if not isinstance(a, Tree) or not isinstance(b, Tree):
            out.add(f"{prefix}{name}")


def _last_changes(repo: Repository, head: Commit, wanted: set[str]) -> dict[str, Commit]:
    """For each wanted path, the newest commit on main's first-parent line that changed it."""
    found: dict[str, Commit] = {}
    remaining = set(wanted)
    commit = head
    for _ in range(MAX_HISTORY_SCAN):
        if not remaining:
            break
        parent = repo[commit.parent_ids[0]].peel(Commit) if commit.parent_ids else None
        if parent is None:
            for path in remaining:
                found[path] = commit
            break
        mine, theirs = _entry(commit, DOCS_DIR), _entry(parent, DOCS_DIR)
        mine_id = mine.id if isinstance(mine, Tree) else None
        theirs_id = theirs.id if isinstance(theirs, Tree) else None
        if mine_id != theirs_id:
            changed: set[str] = set()
            _changed_paths(repo, theirs_id, mine_id, f"{DOCS_DIR}/", changed)
            for path in remaining & changed:
                found[path] = commit
            remaining -= changed
        commit = parent
    return found


def service_link_target(url: str) -> str | None:
    """The doc a service's link points to (``…/docs/view/docs/x.md`` or ``docs/x.md``), or None."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    path = unquote(parts.path)
    marker = "/docs/view/"
    if marker in path:
        path = path.split(marker, 1)[1]
    elif parts.scheme or parts.netloc:
        return None
    else:
        path = posixpath.normpath(posixpath.join("catalog/services", path)) if path.startswith("..") else path
    try:
        return validate_doc_path(path)
    except Invalid:
        return None


def _service_links(session: Session) -> list[tuple[str, str]]:
    # Only services whose spec mentions a doc page are read (the catalog's links are URLs with a scheme,
    # so a link to a doc always holds "/docs/view/"): a catalog of thousands costs one indexed scan.
    mentions = cast(CatalogService.spec, String).like("%/docs/view/%")
    pairs: list[tuple[str, str]] = []
    for slug, spec in session.execute(select(CatalogService.slug, CatalogService.spec).where(mentions)):
        links = spec.get("links") if isinstance(spec, dict) else None
        for link in links if isinstance(links, list) else []:
            target = service_link_target(link.get("url", "")) if isinstance(link, dict) else None
            if target is not None and _fits(f"service:{slug}"):
                pairs.append((f"service:{slug}", target))
    return pairs


def _catalog_commit(session: Session) -> str | None:
    state = catalog_index.get_state(session=session)
    return state.synced_commit if state is not None else None


def _lock_state(session: Session) -> DocsState:
    # The UPDATE takes the write lock (SQLite) or the row lock (PostgreSQL) before anything is replaced.
    locked = session.execute(update(DocsState).where(DocsState.id == STATE_ID)
                             .values(id=STATE_ID)).rowcount  # type: ignore[attr-defined]
    if not locked:
        session.add(DocsState(id=STATE_ID, docs=0, links=0, duration_ms=0))
        session.flush()
    state = session.get(DocsState, STATE_ID, populate_existing=True)
    assert state is not None
    return state


def _fits(value: str) -> bool:
    return len(value.encode("utf-8", "surrogatepass")) <= MAX_PATH_BYTES


def _build_rows(session: Session, repo: Repository, commit: Commit, catalog_commit: str | None,
                previous_state: DocsState | None, force: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    blobs = _doc_blobs(repo, commit)
    previous = {} if force else {row.path: row for row in session.scalars(select(DocPage))}
    old_links: dict[str, list[str]] = {}
    service_pairs: list[tuple[str, str]] | None = None
    if not force:
        for link in session.scalars(select(DocLink)):
            old_links.setdefault(link.source, []).append(link.target)
        if previous_state is not None and previous_state.catalog_commit == catalog_commit and \
                previous_state.synced_commit is not None:
            service_pairs = [(source, target) for source, targets in old_links.items()
                             if source.startswith("service:") for target in targets]
    if service_pairs is None:
        service_pairs = _service_links(session)

    pages: list[dict[str, Any]] = []
    links: set[tuple[str, str]] = set(service_pairs)
    changed: set[str] = set()
    for path, oid in sorted(blobs.items()):
        old = previous.get(path)
        template = is_template(path)
        if old is not None and old.blob_id == str(oid):
            pages.append({"path": path, "title": old.title, "blob_id": old.blob_id, "is_template": template,
                          "commit_id": old.commit_id, "updated_at": old.updated_at})
            if not template:
                links.update((path, target) for target in old_links.get(path, []))
            continue
        changed.add(path)
        blob = repo[oid]
        data = blob.data if isinstance(blob, Blob) and blob.size <= MAX_DOC_BYTES else None
        title = posixpath.basename(path)
        if data is not None:
            rendered = index_markdown(data.decode("utf-8-sig", errors="replace"), doc_path=path)
            title = rendered.title or title
            if not template:
                links.update((path, target) for target in rendered.links if target != path and _fits(target))
        pages.append({"path": path, "title": title[:300], "blob_id": str(oid), "is_template": template,
                      "commit_id": None, "updated_at": None})
    if changed:
        last = _last_changes(repo, commit, changed)
        for page in pages:
            hit = last.get(page["path"])
            if page["path"] in changed and hit is not None:
                page["commit_id"] = str(hit.id)
                page["updated_at"] = dt.datetime.fromtimestamp(hit.commit_time, tz=dt.UTC)
    return pages, [{"source": source, "target": target} for source, target in sorted(links)]


@dataclass
class _Increment:
    """What one merge changes in the index: rows of the docs whose files changed, their links, and the
    services' links to docs when the catalog changed (None: unchanged)."""

    base_commit: str
    paths: set[str]  # docs whose rows and outgoing links are replaced (or removed)
    pages: list[dict[str, Any]]
    links: set[tuple[str, str]]
    service_links: set[tuple[str, str]] | None


def _same_catalog_tree(repo: Repository, old: str | None, new: str | None) -> bool:
    if old == new:
        return True
    if not old or not new:
        return False
    try:
        trees = [repo[c].peel(Commit).tree for c in (old, new)]
    except (KeyError, ValueError, GitError):
        return False
    ids: list[Oid | None] = []
    for tree in trees:
        try:
            ids.append(tree["catalog"].id)
        except (KeyError, ValueError):
            ids.append(None)
    return ids[0] == ids[1]


def _increment(session: Session, repo: Repository, commit: Commit, catalog_commit: str | None,
               state: DocsState) -> _Increment | None:
    """The index's change from the commit it mirrors to ``commit``, by a diff of the two docs/ trees
    (unchanged folders are skipped by their id): a merge costs what it changed. None when the mirrored
    commit is not in the repository (then the whole index is rebuilt)."""
    base = state.synced_commit
    try:
        before = repo[base].peel(Commit) if base else None
    except (KeyError, ValueError, GitError):
        before = None
    if before is None or state.docs >= MAX_INDEXED_DOCS:
        return None
    old_docs, new_docs = _entry(before, DOCS_DIR), _entry(commit, DOCS_DIR)
    changed: set[str] = set()
    _changed_paths(repo, old_docs.id if isinstance(old_docs, Tree) else None,
                   new_docs.id if isinstance(new_docs, Tree) else None, f"{DOCS_DIR}/", changed)
    paths = {path for path in changed if path.endswith(".md")}
    if state.docs + len(paths) >= MAX_INDEXED_DOCS:
        return None
    pages: list[dict[str, Any]] = []
    links: set[tuple[str, str]] = set()
    rewritten: set[str] = set()
    for path in sorted(paths):
        entry = _entry(commit, path)
        if not isinstance(entry, Blob) or entry.filemode not in _BLOB_MODES:
            continue
        try:
            validate_doc_path(path)
        except Invalid:
            continue
        template = is_template(path)
        data = entry.data if entry.size <= MAX_DOC_BYTES else None
        title = posixpath.basename(path)
        if data is not None:
            rendered = index_markdown(data.decode("utf-8-sig", errors="replace"), doc_path=path)
            title = rendered.title or title
            if not template:
                links.update((path, target) for target in rendered.links if target != path and _fits(target))
        rewritten.add(path)
        pages.append({"path": path, "title": title[:300], "blob_id": str(entry.id), "is_template": template,
                      "commit_id": None, "updated_at": None})
    if rewritten:
        last = _last_changes(repo, commit, rewritten)
        for page in pages:
            hit = last.get(page["path"])
            if hit is not None:
                page["commit_id"] = str(hit.id)
                page["updated_at"] = dt.datetime.fromtimestamp(hit.commit_time, tz=dt.UTC)
    service_links = None
    if not _same_catalog_tree(repo, state.catalog_commit, catalog_commit):
        service_links = set(_service_links(session))
    return _Increment(base_commit=base or "", paths=paths, pages=pages, links=links, service_links=service_links)


def _apply_increment(session: Session, increment: _Increment) -> None:
    paths = sorted(increment.paths)
    for start in range(0, len(paths), 500):
        chunk = paths[start:start + 500]
        session.execute(delete(DocPage).where(DocPage.path.in_(chunk)))
        session.execute(delete(DocLink).where(DocLink.source.in_(chunk)))
    if increment.pages:
        session.execute(insert(typing.cast(Table, DocPage.__table__)), increment.pages)
    links = set(increment.links)
    if increment.service_links is not None:
        session.execute(delete(DocLink).where(DocLink.source.like("service:%")))
        links |= increment.service_links
    if links:
        session.execute(insert(typing.cast(Table, DocLink.__table__)),
                        [{"source": source, "target": target} for source, target in sorted(links)])


def sync_index(*, session: Session, repo_path: Path, force: bool = False) -> SyncResult:
    """Mirror main's docs (titles, last changes, links) and the catalog's links to docs into the index.

    Replaces the index in one transaction (committed). Does nothing when it already mirrors main's tip
    and the catalog's last sync, unless ``force`` (which also re-reads every doc). Unchanged docs
    (same blob) keep their rows. Raises NotFound when there is no repository or no main.
    """
    started = time.perf_counter()
    for _attempt in range(SYNC_ATTEMPTS):
        repo = _repo(repo_path)
        commit = _main_commit(repo)
        commit_id = str(commit.id)
        catalog_commit = _catalog_commit(session)
        state = session.get(DocsState, STATE_ID, populate_existing=True)
        if not force and state is not None and state.synced_commit == commit_id \
                and state.catalog_commit == catalog_commit:
            return SyncResult(commit=commit_id, docs=state.docs, links=state.links, skipped=True,
                              duration_ms=int((time.perf_counter() - started) * 1000))
        increment = None
        if not force and state is not None and state.synced_commit:
            increment = _increment(session, repo, commit, catalog_commit, state)
        if increment is None:
            pages, links = _build_rows(session, repo, commit, catalog_commit, state, force)
        try:
            state = _lock_state(session)
            if not force and state.synced_commit == commit_id and state.catalog_commit == catalog_commit:
                session.rollback()  # another sync did the same work meanwhile
                return SyncResult(commit=commit_id, docs=state.docs, links=state.links, skipped=True,
                                  duration_ms=int((time.perf_counter() - started) * 1000))
            if str(main_oid(_repo(repo_path))) != commit_id:
                session.rollback()  # main moved while we read it: index its new tip instead
                continue
            if increment is not None:
                if state.synced_commit != increment.base_commit:
                    session.rollback()  # another sync moved the index meanwhile: diff from there
                    continue
                _apply_increment(session, increment)
                state.docs = int(session.scalar(select(func.count()).select_from(DocPage)) or 0)
                state.links = int(session.scalar(select(func.count()).select_from(DocLink)) or 0)
            else:
                session.execute(delete(DocLink))
                session.execute(delete(DocPage))
                if pages:
                    session.execute(insert(typing.cast(Table, DocPage.__table__)), pages)
                if links:
                    session.execute(insert(typing.cast(Table, DocLink.__table__)), links)
                state.docs = len(pages)
                state.links = len(links)
            state.synced_commit = commit_id
            state.catalog_commit = catalog_commit
            state.synced_at = utcnow()
            state.duration_ms = int((time.perf_counter() - started) * 1000)
            result = SyncResult(commit=commit_id, docs=state.docs, links=state.links, duration_ms=state.duration_ms)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
    raise NotFound("main kept moving while the docs were indexed; try again")


def front_matter_problems(*, session: Session, item: WorkItem, workspace: work_service.Workspace) -> list[Problem]:
    """The docs' part of the merge check: every doc the branch adds or changes must have front matter that
    reads (else its title and fields would silently vanish on main). Each problem names file and line."""
    if item.status not in OPEN_STATUSES or not item.branch:
        return []
    tip = git.branch_tip(repo_path=workspace.repo_path, branch=item.branch)
    base = git.merge_base(repo_path=workspace.repo_path, branch=item.branch)
    if tip is None or base is None or tip == base:
        return []
    repo = _repo(workspace.repo_path)
    base_tree, tip_tree = resolve_commit(repo, base).tree, resolve_commit(repo, tip).tree
    problems: list[Problem] = []
    for delta in base_tree.diff_to_tree(tip_tree).deltas:
        path = delta.new_file.path
        if not path.startswith(DOCS_DIR + "/") or not path.endswith(".md") or delta.status_char() == "D":
            continue
        blob = repo.get(delta.new_file.id)
        if not isinstance(blob, Blob) or blob.size > MAX_DOC_BYTES:
            continue
        found = front_matter_error(blob.data.decode("utf-8", "replace"))
        if found is not None:
            line, message = found
            problems.append(Problem(FRONT_MATTER_PROBLEM, f"{path} (line {line}): {message}", path=path,
                                    line=line))
    return problems


def sync_after_merge(*, session: Session, repo_path: Path, change: MainMoved) -> None:
    """Re-index the docs from main after every merge (listed after the catalog's sync in
    ``calcifer.wiring``, so services' links are current)."""
    result = sync_index(session=session, repo_path=repo_path)
    log.info("docs indexed at %s: %s docs, %s links (%s ms)", result.commit[:10], result.docs, result.links,
             result.duration_ms)


def ensure_index(*, session: Session, repo_path: Path) -> None:
    """Bring the index up to main (cheap when it is current). A failure is logged: pages then show the
    index as it was, never an error."""
    try:
        state = session.get(DocsState, STATE_ID)
        head = str(main_oid(_repo(repo_path)))
        if state is not None and state.synced_commit == head and state.catalog_commit == _catalog_commit(session):
            return
        sync_index(session=session, repo_path=repo_path)
    except NotFound:
        raise
    except Exception:  # noqa: BLE001 - a stale index is better than a failed page
        session.rollback()
        log.exception("could not refresh the docs index")


# ==================================================================================================
# tree, view, backlinks


@dataclass(frozen=True)
class DocSummary:
    path: str
    title: str
    updated_at: dt.datetime | None
    commit_id: str | None
    is_template: bool

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def _summary(row: DocPage) -> DocSummary:
    return DocSummary(path=row.path, title=row.title, updated_at=row.updated_at, commit_id=row.commit_id,
                      is_template=row.is_template)


def _like_folder(folder: str) -> str:
    return folder.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


def list_docs(*, session: Session, repo_path: Path, prefix: str | None = None, templates: bool = False,
              direct: bool = False, limit: int = 200, cursor: str | None = None) -> tuple[list[DocSummary], str | None]:
    """Docs on main sorted by path (``templates``: only docs/_templates/, else everything but them),
    optionally under the folder ``prefix`` (``direct``: right in it, not in its subfolders), a page at
    a time. Returns the page and the next cursor. Raises Invalid for a bad prefix or cursor.
    """
    ensure_index(session=session, repo_path=repo_path)
    folder = validate_prefix(prefix)
    limit = max(1, min(int(limit), MAX_LIST_LIMIT))
    query = select(DocPage).where(DocPage.is_template == templates)
    if folder or direct:
        like = _like_folder(folder or DOCS_DIR)
        query = query.where(DocPage.path.like(like, escape="\\"))
        if direct:
            query = query.where(DocPage.path.not_like(like + "/%", escape="\\"))
    if cursor:
        if len(cursor) > 1024:
            raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
        query = query.where(DocPage.path > cursor)
    rows = list(session.scalars(query.order_by(DocPage.path).limit(limit + 1)))
    page = [_summary(row) for row in rows[:limit]]
    return page, (page[-1].path if len(rows) > limit else None)


@dataclass(frozen=True)
class FolderSummary:
    path: str  # e.g. docs/runbooks
    docs: int  # docs in it and its subfolders
    updated_at: dt.datetime | None  # the newest change of any of them

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def list_folders(*, session: Session, repo_path: Path, prefix: str | None = None,
                 limit: int = MAX_LIST_LIMIT) -> list[FolderSummary]:
    """The folders right inside ``prefix`` (default docs/) that hold docs, by name, with how many docs
    each holds and their newest change. Templates are not counted. Raises Invalid for a bad prefix."""
    ensure_index(session=session, repo_path=repo_path)
    folder = validate_prefix(prefix) or DOCS_DIR
    like = _like_folder(folder)
    query = (select(DocPage.path, DocPage.updated_at).where(DocPage.is_template == False)  # noqa: E712
             .where(DocPage.path.like(like + "/%", escape="\\")))
    counts: dict[str, int] = {}
    newest: dict[str, dt.datetime | None] = {}
    for path, updated_at in session.execute(query):
        child = f"{folder}/{path[len(folder) + 1:].split('/', 1)[0]}"
        counts[child] = counts.get(child, 0) + 1
        seen = newest.get(child)
        if updated_at is not None and (seen is None or updated_at > seen):
            newest[child] = updated_at
    return [FolderSummary(path=child, docs=counts[child], updated_at=newest.get(child))
            for child in sorted(counts)[:limit]]


def count_docs(*, session: Session, templates: bool = False) -> int:
    """How many docs (or templates) the index holds."""
    query = select(func.count()).select_from(DocPage).where(DocPage.is_template == templates)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class Backlink:
    kind: str  # "doc" | "service"
    key: str  # the doc path, or the service slug
    title: str
    url: str


def backlinks(*, session: Session, repo_path: Path, path: str) -> list[Backlink]:
    """Docs and services on main that link to the doc (docs first, each sorted), at most 500."""
    clean = validate_doc_path(path)
    ensure_index(session=session, repo_path=repo_path)
    sources = list(session.scalars(select(DocLink.source).where(DocLink.target == clean)
                                   .order_by(DocLink.source).limit(500)))
    doc_paths = [s for s in sources if not s.startswith("service:")]
    titles: dict[str, str] = {}
    if doc_paths:
        for doc_path, title in session.execute(select(DocPage.path, DocPage.title).where(DocPage.path.in_(doc_paths))):
            titles[doc_path] = title
    result = [Backlink(kind="doc", key=p, title=titles.get(p, posixpath.basename(p)), url=f"/docs/view/{p}")
              for p in doc_paths if p != clean]
    for source in sources:
        if not source.startswith("service:"):
            continue
        slug = source.removeprefix("service:")
        try:
            name = catalog_index.get_service(session=session, slug=slug).name
        except NotFound:
            name = slug
        result.append(Backlink(kind="service", key=slug, title=name, url=f"/services/{slug}"))
    return result


def docs_linking_to_service(*, session: Session, repo_path: Path, slug: str) -> list[DocSummary]:
    """Docs on main that link to the service (``service:slug``, /services/slug or its catalog file)."""
    ensure_index(session=session, repo_path=repo_path)
    paths = select(DocLink.source).where(DocLink.target == f"service:{slug}")
    rows = session.scalars(select(DocPage).where(DocPage.path.in_(paths)).order_by(DocPage.path).limit(500))
    return [_summary(row) for row in rows]


_render_cache: OrderedDict[tuple[str, str], RenderedDoc] = OrderedDict()
_render_cache_lock = threading.Lock()


def _rendered(doc: DocFile) -> RenderedDoc:
    # The HTML depends only on the blob and the path: a doc is rendered once per change, not per view.
    key = (doc.blob_id, doc.path)
    with _render_cache_lock:
        hit = _render_cache.get(key)
        if hit is not None:
            _render_cache.move_to_end(key)
            return hit
    rendered = render_markdown(doc.text, doc_path=doc.path)
    with _render_cache_lock:
        _render_cache[key] = rendered
        while len(_render_cache) > RENDER_CACHE_SIZE:
            _render_cache.popitem(last=False)
    return rendered


@dataclass(frozen=True)
class DocView:
    path: str
    markdown: str
    rendered: RenderedDoc
    title: str
    commit: CommitInfo  # the commit the doc was read at
    rev: str | None  # the requested commit, None for main's tip
    last_change: HistoryEntry | None
    backlinks: list[Backlink] = field(default_factory=list)

    @property
    def is_template(self) -> bool:
        return is_template(self.path)


def view_doc(*, session: Session, repo_path: Path, path: str, rev: str | None = None) -> DocView:
    """Everything the doc page shows: rendered HTML, title, TOC, last change and backlinks.

    Raises Invalid (bad path or commit id, symlink, too big, not UTF-8) or NotFound.
    """
    doc = read_doc(repo_path=repo_path, path=path, rev=rev or None)
    rendered = _rendered(doc)
    change: HistoryEntry | None = None
    if not rev:
        ensure_index(session=session, repo_path=repo_path)
        row = session.get(DocPage, doc.path)
        if row is not None and row.blob_id == doc.blob_id and row.commit_id:
            repo = _repo(repo_path)
            try:
                commit = repo[row.commit_id].peel(Commit)
            except (KeyError, ValueError, GitError):
                commit = None
            if commit is not None:
                parent = commit.parents[0] if commit.parent_ids else None
                kind = "added" if parent is None or _entry(parent, doc.path) is None else "modified"
                change = _entries(session, [(commit, kind)])[0]
    if change is None:
        change = last_change(session=session, repo_path=repo_path, path=doc.path, rev=rev or None)
    return DocView(path=doc.path, markdown=doc.text, rendered=rendered,
                   title=rendered.title or posixpath.basename(doc.path), commit=doc.commit, rev=rev or None,
                   last_change=change, backlinks=backlinks(session=session, repo_path=repo_path, path=doc.path))


# ==================================================================================================
# the changelog


@dataclass(frozen=True)
class ChangelogFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    type: ChangeType | None = None
    service: str | None = None
    text: str | None = None

    def as_params(self) -> dict[str, str]:
        values = {"from": self.date_from.isoformat() if self.date_from else "",
                  "to": self.date_to.isoformat() if self.date_to else "",
                  "type": self.type.value if self.type else "", "service": self.service or "", "q": self.text or ""}
        return {key: value for key, value in values.items() if value}


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None or not value.strip():
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid(f"'{name}' must be a date like 2026-01-31, not {value[:40]!r}.",
                      details=[{"field": name, "message": "not a date (YYYY-MM-DD)"}]) from exc


def changelog_filter(*, date_from: str | None = None, date_to: str | None = None, type: str | None = None,
                     service: str | None = None, text: str | None = None) -> ChangelogFilter:
    """Parse the changelog filters from query strings (empty means "any"). Raises Invalid with the field."""
    start, end = _date(date_from, "from"), _date(date_to, "to")
    if start and end and start > end:
        raise Invalid("'from' is after 'to': swap the dates.", details=[{"field": "from", "message": "after 'to'"}])
    change_type = None
    if type and type.strip():
        by_word = {t.value.casefold(): t for t in ChangeType}
        change_type = by_word.get(type.strip().casefold())
        if change_type is None:
            raise Invalid(f"Unknown type of change {type[:40]!r}: use one of "
                          f"{', '.join(t.value for t in ChangeType)}.",
                          details=[{"field": "type", "message": "unknown type"}])
    slug = service.strip().lower() if service and service.strip() else None
    if slug is not None and not _SLUG.match(slug):
        raise Invalid(f"{str(service)[:70]!r} is not a service slug.",
                      details=[{"field": "service", "message": "not a slug"}])
    query = " ".join(text.split())[:200] if text and text.strip() else None
    return ChangelogFilter(date_from=start, date_to=end, type=change_type, service=slug, text=query)


@dataclass(frozen=True)
class ChangelogRow:
    section: str
    date: dt.date | None
    type: str | None  # the Keep a Changelog type, or the entry's own heading, or None
    text: str
    html: str  # the entry's markdown as sanitised inline HTML
    work_item_id: int | None
    work_item_title: str | None
    service: str | None  # the work item's service
    commit: str | None  # the work item's merge commit on main


_entry_cache: OrderedDict[str, tuple[changelog.Entry, ...]] = OrderedDict()
_entry_cache_lock = threading.Lock()


def _main_entries(repo_path: Path) -> tuple[changelog.Entry, ...]:
    repo = _repo(repo_path)
    try:
        blob = _blob_at(repo, _main_commit(repo), CHANGELOG_PATH, what="changelog")
    except Invalid:
        blob = None
    if blob is None:
        return ()
    key = str(blob.id)
    with _entry_cache_lock:
        if key in _entry_cache:
            _entry_cache.move_to_end(key)
            return _entry_cache[key]
    text = blob.data.decode("utf-8", errors="replace")
    entries = tuple(changelog.latest_entries(text, limit=1_000_000))  # newest first, as rendered
    with _entry_cache_lock:
        _entry_cache[key] = entries
        while len(_entry_cache) > 4:
            _entry_cache.popitem(last=False)
    return entries


def _mentions_service(text: str, slug: str) -> bool:
    pattern = rf"(?<![\w-])service[\s:]+`?{re.escape(slug)}`?(?![\w-])|/services/{re.escape(slug)}(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def changelog_entries(*, session: Session, repo_path: Path, filters: ChangelogFilter, limit: int = 100,
                      cursor: str | None = None) -> tuple[list[ChangelogRow], str | None]:
    """CHANGES.md entries on main, newest first, matching every filter; a page at a time.

    Dates filter on the entry's section date (undated sections, like Unreleased, drop out when a date
    is given). ``service`` keeps entries whose work item names that service, or whose text says
    "service <slug>" or links /services/<slug>. Raises Invalid for a bad cursor.
    """
    limit = max(1, min(int(limit), MAX_CHANGELOG_LIMIT))
    offset = 0
    if cursor:
        if not cursor.isdigit() or len(cursor) > 9:
            raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
        offset = int(cursor)
    service_items: set[int] = set()
    if filters.service:
        service_items = {item.id for item in work_service.list_work_items(
            session=session, filters=work_service.WorkFilter(service=filters.service), limit=10_000)}
    needle = filters.text.casefold() if filters.text else None
    matched: list[changelog.Entry] = []
    for entry in _main_entries(repo_path):
        date = entry.date
        if filters.date_from and (date is None or date < filters.date_from):
            continue
        if filters.date_to and (date is None or date > filters.date_to):
            continue
        if filters.type and entry.type != filters.type:
            continue
        if filters.service and entry.work_item_id not in service_items \
                and not _mentions_service(entry.text, filters.service):
            continue
        if needle and needle not in entry.text.casefold():
            continue
        matched.append(entry)
    page = matched[offset:offset + limit]
    items = work_service.get_work_items(session=session,
                                        ids={e.work_item_id for e in page if e.work_item_id is not None})
    rows = []
    for entry in page:
        item = items.get(entry.work_item_id) if entry.work_item_id is not None else None
        rows.append(ChangelogRow(
            section=entry.section, date=entry.date, type=entry.heading_key or None, text=entry.text,
            html=render_inline_markdown(entry.text), work_item_id=entry.work_item_id,
            work_item_title=item.title if item is not None else None,
            service=item.service if item is not None else None,
            commit=item.merge_commit if item is not None else None))
    next_cursor = str(offset + limit) if len(matched) > offset + limit else None
    return rows, next_cursor
