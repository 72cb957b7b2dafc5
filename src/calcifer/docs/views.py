"""What the docs pages show from the index: the tree and its folders, a doc with its last change
and backlinks (rendered once per blob), docs linking to a service.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calcifer.catalog import index as catalog_index
from calcifer.docs.history import HistoryEntry, _entries, last_change
from calcifer.docs.index_sync import ensure_index
from calcifer.docs.models import DocLink, DocPage
from calcifer.docs.render import (
    RenderedDoc,
    render_markdown,
)
from calcifer.docs.service import (
    DOCS_DIR,
    MAX_LIST_LIMIT,
    RENDER_CACHE_SIZE,
    DocFile,
    _entry,
    _repo,
    is_template,
    read_doc,
    validate_doc_path,
    validate_prefix,
)
from calcifer.errors import Invalid, NotFound
from calcifer.gitrepo import Commit, CommitInfo, GitError

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


def has_docs(*, session: Session) -> bool:
    """Whether the index holds any doc (templates aside)."""
    return bool(session.scalar(select(select(DocPage.path).where(DocPage.is_template.is_(False)).exists())))


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
