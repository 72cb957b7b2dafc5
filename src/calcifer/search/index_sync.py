"""Keeping the search index current: which rows to write, which to drop.

Kept current: ``refresh`` at start (``instance.prepare``) and after every merge (``refresh_after_merge``,
listed after the catalog's sync in ``calcifer.wiring``, which hands it the catalog rows it rewrote) reads
only what changed: docs whose blob id differs, the CHANGES.md blocks (date and type) that differ from
the indexed version, the services and endpoints whose file changed in the catalog index. ``index_work_item`` runs on
every work-item change (a work-item hook listed in ``calcifer.wiring``). Catalog entries and work items
are read through their slices' read models (``catalog.queries``, ``work.queries``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from calcifer.catalog import index as catalog_index
from calcifer.catalog import queries as catalog
from calcifer.changelog import service as changelog
from calcifer.db import utcnow
from calcifer.events import CatalogChanged, MainMoved
from calcifer.gitrepo import MAIN, Blob, Repository, Tree, open_repo, resolve_commit
from calcifer.search import rows as build
from calcifer.search.choices import SearchKind
from calcifer.search.doc_tree import changed_docs, doc_blobs, tree_of
from calcifer.search.engines import BATCH, Engine, engine_for
from calcifer.search.models import SearchDocument, SearchState
from calcifer.search.rows import MAX_KEY_CHARS, Row
from calcifer.work import queries as work

if TYPE_CHECKING:
    from calcifer.work.models import WorkItem

log = logging.getLogger("calcifer.search")

STATE_ID = 1
CHANGELOG_PATH = "CHANGES.md"
ANALYZE_AFTER = 1_000  # rows written or removed by one refresh


@dataclass(frozen=True)
class RefreshResult:
    main_commit: str
    upserted: int
    removed: int
    duration_ms: int
    skipped: bool = False


def _versions(session: Session, kind: str) -> dict[str, str]:
    rows = session.execute(select(SearchDocument.key, SearchDocument.version).where(SearchDocument.kind == kind))
    return {str(r[0]): str(r[1]) for r in rows}


def _remove(session: Session, kind: str, keys: Iterable[str]) -> int:
    keys = list(keys)
    for start in range(0, len(keys), BATCH):
        session.execute(delete(SearchDocument).where(SearchDocument.kind == kind,
                                                     SearchDocument.key.in_(keys[start:start + BATCH])))
    return len(keys)


@dataclass
class _Tally:
    upserted: int = 0
    removed: int = 0


def _sync_rows(session: Session, engine: Engine, kind: str, rows: Iterable[Row], tally: _Tally) -> None:
    """Make the rows of ``kind`` exactly ``rows``: write the new and changed ones, drop the rest."""
    stored = _versions(session, kind)
    seen: set[str] = set()
    pending: list[Row] = []
    for row in rows:
        if row.key in seen or len(row.key) > MAX_KEY_CHARS:
            continue
        seen.add(row.key)
        if stored.get(row.key) != row.version:
            pending.append(row)
            if len(pending) >= BATCH:
                engine.upsert(session, pending)
                tally.upserted += len(pending)
                pending = []
    engine.upsert(session, pending)
    tally.upserted += len(pending)
    tally.removed += _remove(session, kind, [key for key in stored if key not in seen])


def _sync_docs(session: Session, engine: Engine, repo: Repository, tree: Tree,
               previous: Tree | None, tally: _Tally) -> None:
    """Incremental by blob id: only docs whose blob changed are read from git and written.

    From ``previous`` (the tree the index mirrors) a tree diff finds them; without it every doc's
    blob id is compared with the one its row was built from.
    """
    if previous is not None:
        changed, removed = changed_docs(repo, previous, tree)
    else:
        blobs = doc_blobs(repo, tree)
        stored = _versions(session, SearchKind.DOC.value)
        changed = {path: blob_id for path, blob_id in blobs.items() if stored.get(path) != blob_id}
        removed = {path for path in stored if path not in blobs}
    paths = sorted(changed)
    for start in range(0, len(paths), BATCH):
        rows = []
        for path in paths[start:start + BATCH]:
            blob = repo[changed[path]]
            rows.append(build.doc_row(path, blob.data if isinstance(blob, Blob) else b"", changed[path]))
        engine.upsert(session, rows)
        tally.upserted += len(rows)
    tally.removed += _remove(session, SearchKind.DOC.value, sorted(removed))


def _sync_changelog(session: Session, engine: Engine, repo: Repository, old_blob: str | None,
                    text_: str, tally: _Tally) -> None:
    """The changelog rows for ``text_``. When the index holds the rows of an earlier version in render's
    layout (``old_blob``), only the (date, type) blocks that differ are turned into rows: a block's rows
    depend on the block alone (a row's key hashes its date and type), so the result is the same."""
    blocks = None
    if old_blob and "\x00" not in text_:
        try:
            old = repo[old_blob]
        except (KeyError, ValueError):
            old = None
        if isinstance(old, Blob):
            old_text = old.data.decode("utf-8", "replace")
            if "\x00" not in old_text:
                blocks = changelog.changed_blocks(old_text, text_)
    if blocks is None:
        _sync_rows(session, engine, SearchKind.CHANGELOG.value, build.changelog_rows(text_), tally)
        return
    pending: list[Row] = []
    removed: list[str] = []
    for old_entries, new_entries in blocks:
        before = {row.key: row.version for row in build.changelog_rows_of(old_entries)}
        after = build.changelog_rows_of(new_entries)
        pending += [row for row in after if before.get(row.key) != row.version]
        kept = {row.key for row in after}
        removed += [key for key in before if key not in kept]
    engine.upsert(session, pending)
    tally.upserted += len(pending)
    tally.removed += _remove(session, SearchKind.CHANGELOG.value, removed)




def _sync_catalog_rows(session: Session, engine: Engine, kind: SearchKind, tally: _Tally,
                       only: frozenset[str] | None = None) -> None:
    """Make the rows of services (or endpoints) match the catalog index, building only those whose
    file (path or content) changed since they were written. ``only``: the slugs the catalog's last
    sync rewrote or removed, when the index mirrors the sync before it (the rest are current)."""
    endpoints = kind is SearchKind.ENDPOINT
    stored_query = select(SearchDocument.key, SearchDocument.version).where(SearchDocument.kind == kind.value)
    if only is not None:
        if not only:
            return
        stored_query = stored_query.where(SearchDocument.key.in_(sorted(only)))
    wanted = {slug: build.catalog_version(source)
              for slug, source in catalog.source_files(session=session, endpoints=endpoints, slugs=only).items()}
    stored = {str(r[0]): str(r[1]) for r in session.execute(stored_query)}
    stale = sorted(slug for slug, version in wanted.items() if stored.get(slug) != version)
    for start in range(0, len(stale), BATCH):
        chunk = stale[start:start + BATCH]
        rows = ([build.endpoint_row(e, wanted[e.slug]) for e in catalog.endpoint_records(session=session, slugs=chunk)]
                if endpoints else
                [build.service_row(s, wanted[s.slug]) for s in catalog.service_records(session=session, slugs=chunk)])
        engine.upsert(session, rows)
        tally.upserted += len(rows)
    tally.removed += _remove(session, kind.value, [key for key in stored if key not in wanted])


def _lock_state(session: Session) -> SearchState:
    # The UPDATE takes the write lock (SQLite) or the row lock (PostgreSQL) before anything is read,
    # so concurrent refreshes run one after the other and the last one sees the newest main.
    locked = session.execute(update(SearchState).where(SearchState.id == STATE_ID)
                             .values(id=STATE_ID)).rowcount  # type: ignore[attr-defined]
    if not locked:
        session.add(SearchState(id=STATE_ID, duration_ms=0))
        session.flush()
    state = session.get(SearchState, STATE_ID, populate_existing=True)
    assert state is not None
    return state


def refresh(*, session: Session, repo_path: Path, work_items: bool = True, force: bool = False,
            catalog_changes: CatalogChanged | None = None) -> RefreshResult:
    """Bring the index up to date with main, the catalog index and (``work_items``) every work item.

    Reads only what changed since the last refresh (``force`` re-reads everything); ``catalog_changes``
    (from the catalog's sync) limits the catalog rows compared when it starts where this index is.
    Commits.
    Raises NotFound when there is no repository or no main.
    """
    started = time.perf_counter()
    engine = engine_for(session)
    tally = _Tally()
    try:
        state = _lock_state(session)
        if force:
            state.main_commit = state.changelog_blob = state.catalog_commit = None
            session.execute(update(SearchDocument).values(version=""))
        repo = open_repo(repo_path)
        commit = resolve_commit(repo, MAIN)
        commit_id = str(commit.id)
        skipped = state.main_commit == commit_id
        if not skipped:
            _sync_docs(session, engine, repo, commit.tree, tree_of(repo, state.main_commit), tally)
            try:
                changelog_blob = str(commit.tree[CHANGELOG_PATH].id)
            except (KeyError, ValueError):
                changelog_blob = ""
            if changelog_blob != state.changelog_blob:
                blob = repo[changelog_blob] if changelog_blob else None
                text_ = blob.data.decode("utf-8", "replace") if isinstance(blob, Blob) else ""
                _sync_changelog(session, engine, repo, state.changelog_blob, text_, tally)
                state.changelog_blob = changelog_blob
            state.main_commit = commit_id
        catalog_state = catalog_index.get_state(session=session)
        catalog_commit = catalog_state.synced_commit if catalog_state is not None else ""
        if catalog_commit != state.catalog_commit:
            skipped = False
            # Only the rows the catalog's last sync changed, when that sync started where this index is
            # (the common case after a merge); else every row is compared.
            changes = (catalog_changes if not force and catalog_changes is not None and state.catalog_commit
                       and catalog_changes.from_commit == state.catalog_commit
                       and catalog_changes.to_commit == catalog_commit else None)
            _sync_catalog_rows(session, engine, SearchKind.SERVICE, tally,
                               changes.services if changes is not None else None)
            _sync_catalog_rows(session, engine, SearchKind.ENDPOINT, tally,
                               changes.endpoints if changes is not None else None)
            state.catalog_commit = catalog_commit
        if work_items:
            _sync_rows(session, engine, SearchKind.WORK_ITEM.value,
                       (build.work_item_row(item) for item in work.work_item_texts(session=session)), tally)
            skipped = skipped and not tally.upserted and not tally.removed
        duration_ms = int((time.perf_counter() - started) * 1000)
        if not skipped:
            state.refreshed_at = utcnow()
            state.duration_ms = duration_ms
        session.commit()
        if tally.upserted + tally.removed >= ANALYZE_AFTER:
            engine.analyze(session)
    except BaseException:
        session.rollback()
        raise
    return RefreshResult(main_commit=commit_id, upserted=tally.upserted, removed=tally.removed,
                         duration_ms=duration_ms, skipped=skipped)


def get_state(*, session: Session) -> SearchState | None:
    """What the index mirrors (commits, time, duration), or None before the first refresh."""
    state = session.get(SearchState, STATE_ID)
    return state if state is not None and state.refreshed_at is not None else None


def refresh_after_merge(*, session: Session, repo_path: Path, change: MainMoved) -> None:
    """Re-index what a merge changed on main (docs, CHANGES.md) and in the catalog index (only the rows
    the catalog's sync, an earlier step, says it rewrote)."""
    result = refresh(session=session, repo_path=repo_path, work_items=False, catalog_changes=change.catalog)
    log.info("search index refreshed at %s: %s written, %s removed (%s ms)", result.main_commit[:10],
             result.upserted, result.removed, result.duration_ms)


def index_work_item(*, session: Session, item: WorkItem) -> None:
    """Write the work item's row (title, description, notes, branch) at once. Commits."""
    try:
        engine_for(session).upsert(session, [build.work_item_row(work.WorkItemText.of(item))])
        session.commit()
    except BaseException:
        session.rollback()
        raise
