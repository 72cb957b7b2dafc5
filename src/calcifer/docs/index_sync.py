"""The docs index: main's docs mirrored into the ``doc_*`` tables (titles, last change, links to
services, front-matter problems), kept in step after each merge.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from calcifer import gitrepo as git
from calcifer.catalog import index as catalog_index
from calcifer.catalog import queries as catalog_queries
from calcifer.db import utcnow
from calcifer.docs.models import DocLink, DocPage, DocsState
from calcifer.docs.render import (
    front_matter_error,
    index_markdown,
)
from calcifer.docs.service import (
    _BLOB_MODES,
    DOCS_DIR,
    FRONT_MATTER_PROBLEM,
    MAX_DOC_BYTES,
    MAX_HISTORY_SCAN,
    MAX_INDEXED_DOCS,
    MAX_PATH_BYTES,
    STATE_ID,
    SYNC_ATTEMPTS,
    _entry,
    _main_commit,
    _repo,
    is_template,
    log,
    validate_doc_path,
)
from calcifer.errors import Invalid, NotFound, Problem
from calcifer.events import MainMoved
from calcifer.gitrepo import Blob, Commit, GitError, Oid, Repository, Tree, main_oid, resolve_commit
from calcifer.work import service as work_service
from calcifer.work.choices import OPEN_STATUSES
from calcifer.work.models import WorkItem

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
    pairs: list[tuple[str, str]] = []
    for slug, spec in catalog_queries.specs_mentioning(session=session, fragment="/docs/view/"):
        links = spec.get("links")
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
    tree = commit.tree  # once: ``commit.tree`` reads the tree object again at every use
    for path in sorted(paths):
        try:
            entry = tree[path]
        except (KeyError, ValueError):
            continue
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


def _docs_tree(repo: Repository, commit_id: str) -> Tree | None:
    try:
        entry = resolve_commit(repo, commit_id).tree[DOCS_DIR]
    except KeyError:
        return None
    tree = repo.get(entry.id)
    return tree if isinstance(tree, Tree) else None


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
    base_docs, tip_docs = _docs_tree(repo, base), _docs_tree(repo, tip)
    if tip_docs is None or (base_docs is not None and base_docs.id == tip_docs.id):
        return []  # no docs folder, or not one doc changed: nothing to read (a diff of the whole tree is not)
    deltas = base_docs.diff_to_tree(tip_docs).deltas if base_docs is not None else tip_docs.diff_to_tree(
        swap=True).deltas
    problems: list[Problem] = []
    for delta in deltas:
        path = f"{DOCS_DIR}/{delta.new_file.path}"
        if not path.endswith(".md") or delta.status_char() == "D":
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
