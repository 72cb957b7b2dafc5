"""Writing the catalog index: ``sync_from_git`` mirrors main's catalog into the ``catalog_*`` tables,
rewriting only the rows of files that changed, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from calcifer.catalog.choices import (
    EdgeKind,
    Severity,
)
from calcifer.catalog.index_build import _build, _Catalog, _catalog_files
from calcifer.catalog.index_parse import _Known, _Memo
from calcifer.catalog.models import (
    CatalogEdge,
    CatalogEndpoint,
    CatalogProblem,
    CatalogService,
    CatalogState,
    CatalogTag,
)
from calcifer.catalog.schemas import EndpointSpec, ServiceSpec
from calcifer.db import utcnow
from calcifer.errors import NotFound
from calcifer.events import CatalogChanged
from calcifer.gcpause import collector_paused
from calcifer.gitrepo import MAIN, Commit, Repository, open_repo, resolve_commit

STATE_ID = 1
SYNC_ATTEMPTS = 3


@dataclass(frozen=True)
class SyncResult:
    commit: str
    services: int
    endpoints: int
    problems: int
    errors: int
    warnings: int
    duration_ms: int
    skipped: bool = False
    # The rows this sync rewrote or removed (None: not known, compare every row); handed to the next
    # after-merge step (search) as an argument.
    changes: CatalogChanged | None = None


_memo = _Memo()
# At most this many files a sync has no validated spec for are parsed rather than looked up in the index.
FEW_NEW_FILES = 32


# -- writing the index --------------------------------------------------------------------------------


@dataclass
class _Previous:
    """What the index held before: to keep "updated" times of unchanged files and skip re-parsing."""

    specs: dict[str, dict[str, Any]]
    services: dict[str, tuple[str, str, dt.datetime]]
    endpoints: dict[str, tuple[str, str, dt.datetime]]


def _previous(session: Session, *, use_cache: bool) -> _Previous:
    specs: dict[str, dict[str, Any]] = {}
    services: dict[str, tuple[str, str, dt.datetime]] = {}
    endpoints: dict[str, tuple[str, str, dt.datetime]] = {}
    service_rows = session.execute(select(CatalogService.slug, CatalogService.blob_id,
                                          CatalogService.commit_id, CatalogService.updated_at,
                                          *([CatalogService.spec] if use_cache else [])))
    for row in service_rows:
        services[row[0]] = (row[1], row[2], row[3])
        if use_cache:
            specs[row[1]] = row[4]
    endpoint_rows = session.execute(select(CatalogEndpoint.slug, CatalogEndpoint.blob_id,
                                           CatalogEndpoint.commit_id, CatalogEndpoint.updated_at,
                                           CatalogEndpoint.nested,
                                           *([CatalogEndpoint.spec] if use_cache else [])))
    for row in endpoint_rows:
        endpoints[row[0]] = (row[1], row[2], row[3])
        if use_cache and not row[4]:
            specs[row[1]] = row[5]
    return _Previous(specs, services, endpoints)


def _stamp(previous: dict[str, tuple[str, str, dt.datetime]], slug: str, blob_id: str, commit: str,
           now: dt.datetime) -> tuple[str, dt.datetime]:
    before = previous.get(slug)
    if before is not None and before[0] == blob_id:
        return before[1], before[2]
    return commit, now


def _rows(catalog: _Catalog, previous: _Previous, commit: str) -> dict[Any, list[dict[str, Any]]]:
    now = utcnow()
    services, tags, edges, endpoints, problems = [], [], [], [], []
    for slug, service in catalog.services.items():
        spec = service.spec
        blob_id = str(service.file.blob_id)
        commit_id, updated_at = _stamp(previous.services, slug, blob_id, commit, now)
        services.append({
            "slug": slug, "name": spec.name, "kind": spec.kind.value, "host": spec.host,
            "status": spec.status.value, "description": spec.description, "owner": spec.owner,
            "tags": list(spec.tags), "depends_on": list(spec.depends_on),
            "spec": spec.model_dump(mode="json"),
            "file": service.file.path, "line": 1, "blob_id": blob_id, "commit_id": commit_id,
            "updated_at": updated_at,
        })
        tags += [{"service_slug": slug, "tag": tag} for tag in spec.tags]
        if spec.host:
            edges.append({"from_slug": slug, "to_slug": spec.host, "kind": EdgeKind.HOST.value})
        edges += [{"from_slug": slug, "to_slug": needed, "kind": EdgeKind.DEPENDS_ON.value}
                  for needed in spec.depends_on]
    for slug, endpoint in catalog.endpoints.items():
        check = endpoint.spec
        blob_id = str(endpoint.file.blob_id)
        commit_id, updated_at = _stamp(previous.endpoints, slug, blob_id, commit, now)
        dumped = check.model_dump(mode="json")
        if endpoint.nested:
            dumped["service"] = endpoint.service
        endpoints.append({
            "slug": slug, "name": check.name, "service": endpoint.service, "type": str(check.type),
            "target": check.target, "port": check.port, "interval": check.interval, "timeout": check.timeout,
            "retries": check.retries, "enabled": check.enabled, "options": dumped["options"], "spec": dumped,
            "file": endpoint.file.path, "line": endpoint.line, "nested": endpoint.nested,
            "blob_id": blob_id, "commit_id": commit_id, "updated_at": updated_at,
        })
    problems = [{"file": f.file, "line": f.line, "severity": f.severity, "code": f.code,
                 "message": f.message[:4000], "slug": f.slug} for f in catalog.findings]
    return {CatalogService: services, CatalogTag: tags, CatalogEdge: edges, CatalogEndpoint: endpoints,
            CatalogProblem: problems}


_PROBLEM_COLUMNS = ("file", "line", "severity", "code", "message", "slug")


def _known(session: Session) -> _Known:
    services = {row[0]: (row[1], row[2], row[3], row[4]) for row in session.execute(select(
        CatalogService.slug, CatalogService.file, CatalogService.blob_id, CatalogService.commit_id,
        CatalogService.updated_at))}
    endpoints = {row[0]: (row[1], row[2], row[3], row[4]) for row in session.execute(select(
        CatalogEndpoint.slug, CatalogEndpoint.file, CatalogEndpoint.blob_id, CatalogEndpoint.commit_id,
        CatalogEndpoint.updated_at))}
    problems = [tuple(row) for row in session.execute(
        select(*(getattr(CatalogProblem, c) for c in _PROBLEM_COLUMNS)).order_by(CatalogProblem.id))]
    return _Known(services, endpoints, problems)


def _served(known: _Known) -> dict[str, str]:
    """Path -> blob id of every file the index serves a row of (a nested endpoint's is its service's)."""
    served = {file: blob_id for file, blob_id, _, _ in known.services.values()}
    served.update((file, blob_id) for file, blob_id, _, _ in known.endpoints.values() if file not in served)
    return served


def _stored_specs(session: Session, services: list[str], endpoints: list[str]) -> dict[str, dict[str, Any]]:
    """Specs the index holds for these blob ids (files whose spec this process has not validated yet)."""
    specs: dict[str, dict[str, Any]] = {}
    wanted: tuple[tuple[Any, list[str]], ...] = ((CatalogService, services), (CatalogEndpoint, endpoints))
    for model, blob_ids in wanted:
        if not blob_ids:
            continue
        query = select(model.blob_id, model.spec)
        if model is CatalogEndpoint:
            query = query.where(CatalogEndpoint.nested.is_(False))  # a nested one's blob is its service's
        if len(blob_ids) > 1000:  # e.g. the first sync after a start: read them all at once
            specs.update({row[0]: row[1] for row in session.execute(query)})
            continue
        for start in range(0, len(blob_ids), 500):
            chunk = blob_ids[start:start + 500]
            specs.update({row[0]: row[1] for row in session.execute(query.where(model.blob_id.in_(chunk)))})
    return specs


def _known_after(known: _Known | None, rows: dict[Any, list[dict[str, Any]]], catalog: _Catalog) -> _Known:
    """What ``_known`` would read after ``rows`` were written over ``known`` (None: over nothing)."""
    def merged(model: Any, before: dict[str, tuple[str, str, str, dt.datetime]], current: dict[str, Any]
               ) -> dict[str, tuple[str, str, str, dt.datetime]]:
        result = {slug: value for slug, value in before.items() if slug in current}
        for row in rows.get(model, []):
            result[row["slug"]] = (row["file"], row["blob_id"], row["commit_id"], row["updated_at"])
        return result
    return _Known(
        services=merged(CatalogService, known.services if known else {}, catalog.services),
        endpoints=merged(CatalogEndpoint, known.endpoints if known else {}, catalog.endpoints),
        problems=[(f.file, f.line, f.severity, f.code, f.message[:4000], f.slug) for f in catalog.findings])


# Which rows one sync rewrote or removed, from one synced commit to the next (``SyncResult.changes``).
RowChanges = CatalogChanged


class CatalogChangedHook(Protocol):
    """Called by an incremental sync that changed rows, in its transaction before it commits (the
    domain-event outbox records services and endpoints added, changed, removed). Adds rows only: no
    commit, no network. Filled by ``calcifer.wiring``; a full rebuild or the first sync calls nothing."""

    def __call__(self, *, session: Session, change: CatalogChanged) -> None: ...


CATALOG_CHANGED_HOOKS: list[CatalogChangedHook] = []


def _row_changes(moved_from: str | None, commit_id: str, known: _Known) -> CatalogChanged | None:
    if known.changed is None:
        return None
    services, endpoints = known.changed
    added = known.added or (frozenset(), frozenset())
    return RowChanges(moved_from, commit_id, services, endpoints, added_services=added[0],
                      removed_services=frozenset(s for s in services if s not in known.services),
                      added_endpoints=added[1],
                      removed_endpoints=frozenset(e for e in endpoints if e not in known.endpoints))


def _write_changes(session: Session, catalog: _Catalog, known: _Known, commit: str) -> _Known:
    """Bring the index from ``known`` to ``catalog``: only rows whose file or content changed are
    rewritten (a row is a function of its file's path and blob), problems only when they changed.
    Returns what the index holds now."""
    changed = _Catalog(memo=catalog.memo)
    for slug, service in catalog.services.items():
        before = known.services.get(slug)
        if before is None or before[:2] != (service.file.path, str(service.file.blob_id)):
            changed.services[slug] = service
    for slug, endpoint in catalog.endpoints.items():
        before = known.endpoints.get(slug)
        if before is None or before[:2] != (endpoint.file.path, str(endpoint.file.blob_id)):
            changed.endpoints[slug] = endpoint
    added = (frozenset(slug for slug in changed.services if slug not in known.services),
             frozenset(slug for slug in changed.endpoints if slug not in known.endpoints))
    gone_services = [slug for slug in known.services if slug not in catalog.services or slug in changed.services]
    gone_endpoints = [slug for slug in known.endpoints
                      if slug not in catalog.endpoints or slug in changed.endpoints]
    previous = _Previous(specs={}, services={k: known.services[k][1:] for k in changed.services
                                             if k in known.services},
                         endpoints={k: known.endpoints[k][1:] for k in changed.endpoints if k in known.endpoints})
    rows = _rows(changed, previous, commit)
    rows.pop(CatalogProblem)
    new_problems = [(f.file, f.line, f.severity, f.code, f.message[:4000], f.slug) for f in catalog.findings]
    for start in range(0, len(gone_services), 500):
        chunk = gone_services[start:start + 500]
        session.execute(delete(CatalogTag).where(CatalogTag.service_slug.in_(chunk)))
        session.execute(delete(CatalogEdge).where(CatalogEdge.from_slug.in_(chunk)))
        session.execute(delete(CatalogService).where(CatalogService.slug.in_(chunk)))
    for start in range(0, len(gone_endpoints), 500):
        session.execute(delete(CatalogEndpoint).where(CatalogEndpoint.slug.in_(gone_endpoints[start:start + 500])))
    for model, values in rows.items():
        if values:
            session.execute(insert(model.__table__), values)
    if new_problems != known.problems:
        problems = [dict(zip(_PROBLEM_COLUMNS, values, strict=True)) for values in new_problems]
        session.execute(delete(CatalogProblem))
        if problems:
            session.execute(insert(CatalogProblem), problems)
    # What the index holds now: ``known`` updated in place (no copy of thousands of entries).
    for slug in gone_services:
        known.services.pop(slug, None)
    for slug in gone_endpoints:
        known.endpoints.pop(slug, None)
    for model, into in ((CatalogService, known.services), (CatalogEndpoint, known.endpoints)):
        for row in rows.get(model, []):
            into[row["slug"]] = (row["file"], row["blob_id"], row["commit_id"], row["updated_at"])
    known.problems = new_problems
    known.changed = (frozenset(gone_services) | frozenset(changed.services),
                     frozenset(gone_endpoints) | frozenset(changed.endpoints))
    known.added = added
    return known


def _lock_state(session: Session) -> CatalogState:
    # The UPDATE takes the write lock (SQLite) or the row lock (PostgreSQL) before anything is replaced,
    # so concurrent syncs run one after the other.
    locked = session.execute(update(CatalogState).where(CatalogState.id == STATE_ID)
                             .values(id=STATE_ID)).rowcount  # type: ignore[attr-defined]
    if not locked:
        session.add(CatalogState(id=STATE_ID))
        session.flush()
    state = session.get(CatalogState, STATE_ID, populate_existing=True)
    assert state is not None
    return state


def get_state(*, session: Session) -> CatalogState | None:
    """The index's sync record (commit, time, duration, counts), or None before the first sync."""
    state = session.get(CatalogState, STATE_ID)
    return state if state is not None and state.synced_commit else None


def _result(state: CatalogState, *, skipped: bool, duration_ms: int | None = None) -> SyncResult:
    return SyncResult(commit=state.synced_commit or "", services=state.services, endpoints=state.endpoints,
                      problems=state.errors + state.warnings, errors=state.errors, warnings=state.warnings,
                      duration_ms=state.duration_ms if duration_ms is None else duration_ms, skipped=skipped)


def _catalog_tree_id(repo: Repository, commit: Commit) -> str | None:
    try:
        return str(commit.tree["catalog"].id)
    except KeyError:
        return None


def _same_catalog(repo: Repository, synced_commit: str, commit: Commit) -> bool:
    """True when the catalog/ folder is identical at both commits (same tree id)."""
    try:
        previous = repo.get(synced_commit)
    except ValueError:
        return False
    if not isinstance(previous, Commit):
        return False
    return _catalog_tree_id(repo, previous) == _catalog_tree_id(repo, commit)


def sync_from_git(*, session: Session, repo_path: Path, ref: str = MAIN, force: bool = False) -> SyncResult:
    """Mirror the catalog files at ``ref`` into the index, replacing it in one transaction (committed).

    Bad files never raise: each becomes a CatalogProblem (error: not loaded; warning: loaded but
    suspicious) with its file and line. Does nothing when the index already mirrors that commit,
    unless ``force`` (which also re-parses every file instead of reusing unchanged files' specs).
    Raises NotFound when there is no repository or no such ref.
    """
    with collector_paused():
        return _sync(session=session, repo_path=repo_path, ref=ref, force=force)


def _sync(*, session: Session, repo_path: Path, ref: str, force: bool) -> SyncResult:
    global _memo
    started = time.perf_counter()
    for _attempt in range(SYNC_ATTEMPTS):
        repo = open_repo(repo_path)
        commit = resolve_commit(repo, ref)
        commit_id = str(commit.id)
        state = session.get(CatalogState, STATE_ID, populate_existing=True)
        if not force and state is not None and state.synced_commit == commit_id:
            return _result(state, skipped=True, duration_ms=int((time.perf_counter() - started) * 1000))
        if not force and state is not None and state.synced_commit and _same_catalog(repo, state.synced_commit,
                                                                                      commit):
            # Most merges touch no catalog file: the index is already right, only its commit moves.
            skipped_from = state.synced_commit
            state.synced_commit = commit_id
            session.commit()
            return replace(_result(state, skipped=True, duration_ms=int((time.perf_counter() - started) * 1000)),
                           changes=RowChanges(skipped_from, commit_id, frozenset(), frozenset()))
        memo = _Memo(None if force else _memo)
        files = _catalog_files(repo, commit, memo)
        if force:
            previous = _previous(session, use_cache=False)
            catalog = _build(repo, commit, previous.specs, memo, files, _served(_known(session)))
            rows = _rows(catalog, previous, commit_id)
        else:
            # Incremental: specs of unchanged files come from this process's memo (or the index), and
            # only the rows of files that changed are rewritten.
            known_stamp = state.synced_at if state is not None else None
            cached = memo.previous.known if memo.previous is not None else None
            # What the index holds: as this process left it when nobody synced since, else read.
            # A copy (dict copies run in C): this sync updates it in place, and a concurrent one may hold it.
            known = (_Known(dict(cached[1].services), dict(cached[1].endpoints), list(cached[1].problems))
                     if cached is not None and known_stamp is not None and cached[0] == known_stamp
                     else _known(session))
            # Specs this process has not validated: from the index when there are many (the first sync
            # after a start); a few new files are parsed, cheaper than a query. A folder whose file
            # list is the last sync's is not parsed again at all (see _load_services/_load_endpoints).
            loaded_services, loaded_endpoints = memo.loaded_services, memo.loaded_endpoints
            missing = ([] if loaded_services is not None and loaded_services[0] is files[0] else
                       [str(f.blob_id) for f in files[0] if memo.spec(ServiceSpec, f.blob_id) is None],
                       [] if loaded_endpoints is not None and loaded_endpoints[0] is files[1] else
                       [str(f.blob_id) for f in files[1] if memo.spec(EndpointSpec, f.blob_id) is None])
            few = len(missing[0]) + len(missing[1]) <= FEW_NEW_FILES
            catalog = _build(repo, commit, {} if few else _stored_specs(session, *missing), memo, files,
                             _served(known))
        try:
            state = _lock_state(session)
            if not force and state.synced_commit == commit_id:
                session.rollback()  # another sync did the same work meanwhile
                return _result(state, skipped=True, duration_ms=int((time.perf_counter() - started) * 1000))
            if str(resolve_commit(open_repo(repo_path), ref).id) != commit_id:
                session.rollback()  # the ref moved while we read it: index its new commit instead
                continue
            moved_from = state.synced_commit
            if force:
                for model in (CatalogTag, CatalogEdge, CatalogEndpoint, CatalogService, CatalogProblem):
                    session.execute(delete(model))
                for model, values in rows.items():
                    if values:
                        # Core executemany: several times faster than the ORM's bulk insert here.
                        session.execute(insert(model.__table__), values)
                now_known = _known_after(None, rows, catalog)
            else:
                # Read again under the lock when a sync ran meanwhile: it may have changed the rows.
                now_known = _write_changes(session, catalog, _known(session) if state.synced_at != known_stamp
                                           else known, commit_id)
            errors = sum(1 for f in catalog.findings if f.severity == Severity.ERROR.value)
            state.synced_commit = commit_id
            state.synced_at = utcnow()
            state.duration_ms = int((time.perf_counter() - started) * 1000)
            state.services = len(catalog.services)
            state.endpoints = len(catalog.endpoints)
            state.errors = errors
            state.warnings = len(catalog.findings) - errors
            result = _result(state, skipped=False)
            changes = _row_changes(moved_from, commit_id, now_known)
            if changes is not None and not force and moved_from and (changes.services or changes.endpoints):
                for hook in list(CATALOG_CHANGED_HOOKS):
                    hook(session=session, change=changes)
            session.commit()
            memo.known = (state.synced_at, now_known)  # read back: the stamp as the database keeps it
            memo.built = (_catalog_tree_id(repo, commit), catalog)  # not changed after this
            _memo = memo.detach(files)
            return replace(result, changes=changes)
        except BaseException:
            session.rollback()
            if memo.previous is not None:
                memo.previous.known = None  # it may have been updated for rows that were not written
            raise
    raise NotFound(f"{ref!r} kept moving while the catalog was indexed; try again")
