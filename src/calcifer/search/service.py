"""The search index and the queries on it.

One row per searchable thing in ``search_documents`` (see ``models``): docs (``docs/**.md`` on main),
services and endpoints (from the catalog index), work items and CHANGES.md entries on main. The
engine's own full-text index follows the rows: FTS5 on SQLite (triggers), a weighted tsvector on
PostgreSQL (written with the row). Both see the same words (``query.index_words``/``query.parse``),
so a search finds the same rows on both engines.

Ranking: a match in the title counts far more than one in the body. SQLite orders by FTS5's bm25 with
the title column weighted 10 to the body's 1. PostgreSQL orders by ``ts_rank_cd`` (normalised to
0..1) plus 1 when every word is in the title (tsvector weight A), so a title match always comes first.

Kept current: ``refresh`` at start (``app.prepare``) and after every merge (``on_main_changed``) reads
only what changed: docs whose blob id differs, CHANGES.md when its blob changed, the catalog when the
catalog index moved. ``index_work_item`` runs on every work-item change (``on_work_item_changed``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
from markupsafe import Markup
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.orm import Session

# The catalog registers its after-merge index sync when its service module is imported. Importing it
# before registering ours makes its sync run first, so a merge's new services are in the catalog
# index by the time search reads it.
from calcifer.catalog import index as catalog_index
from calcifer.catalog import service as _catalog_service  # noqa: F401
from calcifer.changelog import service as changelog
from calcifer.db import utcnow
from calcifer.errors import Invalid
from calcifer.gitrepo._repo import MAIN, open_repo, resolve_commit
from calcifer.search import query as q
from calcifer.search.choices import KIND_SHIFT, SearchKind
from calcifer.search.models import SearchDocument, SearchState
from calcifer.work import service as work_service
from calcifer.work.models import WorkItem

log = logging.getLogger("calcifer.search")

STATE_ID = 1
DOCS_DIR = "docs"
DOC_TEMPLATES_DIR = "docs/_templates"
DOC_SUFFIX = ".md"
CHANGELOG_PATH = "CHANGES.md"
MAX_BODY_CHARS = 200_000  # the rest of a very long doc is not searched (PostgreSQL caps a tsvector at 1 MB)
MAX_KEY_CHARS = 1024
MAX_LIMIT = 100
MAX_OFFSET = 1000
RANK_ALL = 2_000  # SQLite: matches ranked in full (see _SQLite.ranked)
BATCH = 500
PAGE = 500


@dataclass(frozen=True)
class Row:
    """What one search_documents row holds."""

    kind: str
    key: str
    title: str
    url: str
    meta: str
    body: str
    version: str = ""

    def with_version(self) -> Row:
        if self.version:
            return self
        digest = hashlib.sha1("\x00".join((self.title, self.url, self.meta, self.body)).encode(),
                              usedforsecurity=False).hexdigest()
        return Row(self.kind, self.key, self.title, self.url, self.meta, self.body, digest)


@dataclass(frozen=True)
class RefreshResult:
    main_commit: str
    upserted: int
    removed: int
    duration_ms: int
    skipped: bool = False


@dataclass(frozen=True)
class Hit:
    kind: str
    key: str
    title: str
    url: str
    meta: str
    score: float
    title_html: Markup
    snippet: Markup

    @property
    def kind_label(self) -> str:
        return SearchKind(self.kind).label


@dataclass
class SearchResults:
    query: q.ParsedQuery
    items: list[Hit] = field(default_factory=list)
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # matches by kind, regardless of the kind filter
    next_cursor: str | None = None


# -- docs: title and text -----------------------------------------------------------------------------
# A tiny local stand-in: the docs slice's render.doc_title(text, *, doc_path) replaces it once it lands.

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```+|~~~+)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")


def split_front_matter(text: str) -> tuple[str, str]:
    """(front matter, the rest) of a markdown text; front matter "" when there is none."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    return match.group(1), text[match.end():]


def doc_title(text: str, *, doc_path: str) -> str:
    """The front matter's ``title``, else the first heading, else the file name made readable."""
    front, body = split_front_matter(text)
    match = _FM_TITLE.search(front)
    if match:
        title = match.group(1).strip().strip("\"'").strip()
        if title:
            return title[:300]
    fence: str | None = None
    previous = ""
    for line in body.splitlines():
        opened = _FENCE.match(line)
        if opened:
            marker = opened.group(1)[:3]
            fence = None if fence == marker else (fence or marker)
            previous = ""
            continue
        if fence:
            continue
        heading = _ATX.match(line)
        if heading:
            return heading.group(1).strip()[:300]
        if previous.strip() and _SETEXT.match(line) and line.strip().startswith("="):
            return previous.strip()[:300]
        previous = line
    stem = doc_path.rsplit("/", 1)[-1].removesuffix(DOC_SUFFIX)
    readable = re.sub(r"[-_]+", " ", stem).strip()
    return (readable[:1].upper() + readable[1:]) or doc_path


def plain_text(markdown: str) -> str:
    """Markdown as the text a reader sees (markup removed, HTML kept as text: snippets escape it)."""
    _, body = split_front_matter(markdown)
    lines = []
    for line in body.splitlines():
        if _FENCE.match(line) or _TABLE_RULE.match(line) or _SETEXT.match(line):
            continue
        heading = _ATX.match(line)
        if heading:
            line = heading.group(1)
        lines.append(line)
    out = "\n".join(lines)
    out = _IMAGE.sub(r"\1", out)
    out = _LINK.sub(r"\1", out)
    out = _EMPHASIS.sub(r"\2", out)
    return out.replace("`", "")


def doc_url(path: str) -> str:
    """Where the docs pages show ``docs/<path>``."""
    return "/docs/" + path.removeprefix(DOCS_DIR + "/")


def _doc_row(path: str, data: bytes, blob_id: str) -> Row:
    raw = data[: MAX_BODY_CHARS * 4].decode("utf-8-sig", "replace")
    return Row(kind=SearchKind.DOC.value, key=path, title=doc_title(raw, doc_path=path), url=doc_url(path),
               meta=path, body=plain_text(raw)[:MAX_BODY_CHARS], version=blob_id)


# -- rows of the other kinds --------------------------------------------------------------------------


def work_item_row(item: WorkItem) -> Row:
    status = item.status.replace("_", " ")
    body = "\n".join(part for part in (item.description, item.notes, item.branch, item.service or "",
                                       f"{item.category} {item.action}") if part)
    return Row(kind=SearchKind.WORK_ITEM.value, key=str(item.id), title=item.title, url=f"/work/{item.id}",
               meta=f"#{item.id} · {status} · {item.branch}"[:500], body=body[:MAX_BODY_CHARS]).with_version()


def _changelog_rows(text: str) -> list[Row]:
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for entry in changelog.parse(text).entries:
        heading = entry.heading_key or "Note"
        digest = hashlib.sha1("\x00".join((entry.section, heading, entry.text,
                                           str(entry.work_item_id))).encode(),
                              usedforsecurity=False).hexdigest()[:24]
        seen[digest] = seen.get(digest, 0) + 1
        key = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        link = f" · #{entry.work_item_id}" if entry.work_item_id is not None else ""
        title = plain_text(entry.text).strip() or heading
        rows.append(Row(kind=SearchKind.CHANGELOG.value, key=key, title=title[:1000],
                        url=f"/work/{entry.work_item_id}" if entry.work_item_id is not None else "/",
                        meta=f"{heading} · {entry.section}{link}"[:500],
                        body=f"{heading} {entry.section}").with_version())
    return rows


def _service_rows(session: Session) -> Iterator[Row]:
    cursor: str | None = None
    while True:
        services, cursor = catalog_index.list_services(session=session, limit=PAGE, cursor=cursor)
        for s in services:
            spec = s.spec if isinstance(s.spec, dict) else {}
            notes = spec.get("notes") if isinstance(spec.get("notes"), str) else ""
            urls = " ".join(u for u in spec.get("urls") or [] if isinstance(u, str))
            body = "\n".join(part for part in (
                s.slug, s.description, notes, s.kind, s.host or "", s.status, s.owner or "", " ".join(s.tags),
                " ".join(s.depends_on), urls, s.file) if part)
            meta = " · ".join(part for part in (s.kind, s.status, f"on {s.host}" if s.host else "") if part)
            yield Row(kind=SearchKind.SERVICE.value, key=s.slug, title=s.name, url=f"/services/{s.slug}",
                      meta=meta, body=body[:MAX_BODY_CHARS]).with_version()
        if cursor is None:
            return


def _endpoint_rows(session: Session) -> Iterator[Row]:
    cursor: str | None = None
    while True:
        endpoints, cursor = catalog_index.list_endpoints(session=session, limit=PAGE, cursor=cursor)
        for e in endpoints:
            where = e.target or ""
            if e.port:
                where = f"{where} port {e.port}".strip()
            body = "\n".join(part for part in (e.slug, e.service or "", e.type, where, e.file) if part)
            meta = " · ".join(part for part in (e.type, where, f"service {e.service}" if e.service else "")
                              if part)
            yield Row(kind=SearchKind.ENDPOINT.value, key=e.slug, title=e.name, url=f"/endpoints/{e.slug}",
                      meta=meta[:500], body=body[:MAX_BODY_CHARS]).with_version()
        if cursor is None:
            return


def _work_item_rows(session: Session) -> Iterator[Row]:
    before: int | None = None
    while True:
        items = work_service.list_work_items(session=session, filters=work_service.WorkFilter(), limit=PAGE,
                                             before_id=before)
        for item in items:
            yield work_item_row(item)
        if len(items) < PAGE:
            return
        before = items[-1].id


# -- engines ------------------------------------------------------------------------------------------

_COLUMNS = ("kind", "key", "title", "url", "meta", "version", "body")
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])


class _Engine:
    """What differs between SQLite (FTS5) and PostgreSQL (tsvector): writing rows, ranking, counting."""

    upsert_sql = text(
        f"INSERT INTO search_documents ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
        f"ON CONFLICT (kind, key) DO UPDATE SET {_UPDATES}")

    def params(self, row: Row) -> dict[str, Any]:
        return {"kind": row.kind, "key": row.key, "title": row.title, "url": row.url, "meta": row.meta,
                "version": row.version, "body": row.body}

    def upsert(self, session: Session, rows: list[Row]) -> None:
        for start in range(0, len(rows), BATCH):
            session.execute(self.upsert_sql, [self.params(r) for r in rows[start:start + BATCH]])

    def ranked(self, session: Session, query: q.ParsedQuery, kinds: list[str] | None, limit: int,
               offset: int) -> list[tuple[int, float]]:
        raise NotImplementedError

    def counts(self, session: Session, query: q.ParsedQuery) -> dict[str, int]:
        raise NotImplementedError


class _SQLite(_Engine):
    """FTS5. A row's id is ``kind.code << KIND_SHIFT | n``, so the kind of a match is its rowid's high
    bits: the kind filter and the counts by kind never read a search_documents row per match."""

    # bm25 weights per FTS column: title 10, body 1. bm25 is lower for better matches.
    RANK = "bm25(search_fts, 10.0, 1.0)"
    SPAN = 1 << KIND_SHIFT
    # The next free id of the row's kind (PK range lookup), used only when (kind, key) is new.
    upsert_sql = text(
        f"INSERT INTO search_documents (id, {', '.join(_COLUMNS)}) VALUES ("
        "(SELECT coalesce(max(id) + 1, :base) FROM search_documents WHERE id >= :base AND id < :base + "
        f"{1 << KIND_SHIFT}), {', '.join(':' + c for c in _COLUMNS)}) "
        f"ON CONFLICT (kind, key) DO UPDATE SET {_UPDATES}")

    def params(self, row: Row) -> dict[str, Any]:
        values = super().params(row)
        values["base"] = (SearchKind(row.kind).code << KIND_SHIFT) + 1
        return values

    @classmethod
    def _kinds(cls, kinds: list[str] | None) -> str:
        """SQL on ``rowid`` keeping only ``kinds`` (FTS5 uses a single range to skip ahead)."""
        if not kinds:
            return ""
        ranges = [f"(rowid >= {SearchKind(k).code << KIND_SHIFT} AND rowid < {(SearchKind(k).code + 1) << KIND_SHIFT})"
                  for k in kinds]
        return " AND (" + " OR ".join(ranges) + ")"

    def _rank(self, session: Session, match: str, kinds: list[str] | None, limit: int, offset: int = 0,
              below: int | None = None) -> list[tuple[int, float]]:
        rows = session.execute(text(
            f"SELECT rowid, {self.RANK} AS rank FROM search_fts WHERE search_fts MATCH :match{self._kinds(kinds)}"
            + (" AND rowid < :below" if below is not None else "")
            + " ORDER BY rank, rowid LIMIT :limit OFFSET :offset"),
            {"match": match, "limit": limit, "offset": offset, "below": below})
        return [(int(r[0]), -float(r[1])) for r in rows]

    def ranked(self, session: Session, query: q.ParsedQuery, kinds: list[str] | None, limit: int,
               offset: int) -> list[tuple[int, float]]:
        match = query.fts5()
        # bm25 reads every match's positions: fine for a few thousand, ~25 ms for words in all of
        # 10,000 docs. Such words have an inverse document frequency of about zero, so bm25 orders
        # them by little more than length. Past RANK_ALL matches: rows with every word in the title
        # first (ranked), then the body matches among the first RANK_ALL rows (ranked).
        cut = session.execute(text(f"SELECT rowid FROM search_fts WHERE search_fts MATCH :match{self._kinds(kinds)} "
                                   "LIMIT 1 OFFSET :n"), {"match": match, "n": RANK_ALL}).scalar()
        if cut is None:
            return self._rank(session, match, kinds, limit, offset)
        wanted = offset + limit
        found = self._rank(session, "{title} : (" + match + ")", kinds, wanted)
        if len(found) < wanted:
            seen = {row_id for row_id, _ in found}
            rest = self._rank(session, match, kinds, wanted + len(seen), below=int(cut))
            found += [hit for hit in rest if hit[0] not in seen][: wanted - len(found)]
        return found[offset:]

    def counts(self, session: Session, query: q.ParsedQuery) -> dict[str, int]:
        rows = session.execute(text(f"SELECT rowid >> {KIND_SHIFT}, count(*) FROM search_fts "
                                    "WHERE search_fts MATCH :match GROUP BY 1"), {"match": query.fts5()})
        by_code = {kind.code: kind.value for kind in SearchKind}
        return {by_code[int(code)]: int(n) for code, n in rows if int(code) in by_code}


class _PostgreSQL(_Engine):
    # 'simple': no stemming and no stop words, like FTS5's unicode61. Infrastructure text is names
    # (hosts, services, flags) that an English stemmer would mangle, and both engines then agree.
    upsert_sql = text(
        f"INSERT INTO search_documents ({', '.join(_COLUMNS)}, tsv) "
        f"VALUES ({', '.join(':' + c for c in _COLUMNS)}, "
        "setweight(to_tsvector('simple', :title_words), 'A') || setweight(to_tsvector('simple', :body_words), 'B')) "
        f"ON CONFLICT (kind, key) DO UPDATE SET {_UPDATES}, tsv = excluded.tsv")

    def params(self, row: Row) -> dict[str, Any]:
        values = super().params(row)
        values["title_words"] = q.index_words(row.title)
        values["body_words"] = q.index_words(row.body)
        return values

    def ranked(self, session: Session, query: q.ParsedQuery, kinds: list[str] | None, limit: int,
               offset: int) -> list[tuple[int, float]]:
        where, params = (" AND kind IN :kinds", {"kinds": kinds}) if kinds else ("", {})
        # ts_rank_cd normalisation 32 maps the rank into 0..1; a title holding every word adds 1.
        statement = text(
            "SELECT id, (CASE WHEN tsv @@ to_tsquery('simple', :title_query) THEN 1.0 ELSE 0.0 END"
            " + ts_rank_cd(tsv, to_tsquery('simple', :query), 32)) AS score "
            f"FROM search_documents WHERE tsv @@ to_tsquery('simple', :query){where} "
            "ORDER BY score DESC, id LIMIT :limit OFFSET :offset")
        if kinds:
            statement = statement.bindparams(bindparam("kinds", expanding=True))
        rows = session.execute(statement, {"query": query.tsquery(), "title_query": query.tsquery(weight="A"),
                                           "limit": limit, "offset": offset, **params})
        return [(int(r[0]), float(r[1])) for r in rows]

    def counts(self, session: Session, query: q.ParsedQuery) -> dict[str, int]:
        rows = session.execute(text(
            "SELECT kind, count(*) FROM search_documents WHERE tsv @@ to_tsquery('simple', :query) GROUP BY kind"),
            {"query": query.tsquery()})
        return {str(r[0]): int(r[1]) for r in rows}


_ENGINES: dict[str, _Engine] = {"sqlite": _SQLite(), "postgresql": _PostgreSQL()}


def _engine(session: Session) -> _Engine:
    name = session.get_bind().dialect.name
    try:
        return _ENGINES[name]
    except KeyError:  # pragma: no cover - Calcifer runs on these two
        raise RuntimeError(f"search does not support the {name} database") from None


# -- writing the index --------------------------------------------------------------------------------


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


def _sync_rows(session: Session, engine: _Engine, kind: str, rows: Iterable[Row], tally: _Tally) -> None:
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


def _doc_blobs(repo: pygit2.Repository, tree: pygit2.Tree) -> dict[str, str]:
    """``{path: blob id}`` of every ``docs/**.md`` in ``tree`` (templates excluded)."""
    found: dict[str, str] = {}
    try:
        entry = tree[DOCS_DIR]
    except (KeyError, ValueError):
        return found
    stack: list[tuple[str, pygit2.Object]] = [(DOCS_DIR, repo[entry.id])]
    while stack:
        prefix, node = stack.pop()
        if not isinstance(node, pygit2.Tree) or prefix == DOC_TEMPLATES_DIR:
            continue
        for item in node:
            name = item.name or ""
            path = f"{prefix}/{name}"
            if item.type_str == "tree":
                stack.append((path, repo[item.id]))
            elif item.type_str == "blob" and name.endswith(DOC_SUFFIX):
                found[path] = str(item.id)
    return found


def _sync_docs(session: Session, engine: _Engine, repo: pygit2.Repository, tree: pygit2.Tree,
               tally: _Tally) -> None:
    """Incremental by blob id: only docs whose blob changed are read from git and written."""
    blobs = _doc_blobs(repo, tree)
    stored = _versions(session, SearchKind.DOC.value)
    changed = [path for path, blob_id in blobs.items() if stored.get(path) != blob_id and len(path) <= MAX_KEY_CHARS]
    for start in range(0, len(changed), BATCH):
        rows = []
        for path in changed[start:start + BATCH]:
            blob = repo[blobs[path]]
            rows.append(_doc_row(path, blob.data if isinstance(blob, pygit2.Blob) else b"", blobs[path]))
        engine.upsert(session, rows)
        tally.upserted += len(rows)
    tally.removed += _remove(session, SearchKind.DOC.value, [path for path in stored if path not in blobs])


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


def refresh(*, session: Session, repo_path: Path, work_items: bool = True, force: bool = False) -> RefreshResult:
    """Bring the index up to date with main, the catalog index and (``work_items``) every work item.

    Reads only what changed since the last refresh (``force`` re-reads everything). Commits.
    Raises NotFound when there is no repository or no main.
    """
    started = time.perf_counter()
    engine = _engine(session)
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
            _sync_docs(session, engine, repo, commit.tree, tally)
            try:
                changelog_blob = str(commit.tree[CHANGELOG_PATH].id)
            except (KeyError, ValueError):
                changelog_blob = ""
            if changelog_blob != state.changelog_blob:
                blob = repo[changelog_blob] if changelog_blob else None
                text_ = blob.data.decode("utf-8", "replace") if isinstance(blob, pygit2.Blob) else ""
                _sync_rows(session, engine, SearchKind.CHANGELOG.value, _changelog_rows(text_), tally)
                state.changelog_blob = changelog_blob
            state.main_commit = commit_id
        catalog_state = catalog_index.get_state(session=session)
        catalog_commit = catalog_state.synced_commit if catalog_state is not None else ""
        if catalog_commit != state.catalog_commit:
            skipped = False
            _sync_rows(session, engine, SearchKind.SERVICE.value, _service_rows(session), tally)
            _sync_rows(session, engine, SearchKind.ENDPOINT.value, _endpoint_rows(session), tally)
            state.catalog_commit = catalog_commit
        if work_items:
            _sync_rows(session, engine, SearchKind.WORK_ITEM.value, _work_item_rows(session), tally)
            skipped = skipped and not tally.upserted and not tally.removed
        duration_ms = int((time.perf_counter() - started) * 1000)
        if not skipped:
            state.refreshed_at = utcnow()
            state.duration_ms = duration_ms
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return RefreshResult(main_commit=commit_id, upserted=tally.upserted, removed=tally.removed,
                         duration_ms=duration_ms, skipped=skipped)


def get_state(*, session: Session) -> SearchState | None:
    """What the index mirrors (commits, time, duration), or None before the first refresh."""
    state = session.get(SearchState, STATE_ID)
    return state if state is not None and state.refreshed_at is not None else None


@work_service.on_main_changed
def refresh_after_merge(*, session: Session, repo_path: Path) -> None:
    """Re-index what a merge changed on main (docs, CHANGES.md) and in the catalog index."""
    result = refresh(session=session, repo_path=repo_path, work_items=False)
    log.info("search index refreshed at %s: %s written, %s removed (%s ms)", result.main_commit[:10],
             result.upserted, result.removed, result.duration_ms)


@work_service.on_work_item_changed
def index_work_item(*, session: Session, item: WorkItem) -> None:
    """Write the work item's row (title, description, notes, branch) at once. Commits."""
    try:
        _engine(session).upsert(session, [work_item_row(item)])
        session.commit()
    except BaseException:
        session.rollback()
        raise


# -- searching ----------------------------------------------------------------------------------------


def parse_kinds(value: str | Iterable[str] | None) -> list[str] | None:
    """``"doc,service"`` (or a list) → the kinds; None for all. Raises Invalid naming the valid ones."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    kinds: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        try:
            kind = SearchKind(part).value
        except ValueError:
            choices = ", ".join(k.value for k in SearchKind)
            raise Invalid(f"Unknown kind {part[:40]!r}; use one of {choices}.", code="bad_kind",
                          details=[{"field": "kind", "message": f"one of {choices}"}]) from None
        if kind not in kinds:
            kinds.append(kind)
    return kinds or None


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 6 or int(cursor) > MAX_OFFSET:
        raise Invalid("The cursor is not one this search gave out; start again without it.", code="bad_cursor")
    return int(cursor)


def search(*, session: Session, text_query: str | None, kinds: list[str] | None = None, limit: int = 20,
           cursor: str | None = None, with_counts: bool = True, snippet_chars: int = q.SNIPPET_CHARS) -> SearchResults:
    """Ranked matches of ``text_query`` (see ``query`` for its rules), best first, a page at a time.

    Each hit has an escaped, <mark>-highlighted title and snippet. ``counts`` (with ``with_counts``)
    holds the number of matches by kind, without the kind filter; ``total`` the number with it.
    Empty text gives no results. Raises Invalid for text that is too long, too many words, an unknown
    kind or a foreign cursor.
    """
    parsed = q.parse(text_query)
    results = SearchResults(query=parsed)
    if parsed.empty:
        return results
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = _offset(cursor)
    engine = _engine(session)
    ranked = engine.ranked(session, parsed, kinds, limit + 1, offset)
    if len(ranked) > limit:
        ranked = ranked[:limit]
        results.next_cursor = str(offset + limit)
    if with_counts:
        results.counts = engine.counts(session, parsed)
        results.total = sum(n for kind, n in results.counts.items() if not kinds or kind in kinds)
    else:
        results.total = offset + len(ranked)
    if not ranked:
        return results
    ids = [row_id for row_id, _ in ranked]
    rows = {r.id: r for r in session.scalars(select(SearchDocument).where(SearchDocument.id.in_(ids)))}
    for row_id, score in ranked:
        row = rows.get(row_id)
        if row is None:  # removed between the two queries
            continue
        results.items.append(Hit(kind=row.kind, key=row.key, title=row.title, url=row.url, meta=row.meta,
                                 score=round(score, 6), title_html=q.highlight(row.title, parsed),
                                 snippet=q.snippet(row.body, parsed, width=snippet_chars)))
    return results

