"""Searching the index: ranked matches of a person's words, a page at a time, highlighted.

The index (``models``) holds one row per searchable thing: docs (``docs/**.md`` on main), services and
endpoints (from the catalog index), work items and CHANGES.md entries on main. ``index_sync`` keeps it
current, ``engines`` ranks and counts on SQLite (FTS5) or PostgreSQL (tsvector), ``query`` turns the
search box's text into a safe engine query and highlights what matched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.errors import Invalid
from calcifer.search import query as q
from calcifer.search.choices import SearchKind
from calcifer.search.engines import engine_for
from calcifer.search.models import SearchDocument

MAX_LIMIT = 100
MAX_OFFSET = 1000


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
    engine = engine_for(session)
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

