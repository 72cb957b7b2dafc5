"""The search index and the queries on it.

One row per searchable thing in ``search_documents`` (see ``models``): docs (``docs/**.md`` on main),
services and endpoints (from the catalog index), work items and CHANGES.md entries on main. The
engine's own full-text index follows the rows: FTS5 on SQLite (triggers), a weighted tsvector on
PostgreSQL (written with the row). Both see the same words (``query.index_words``/``query.parse``),
so a search finds the same rows on both engines.

Ranking: a match in the title counts far more than one in the body. SQLite orders by FTS5's bm25 with
the title column weighted 10 to the body's 1. PostgreSQL orders by ``ts_rank_cd`` (title weight A,
body B; normalised to 0..1) plus 1 when every word is in the title, so a title match comes first.
Both bound the ranking work for words found in thousands of rows (see ``_SQLite.ranked``). On both,
changelog entries and generated work logs (``DEMOTED_KINDS``) come after every other match.

Kept current: ``refresh`` at start (``instance.prepare``) and after every merge (``refresh_after_merge``,
listed after the catalog's sync in ``calcifer.wiring``, which hands it the catalog rows it rewrote) reads
only what changed: docs whose blob id differs, the CHANGES.md blocks (date and type) that differ from
the indexed version, the services and endpoints whose file changed in the catalog index. ``index_work_item`` runs on
every work-item change (a work-item hook listed in ``calcifer.wiring``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.orm import Session

from calcifer.catalog import index as catalog_index
from calcifer.catalog.models import CatalogEndpoint, CatalogService
from calcifer.changelog import service as changelog
from calcifer.db import utcnow
from calcifer.docs.worklog import WORK_LOG_DIR
from calcifer.errors import Invalid
from calcifer.events import CatalogChanged, MainMoved
from calcifer.gitrepo import MAIN, Blob, Commit, GitError, GitObject, Repository, Tree, open_repo, resolve_commit
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
# Ranked after every other match, whatever their text: entries of CHANGES.md, and the work logs that
# completing a work item writes (docs/work-log/...). A hand-written doc whose title matches comes first.
DEMOTED_KINDS = (SearchKind.CHANGELOG.value,)
WORK_LOG_PREFIX = WORK_LOG_DIR + "/"
RANK_ALL = 2_000  # SQLite: up to this many matches are all ranked (see _SQLite.ranked)
RANK_ALL_PG = 200  # PostgreSQL: the same (its ranking reads each row's whole tsvector)
BATCH = 500
ANALYZE_AFTER = 1_000  # rows written or removed by one refresh
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
# The same rules as the docs slice's render.doc_title (front matter, first heading, file name), with
# regular expressions: that one parses the whole document with markdown-it, ~3 ms a doc here, which
# alone would take 30 s for 10,000 docs. Same titles on the bench's docs; a doc's page shows the
# docs slice's own.

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FM_TITLE = re.compile(r"^title[ \t]*:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```+|~~~+)")
_BLOCK_START = re.compile(r"^(?: {4}| {0,3}(?:[-*+>]|\d{1,9}[.)])(?:\s|$))")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1")
_SINGLE_EMPHASIS = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])")
_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")
# Block syntax at a line's start that a reader never sees: quote marks, list bullets and numbers, task
# boxes, GitHub alert markers ("> [!NOTE]").
_LINE_MARKS = re.compile(r"^[ \t]*(?:>[ \t]?)*[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:\[[ xX]\][ \t]+)?"
                         r"(?:\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\][ \t]*)?", re.IGNORECASE)
_THEMATIC_BREAK = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S")
_REFERENCE_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]\s]+\]")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_TABLE_PIPE = re.compile(r"[ \t]*(?<!\\)\|[ \t]*")


def split_front_matter(text: str) -> tuple[str, str]:
    """(front matter, the rest) of a markdown text; front matter "" when there is none."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    return match.group(1), text[match.end():]


def _inline_plain(text: str) -> str:
    """One line of markdown as text: images, links, emphasis and code marks removed."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _SINGLE_EMPHASIS.sub(r"\2", text)
    return " ".join(text.replace("`", "").split())


def doc_title(text: str, *, doc_path: str) -> str:
    """The front matter's ``title``, else the first heading, else the file name."""
    front, body = split_front_matter(text)
    match = _FM_TITLE.search(front)
    if match:
        title = match.group(1).strip().strip("\"'").strip()
        if title:
            return title[:300]
    fence: str | None = None
    html = False  # inside an HTML block: it runs to the next blank line
    paragraph: list[str] = []  # the lines of the paragraph so far (a setext underline makes it a heading)
    for line in body.splitlines():
        opened = _FENCE.match(line)
        if opened and not html:
            marker = opened.group(1)[:3]
            fence = None if fence == marker else (fence or marker)
            paragraph = []
            continue
        if fence:
            continue
        if html or (not paragraph and line.lstrip(" ").startswith("<") and len(line) - len(line.lstrip(" ")) < 4):
            html = bool(line.strip())
            continue
        heading = _ATX.match(line)
        if heading and _inline_plain(heading.group(1)):
            return _inline_plain(heading.group(1))[:300]
        if paragraph and _SETEXT.match(line):
            return _inline_plain(" ".join(paragraph))[:300]
        # Only a paragraph's lines can become a setext heading (not a list item or a quote).
        if line.strip() and not _BLOCK_START.match(line) and not heading:
            paragraph.append(line)
        else:
            paragraph = []
    return doc_path.rsplit("/", 1)[-1]


def plain_text(markdown: str) -> str:
    """Markdown as the text a reader sees (markup removed, HTML kept as text: snippets escape it)."""
    _, body = split_front_matter(markdown)
    lines = []
    fence: str | None = None
    for line in body.splitlines():
        opened = _FENCE.match(line)
        if opened:  # code stays as it is written; only the fence lines go
            marker = opened.group(1)[:3]
            fence = None if fence == marker else (fence or marker)
            continue
        if fence:
            lines.append(line)
            continue
        if (_TABLE_RULE.match(line) or _SETEXT.match(line) or _THEMATIC_BREAK.match(line)
                or _REFERENCE_DEFINITION.match(line)):
            continue
        heading = _ATX.match(line)
        if heading:
            line = heading.group(1)
        line = _LINE_MARKS.sub("", line, count=1)
        if "|" in line:
            line = _TABLE_PIPE.sub(" ", line).strip()
        lines.append(line)
    out = "\n".join(lines)
    out = _IMAGE.sub(r"\1", out)
    out = _LINK.sub(r"\1", out)
    out = _REFERENCE_LINK.sub(r"\1", out)
    out = _FOOTNOTE_REF.sub("", out)
    out = _AUTOLINK.sub(r"\1", out)
    out = _EMPHASIS.sub(r"\2", out)
    out = _SINGLE_EMPHASIS.sub(r"\2", out)
    return out.replace("`", "")


def doc_url(path: str) -> str:
    """Where the docs slice shows the doc at ``path`` (``docs/...``)."""
    return "/docs/view/" + quote(path, safe="/")


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
    return _changelog_rows_of(changelog.parse(text).entries)


def _changelog_rows_of(entries: Iterable[changelog.Entry]) -> list[Row]:
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for entry in entries:
        heading = entry.heading_key or "Note"
        digest = hashlib.sha1("\x00".join((entry.section, heading, entry.text,
                                           str(entry.work_item_id))).encode(),
                              usedforsecurity=False).hexdigest()[:24]
        seen[digest] = seen.get(digest, 0) + 1
        key = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
        link = f" · #{entry.work_item_id}" if entry.work_item_id is not None else ""
        title = plain_text(entry.text).strip() or heading
        rows.append(Row(kind=SearchKind.CHANGELOG.value, key=key, title=title[:1000],
                        url=f"/work/{entry.work_item_id}" if entry.work_item_id is not None else "/changelog",
                        meta=f"{heading} · {entry.section}{link}"[:500],
                        body=f"{heading} {entry.section}").with_version())
    return rows


def _sync_changelog(session: Session, engine: _Engine, repo: Repository, old_blob: str | None,
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
        _sync_rows(session, engine, SearchKind.CHANGELOG.value, _changelog_rows(text_), tally)
        return
    pending: list[Row] = []
    removed: list[str] = []
    for old_entries, new_entries in blocks:
        before = {row.key: row.version for row in _changelog_rows_of(old_entries)}
        after = _changelog_rows_of(new_entries)
        pending += [row for row in after if before.get(row.key) != row.version]
        kept = {row.key for row in after}
        removed += [key for key in before if key not in kept]
    engine.upsert(session, pending)
    tally.upserted += len(pending)
    tally.removed += _remove(session, SearchKind.CHANGELOG.value, removed)


# A catalog row's search row is a function of its file's path and content: its version says which, so
# only rows whose file changed are built again after a sync. Bump it when the rows below change.
CATALOG_ROWS_VERSION = "c1"


def _service_row(s: Any, version: str = "") -> Row:
    spec = s.spec if isinstance(s.spec, dict) else {}
    notes = spec.get("notes") if isinstance(spec.get("notes"), str) else ""
    urls = " ".join(u for u in spec.get("urls") or [] if isinstance(u, str))
    body = "\n".join(part for part in (
        s.slug, s.description, notes, s.kind, s.host or "", s.status, s.owner or "", " ".join(s.tags),
        " ".join(s.depends_on), urls, s.file) if part)
    meta = " · ".join(part for part in (s.kind, s.status, f"on {s.host}" if s.host else "") if part)
    return Row(kind=SearchKind.SERVICE.value, key=s.slug, title=s.name, url=f"/services/{s.slug}",
               meta=meta, body=body[:MAX_BODY_CHARS], version=version).with_version()


def _endpoint_row(e: Any, version: str = "") -> Row:
    where = e.target or ""
    if e.port:
        where = f"{where} port {e.port}".strip()
    body = "\n".join(part for part in (e.slug, e.service or "", e.type, where, e.file) if part)
    meta = " · ".join(part for part in (e.type, where, f"service {e.service}" if e.service else "")
                      if part)
    return Row(kind=SearchKind.ENDPOINT.value, key=e.slug, title=e.name, url=f"/endpoints/{e.slug}",
               meta=meta[:500], body=body[:MAX_BODY_CHARS], version=version).with_version()


def _sync_catalog_rows(session: Session, engine: _Engine, kind: SearchKind, tally: _Tally,
                       only: frozenset[str] | None = None) -> None:
    """Make the rows of services (or endpoints) match the catalog index, building only those whose
    file (path or content) changed since they were written. ``only``: the slugs the catalog's last
    sync rewrote or removed, when the index mirrors the sync before it (the rest are current)."""
    model: Any = CatalogService if kind is SearchKind.SERVICE else CatalogEndpoint
    build = _service_row if kind is SearchKind.SERVICE else _endpoint_row
    query = select(model.slug, model.blob_id, model.file)
    stored_query = select(SearchDocument.key, SearchDocument.version).where(SearchDocument.kind == kind.value)
    if only is not None:
        if not only:
            return
        query = query.where(model.slug.in_(sorted(only)))
        stored_query = stored_query.where(SearchDocument.key.in_(sorted(only)))
    wanted = {str(slug): hashlib.sha1(f"{CATALOG_ROWS_VERSION}\x00{blob_id}\x00{file}".encode(),
                                      usedforsecurity=False).hexdigest()
              for slug, blob_id, file in session.execute(query)}
    stored = {str(r[0]): str(r[1]) for r in session.execute(stored_query)}
    stale = sorted(slug for slug, version in wanted.items() if stored.get(slug) != version)
    for start in range(0, len(stale), BATCH):
        chunk = stale[start:start + BATCH]
        rows = [build(item, wanted[item.slug]) for item in session.scalars(select(model).where(model.slug.in_(chunk)))]
        engine.upsert(session, rows)
        tally.upserted += len(rows)
    tally.removed += _remove(session, kind.value, [key for key in stored if key not in wanted])


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
        # PostgreSQL text cannot hold NUL; a NUL is no word on either engine.
        return {"kind": row.kind, "key": row.key, "title": row.title.replace("\x00", " "), "url": row.url,
                "meta": row.meta.replace("\x00", " "), "version": row.version, "body": row.body.replace("\x00", " ")}

    def upsert(self, session: Session, rows: list[Row]) -> None:
        for start in range(0, len(rows), BATCH):
            session.execute(self.upsert_sql, [self.params(r) for r in rows[start:start + BATCH]])

    def ranked(self, session: Session, query: q.ParsedQuery, kinds: list[str] | None, limit: int,
               offset: int) -> list[tuple[int, float]]:
        raise NotImplementedError

    def analyze(self, session: Session) -> None:
        """Fresh planner statistics after a large change (a first index of thousands of rows)."""

    @contextmanager
    def querying(self, session: Session) -> Iterator[None]:
        """Around the queries of one search."""
        yield

    def counts(self, session: Session, query: q.ParsedQuery) -> dict[str, int]:
        raise NotImplementedError


class _SQLite(_Engine):
    """FTS5. A row's id is ``kind.code << KIND_SHIFT | n``, so the kind of a match is its rowid's high
    bits: the kind filter and the counts by kind never read a search_documents row per match."""

    # bm25 weights per FTS column: title 10, body 1. bm25 is lower for better matches.
    RANK = "bm25(search_fts, 10.0, 1.0)"
    # 1 for the rows ranked last (see DEMOTED_KINDS), else 0: a row's kind is its rowid's high bits, and
    # only a doc reads its key (a primary-key lookup) to tell a generated work log. Title matches already
    # come first within each tier through the title's weight.
    TIER = (f"(CASE WHEN rowid >> {KIND_SHIFT} IN ({', '.join(str(SearchKind(k).code) for k in DEMOTED_KINDS)}) "
            f"THEN 1 WHEN rowid >> {KIND_SHIFT} = {SearchKind.DOC.code} AND (SELECT key FROM search_documents "
            f"WHERE id = search_fts.rowid) LIKE '{WORK_LOG_PREFIX}%' THEN 1 ELSE 0 END)")
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
            + f" ORDER BY {self.TIER}, rank, rowid LIMIT :limit OFFSET :offset"),
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
            sample = max(RANK_ALL, wanted + len(seen))  # deep pages still find rows they have not shown
            if sample > RANK_ALL:
                cut = session.execute(text(f"SELECT rowid FROM search_fts WHERE search_fts MATCH :match"
                                           f"{self._kinds(kinds)} LIMIT 1 OFFSET :n"),
                                      {"match": match, "n": sample}).scalar()
            rest = self._rank(session, match, kinds, wanted + len(seen), below=None if cut is None else int(cut))
            found += [hit for hit in rest if hit[0] not in seen][: wanted - len(found)]
        return found[offset:]

    def counts(self, session: Session, query: q.ParsedQuery) -> dict[str, int]:
        rows = session.execute(text(f"SELECT rowid >> {KIND_SHIFT}, count(*) FROM search_fts "
                                    "WHERE search_fts MATCH :match GROUP BY 1"), {"match": query.fts5()})
        by_code = {kind.code: kind.value for kind in SearchKind}
        return {by_code[int(code)]: int(n) for code, n in rows if int(code) in by_code}


class _PostgreSQL(_Engine):
    """tsvector: ``tsv`` holds title (weight A) and body (B), ``title_tsv`` the title alone; both
    have a GIN index. ts_rank_cd reads a row's whole tsvector (~10 µs a row here), so like FTS5's
    bm25 it is bounded: past RANK_ALL_PG matches, title matches first, then a sample of RANK_ALL_PG."""

    # 'simple': no stemming and no stop words, like FTS5's unicode61. Infrastructure text is names
    # (hosts, services, flags) that an English stemmer would mangle, and both engines then agree.
    upsert_sql = text(
        f"INSERT INTO search_documents ({', '.join(_COLUMNS)}, tsv, title_tsv) "
        f"VALUES ({', '.join(':' + c for c in _COLUMNS)}, "
        "setweight(to_tsvector('simple', :title_words), 'A') || setweight(to_tsvector('simple', :body_words), 'B'), "
        "to_tsvector('simple', :title_words)) "
        f"ON CONFLICT (kind, key) DO UPDATE SET {_UPDATES}, tsv = excluded.tsv, title_tsv = excluded.title_tsv")
    # ts_rank_cd normalisation 32 maps the rank into 0..1; a title holding every word adds 1; changelog
    # entries and work logs (DEMOTED_KINDS) lose 2, so they come after every other match.
    DEMOTED = (f"(kind IN ({', '.join(repr(k) for k in DEMOTED_KINDS)}) OR "
               f"(kind = '{SearchKind.DOC.value}' AND key LIKE '{WORK_LOG_PREFIX}%'))")
    SCORE = ("(CASE WHEN title_tsv @@ to_tsquery('simple', :query) THEN 1.0 ELSE 0.0 END"
             " + ts_rank_cd(tsv, to_tsquery('simple', :query), 32)"
             f" - CASE WHEN {DEMOTED} THEN 2.0 ELSE 0.0 END)")

    def params(self, row: Row) -> dict[str, Any]:
        values = super().params(row)
        values["title_words"] = q.index_words(row.title)
        values["body_words"] = q.index_words(row.body)
        return values

    @staticmethod
    def _execute(session: Session, sql: str, kinds: list[str] | None, **params: Any) -> Any:
        statement = text(sql.replace("{kinds}", " AND kind IN :kinds" if kinds else ""))
        if kinds:
            statement = statement.bindparams(bindparam("kinds", expanding=True))
            params["kinds"] = kinds
        return session.execute(statement, params)

    def ranked(self, session: Session, query: q.ParsedQuery, kinds: list[str] | None, limit: int,
               offset: int) -> list[tuple[int, float]]:
        tsquery = query.tsquery()
        many = self._execute(session, "SELECT count(*) FROM (SELECT 1 FROM search_documents "
                             "WHERE tsv @@ to_tsquery('simple', :query){kinds} LIMIT :n) AS m", kinds,
                             query=tsquery, n=RANK_ALL_PG + 1).scalar() > RANK_ALL_PG
        if not many:
            rows = self._execute(session, f"SELECT id, {self.SCORE} AS score FROM search_documents "
                                 "WHERE tsv @@ to_tsquery('simple', :query){kinds} "
                                 "ORDER BY score DESC, id LIMIT :limit OFFSET :offset", kinds,
                                 query=tsquery, limit=limit, offset=offset)
            return [(int(r[0]), float(r[1])) for r in rows]
        wanted = offset + limit
        rows = self._execute(session, "SELECT id, 1.0 + ts_rank_cd(title_tsv, to_tsquery('simple', :query), 32) "
                             f"- CASE WHEN {self.DEMOTED} THEN 2.0 ELSE 0.0 END "
                             "AS score FROM search_documents WHERE title_tsv @@ to_tsquery('simple', :query){kinds} "
                             "ORDER BY score DESC, id LIMIT :limit", kinds, query=tsquery, limit=wanted)
        found = [(int(r[0]), float(r[1])) for r in rows]
        if len(found) < wanted:
            seen = {row_id for row_id, _ in found}
            rows = self._execute(session, "SELECT id, ts_rank_cd(tsv, to_tsquery('simple', :query), 32) "
                                 f"- CASE WHEN {self.DEMOTED} THEN 2.0 ELSE 0.0 END AS score "
                                 "FROM (SELECT id, tsv, kind, key FROM search_documents "
                                 "WHERE tsv @@ to_tsquery('simple', :query)"
                                 "{kinds} LIMIT :n) AS sample ORDER BY score DESC, id LIMIT :limit", kinds,
                                 query=tsquery, n=max(RANK_ALL_PG, wanted + len(seen)), limit=wanted + len(seen))
            found += [hit for hit in ((int(r[0]), float(r[1])) for r in rows) if hit[0] not in seen][
                : wanted - len(found)]
        return found[offset:]

    @contextmanager
    def querying(self, session: Session) -> Iterator[None]:
        # The planner costs `tsv @@ query` at almost nothing a row, so for a word in half the rows it
        # picks a sequential scan, which decompresses every row's tsvector (45 ms for 10,000 docs
        # here) where the GIN index answers in a few. Index scans only, for these queries alone.
        previous = session.execute(text("SELECT current_setting('enable_seqscan')")).scalar()
        session.execute(text("SELECT set_config('enable_seqscan', 'off', true)"))
        try:
            yield
        finally:
            session.execute(text("SELECT set_config('enable_seqscan', :previous, true)"), {"previous": previous})

    def analyze(self, session: Session) -> None:
        # Without statistics the planner guesses one match for every query; autovacuum comes later.
        session.execute(text("ANALYZE search_documents"))
        session.commit()

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


def _doc_blobs(repo: Repository, tree: Tree) -> dict[str, str]:
    """``{path: blob id}`` of every ``docs/**.md`` in ``tree`` (templates excluded)."""
    found: dict[str, str] = {}
    try:
        entry = tree[DOCS_DIR]
    except (KeyError, ValueError):
        return found
    stack: list[tuple[str, GitObject]] = [(DOCS_DIR, repo[entry.id])]
    while stack:
        prefix, node = stack.pop()
        if not isinstance(node, Tree) or prefix == DOC_TEMPLATES_DIR:
            continue
        for item in node:
            name = item.name or ""
            path = f"{prefix}/{name}"
            if item.type_str == "tree":
                stack.append((path, repo[item.id]))
            elif item.type_str == "blob" and item.filemode in _FILE_MODES and _is_doc(path):
                found[path] = str(item.id)
    return found


_FILE_MODES = (0o100644, 0o100755)  # regular files: a symlink's blob is its target, not a doc


def _is_doc(path: str) -> bool:
    return (path.startswith(DOCS_DIR + "/") and path.endswith(DOC_SUFFIX)
            and not path.startswith(DOC_TEMPLATES_DIR + "/") and len(path) <= MAX_KEY_CHARS)


def _changed_docs(repo: Repository, old: Tree, new: Tree) -> tuple[dict[str, str], set[str]]:
    """({path: new blob id} of docs added or changed, paths of docs removed) from ``old`` to ``new``.

    A walk of the two docs/ trees side by side: a folder with the same tree id on both sides is
    skipped without being read, so a merge costs what it changed (a whole-tree diff of libgit2 visits
    every entry of the repository: ~8 ms at 10,000 files).
    """
    changed: dict[str, str] = {}
    removed: set[str] = set()
    stack: list[tuple[str, GitObject | None, GitObject | None]] = [
        (DOCS_DIR, _subtree(repo, old, DOCS_DIR), _subtree(repo, new, DOCS_DIR))]
    while stack:
        prefix, before, after = stack.pop()
        if prefix == DOC_TEMPLATES_DIR:
            continue
        old_items = {item.name or "": item for item in before} if isinstance(before, Tree) else {}
        new_items = {item.name or "": item for item in after} if isinstance(after, Tree) else {}
        for name in old_items.keys() | new_items.keys():
            a, b = old_items.get(name), new_items.get(name)
            if a is not None and b is not None and a.id == b.id and a.filemode == b.filemode:
                continue
            path = f"{prefix}/{name}"
            a_tree = a is not None and a.type_str == "tree"
            b_tree = b is not None and b.type_str == "tree"
            if a_tree or b_tree:
                stack.append((path, repo[a.id] if a_tree and a is not None else None,
                              repo[b.id] if b_tree and b is not None else None))
            if a is not None and not a_tree and _is_doc(path):
                removed.add(path)
            if b is not None and not b_tree and b.type_str == "blob" and b.filemode in _FILE_MODES \
                    and _is_doc(path):
                changed[path] = str(b.id)
                removed.discard(path)
    return changed, removed


def _subtree(repo: Repository, tree: Tree, path: str) -> GitObject | None:
    try:
        entry = tree[path]
    except (KeyError, ValueError):
        return None
    node = repo[entry.id]
    return node if isinstance(node, Tree) else None


def _sync_docs(session: Session, engine: _Engine, repo: Repository, tree: Tree,
               previous: Tree | None, tally: _Tally) -> None:
    """Incremental by blob id: only docs whose blob changed are read from git and written.

    From ``previous`` (the tree the index mirrors) a tree diff finds them; without it every doc's
    blob id is compared with the one its row was built from.
    """
    if previous is not None:
        changed, removed = _changed_docs(repo, previous, tree)
    else:
        blobs = _doc_blobs(repo, tree)
        stored = _versions(session, SearchKind.DOC.value)
        changed = {path: blob_id for path, blob_id in blobs.items() if stored.get(path) != blob_id}
        removed = {path for path in stored if path not in blobs}
    paths = sorted(changed)
    for start in range(0, len(paths), BATCH):
        rows = []
        for path in paths[start:start + BATCH]:
            blob = repo[changed[path]]
            rows.append(_doc_row(path, blob.data if isinstance(blob, Blob) else b"", changed[path]))
        engine.upsert(session, rows)
        tally.upserted += len(rows)
    tally.removed += _remove(session, SearchKind.DOC.value, sorted(removed))


def _tree_of(repo: Repository, commit_id: str | None) -> Tree | None:
    """The tree of an indexed commit, or None when there is none (first run, forced, history rewritten)."""
    if not commit_id:
        return None
    try:
        return repo[commit_id].peel(Commit).tree
    except (KeyError, ValueError, GitError):
        return None


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
            _sync_docs(session, engine, repo, commit.tree, _tree_of(repo, state.main_commit), tally)
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
            _sync_rows(session, engine, SearchKind.WORK_ITEM.value, _work_item_rows(session), tally)
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
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 6 or int(cursor) > MAX_OFFSET:
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
    with engine.querying(session):
        ranked = engine.ranked(session, parsed, kinds, limit + 1, offset)
        if with_counts:
            results.counts = engine.counts(session, parsed)
    if len(ranked) > limit:
        ranked = ranked[:limit]
        results.next_cursor = str(offset + limit)
    if with_counts:
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

