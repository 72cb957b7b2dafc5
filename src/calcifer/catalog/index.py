"""The catalog index: main's catalog files mirrored into ``catalog_*`` tables, and the queries on it.

``sync_from_git`` (``index_sync``, re-exported here with ``get_state`` for its many callers) reads every
``catalog/services/*.yaml`` and ``catalog/endpoints/*.yaml`` straight from git objects, validates each
file on its own (``index_parse``: a bad file becomes a reported problem with file and line; it never
stops the rest from loading), checks the catalog as a whole (``index_build``: unknown hosts and
dependencies, cycles, duplicate slugs and checks) and replaces the index in one transaction.
``findings`` validates a branch's catalog the same way for the merge check.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from calcifer.catalog.choices import (
    ENDPOINTS_DIR,
    SERVICES_DIR,
    YAML_SUFFIXES,
    ProblemCode,
    ServiceSort,
    Severity,
)
from calcifer.catalog.index_sync import SyncResult as SyncResult
from calcifer.catalog.index_sync import get_state as get_state
from calcifer.catalog.index_sync import sync_from_git as sync_from_git
from calcifer.catalog.models import (
    CatalogEndpoint,
    CatalogProblem,
    CatalogService,
    CatalogTag,
)
from calcifer.catalog.schemas import SLUG_PATTERN
from calcifer.errors import Invalid, NotFound
from calcifer.gitrepo import MAIN, Blob, bare_repo, resolve_commit
from calcifer.listing import MAX_CURSOR_INT, decode_cursor, encode_cursor, like_pattern

MAX_LIMIT = 500


# -- reading files ------------------------------------------------------------------------------------


def _valid_slug(slug: str) -> bool:
    return isinstance(slug, str) and re.fullmatch(SLUG_PATTERN, slug) is not None


def service_file(slug: str) -> str:
    """Where a new service's file goes: ``catalog/services/<slug>.yaml``."""
    return f"{SERVICES_DIR}/{slug}.yaml"


def endpoint_file(slug: str) -> str:
    """Where a new endpoint's own file goes: ``catalog/endpoints/<slug>.yaml``."""
    return f"{ENDPOINTS_DIR}/{slug}.yaml"


def _read_text(repo_path: Path, folder: str, slug: str, ref: str) -> str | None:
    if not _valid_slug(slug):
        return None
    repo = bare_repo(repo_path)  # this thread's cached handle: refs are read from disk anyway
    tree = resolve_commit(repo, ref).tree
    for suffix in YAML_SUFFIXES:
        try:
            entry = tree[f"{folder}/{slug}{suffix}"]
        except (KeyError, ValueError):
            continue
        blob = repo[entry.id]
        if isinstance(blob, Blob):
            return blob.data.decode("utf-8-sig", "replace")
    return None


def read_service_text(*, repo_path: Path, slug: str, ref: str = MAIN) -> str | None:
    """The text of ``catalog/services/<slug>.yaml`` (or ``.yml``) at ``ref``, or None when absent."""
    return _read_text(repo_path, SERVICES_DIR, slug, ref)


def read_endpoint_text(*, repo_path: Path, slug: str, ref: str = MAIN) -> str | None:
    """The text of ``catalog/endpoints/<slug>.yaml`` (or ``.yml``) at ``ref``, or None when absent."""
    return _read_text(repo_path, ENDPOINTS_DIR, slug, ref)


# -- queries ------------------------------------------------------------------------------------------


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _sort_column(sort: str) -> tuple[Any, bool, ServiceSort]:
    descending = sort.startswith("-")
    name = sort[1:] if descending else sort
    try:
        key = ServiceSort(name)
    except ValueError as exc:
        choices = ", ".join(s.value for s in ServiceSort)
        raise Invalid(f"Unknown sort {sort!r}; use one of {choices} (prefix - to reverse).",
                      code="bad_sort") from exc
    column: Any = {
        ServiceSort.NAME: CatalogService.name,
        ServiceSort.KIND: CatalogService.kind,
        ServiceSort.HOST: func.coalesce(CatalogService.host, ""),
        ServiceSort.STATUS: CatalogService.status,
        ServiceSort.UPDATED: CatalogService.updated_at,
    }[key]
    return column, descending, key


def _after(column: ColumnElement[Any], slug_column: Any, value: Any, slug: str,
           descending: bool) -> ColumnElement[bool]:
    if descending:
        return or_(column < value, and_(column == value, slug_column < slug))
    return or_(column > value, and_(column == value, slug_column > slug))


def _sort_value(row: CatalogService, key: ServiceSort) -> Any:
    if key is ServiceSort.UPDATED:
        return row.updated_at.isoformat()
    if key is ServiceSort.HOST:
        return row.host or ""
    return getattr(row, key.value)


def list_services(
    *, session: Session, q: str | None = None, kind: str | None = None, host: str | None = None,
    tag: str | None = None, status: str | None = None, sort: str = ServiceSort.NAME.value, limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CatalogService], str | None]:
    """Services matching every given filter, a page at a time.

    ``q`` searches name, slug and description; ``sort`` is name, kind, host, status or updated, with a
    leading ``-`` for descending. Returns the page and the cursor of the next page (None at the end).
    Raises Invalid for an unknown sort or a cursor this function did not give out.
    """
    column, descending, key = _sort_column(sort)
    limit = _clamp(limit)
    query = select(CatalogService)
    if q and q.strip():
        like = like_pattern(q)
        query = query.where(or_(CatalogService.name.ilike(like, escape="\\"),
                                CatalogService.slug.ilike(like, escape="\\"),
                                CatalogService.description.ilike(like, escape="\\")))
    if kind:
        query = query.where(CatalogService.kind == kind)
    if host:
        query = query.where(CatalogService.host == host)
    if status:
        query = query.where(CatalogService.status == status)
    if tag:
        tagged = select(CatalogTag.service_slug).where(CatalogTag.tag == tag)
        query = query.where(CatalogService.slug.in_(tagged))
    if cursor:
        value, slug = decode_cursor(cursor, 2)
        if key is ServiceSort.UPDATED:
            try:
                value = dt.datetime.fromisoformat(str(value))
            except ValueError as exc:
                raise Invalid("The cursor is not one this list gave out; start again without it.",
                              code="bad_cursor") from exc
        query = query.where(_after(column, CatalogService.slug, value, str(slug), descending))
    order = ((column.desc(), CatalogService.slug.desc()) if descending
             else (column.asc(), CatalogService.slug.asc()))
    rows = list(session.scalars(query.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([_sort_value(last, key), last.slug])


def get_service(*, session: Session, slug: str) -> CatalogService:
    """The indexed service. Raises NotFound."""
    row = session.scalars(select(CatalogService).where(CatalogService.slug == slug)).first()
    if row is None:
        raise NotFound(f"No service {slug!r} in the catalog.")
    return row


def list_endpoints(
    *, session: Session, service: str | None = None, type: str | None = None, q: str | None = None,
    enabled: bool | None = None, limit: int = 50, cursor: str | None = None,
) -> tuple[list[CatalogEndpoint], str | None]:
    """Endpoints by slug, a page at a time; ``q`` searches name, slug and target.

    Returns the page and the next page's cursor (None at the end). Raises Invalid for a bad cursor.
    """
    limit = _clamp(limit)
    query = select(CatalogEndpoint)
    if service:
        query = query.where(CatalogEndpoint.service == service)
    if type:
        query = query.where(CatalogEndpoint.type == type)
    if enabled is not None:
        query = query.where(CatalogEndpoint.enabled == enabled)
    if q and q.strip():
        like = like_pattern(q)
        query = query.where(or_(CatalogEndpoint.name.ilike(like, escape="\\"),
                                CatalogEndpoint.slug.ilike(like, escape="\\"),
                                CatalogEndpoint.target.ilike(like, escape="\\")))
    if cursor:
        (after,) = decode_cursor(cursor, 1)
        query = query.where(CatalogEndpoint.slug > str(after))
    rows = list(session.scalars(query.order_by(CatalogEndpoint.slug).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].slug])


def get_endpoint(*, session: Session, slug: str) -> CatalogEndpoint:
    """The indexed endpoint. Raises NotFound."""
    row = session.scalars(select(CatalogEndpoint).where(CatalogEndpoint.slug == slug)).first()
    if row is None:
        raise NotFound(f"No endpoint {slug!r} in the catalog.")
    return row


def list_problems(
    *, session: Session, severity: str | None = None, file: str | None = None, limit: int = 1000,
    cursor: str | None = None,
) -> list[CatalogProblem]:
    """Problems of the last sync: errors first, then by file and line (at most ``limit``, max 5,000), after
    the one ``cursor`` (from ``problem_cursor``) names. Raises Invalid for a cursor it did not give out."""
    query = select(CatalogProblem)
    if severity:
        query = query.where(CatalogProblem.severity == severity)
    if file:
        query = query.where(CatalogProblem.file == file)
    key = (CatalogProblem.severity, CatalogProblem.file, CatalogProblem.line, CatalogProblem.id)
    if cursor:
        after = decode_cursor(cursor, len(key))
        texts_ok = all(isinstance(v, str) for v in after[:2])
        numbers_ok = all(isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_CURSOR_INT
                         for v in after[2:])
        if not (texts_ok and numbers_ok):
            raise Invalid("The cursor is not one this list gave out; start again without it.", code="bad_cursor")
        query = query.where(tuple_(*key) > tuple_(*after))
    query = query.order_by(*key).limit(max(1, min(int(limit), 5000)))
    return list(session.scalars(query))


def stale_errors(*, session: Session, file: str) -> list[CatalogProblem]:
    """The errors of ``file`` on main when the index serves an earlier version of it (empty otherwise)."""
    stale = session.scalar(select(CatalogProblem.id).where(CatalogProblem.file == file,
                                                           CatalogProblem.code == ProblemCode.STALE.value).limit(1))
    if stale is None:
        return []
    return list_problems(session=session, severity=Severity.ERROR.value, file=file, limit=20)
def problem_cursor(row: CatalogProblem) -> str:
    """The cursor of the page after the one ``row`` ended."""
    return encode_cursor([row.severity, row.file, row.line, row.id])


def all_slugs(*, session: Session) -> list[str]:
    """Every indexed service slug, sorted (for pickers and reference checks)."""
    return list(session.scalars(select(CatalogService.slug).order_by(CatalogService.slug)))


def count_services(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(CatalogService)) or 0)
