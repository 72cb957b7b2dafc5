"""The two engines' full-text search: writing rows, ranking and counting matches.

The engine's own full-text index follows the rows: FTS5 on SQLite (triggers), a weighted tsvector on
PostgreSQL (written with the row). Both see the same words (``query.index_words``/``query.parse``),
so a search finds the same rows on both engines.

Ranking: a match in the title counts far more than one in the body. SQLite orders by FTS5's bm25 with
the title column weighted 10 to the body's 1. PostgreSQL orders by ``ts_rank_cd`` (title weight A,
body B; normalised to 0..1) plus 1 when every word is in the title, so a title match comes first.
Both bound the ranking work for words found in thousands of rows (see ``_SQLite.ranked``). On both,
changelog entries and generated work logs (``DEMOTED_KINDS``) come after every other match.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from calcifer.docs.worklog import WORK_LOG_DIR
from calcifer.search import query as q
from calcifer.search.choices import KIND_SHIFT, SearchKind
from calcifer.search.rows import Row

# Ranked after every other match, whatever their text: entries of CHANGES.md, and the work logs that
# completing a work item writes (docs/work-log/...). A hand-written doc whose title matches comes first.
DEMOTED_KINDS = (SearchKind.CHANGELOG.value,)
WORK_LOG_PREFIX = WORK_LOG_DIR + "/"
RANK_ALL = 2_000  # SQLite: up to this many matches are all ranked (see _SQLite.ranked)
RANK_ALL_PG = 200  # PostgreSQL: the same (its ranking reads each row's whole tsvector)
BATCH = 500

_COLUMNS = ("kind", "key", "title", "url", "meta", "version", "body")
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])


class Engine:
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


class _SQLite(Engine):
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


class _PostgreSQL(Engine):
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


_ENGINES: dict[str, Engine] = {"sqlite": _SQLite(), "postgresql": _PostgreSQL()}


def engine_for(session: Session) -> Engine:
    name = session.get_bind().dialect.name
    try:
        return _ENGINES[name]
    except KeyError:  # pragma: no cover - Calcifer runs on these two
        raise RuntimeError(f"search does not support the {name} database") from None
