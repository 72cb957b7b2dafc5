"""Keeping the index current: incremental by blob id, rebuilt at start, all-or-nothing, consistent."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from sqlalchemy import delete, text, update

from calcifer.app import prepare
from calcifer.config import Settings
from calcifer.search import index_sync, service
from calcifer.search import rows as search_rows
from calcifer.search.models import SearchDocument, SearchState
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.search.helpers import WORK_LOG, keys, land
from tests.work.helpers import make_work_item


def _commit_on_main(repo_path: Path, files: dict[str, bytes]) -> None:
    """A commit made outside Calcifer (a push to an adopted repository, say)."""
    repo = pygit2.Repository(str(repo_path))
    parent = repo.revparse_single("refs/heads/main").peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(repo)
    signature = pygit2.Signature("Outside", "outside@example.com")
    repo.create_commit("refs/heads/main", signature, signature, "Outside change", tree, [parent.id])


def test_a_merge_reads_only_the_docs_whose_blob_changed(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    land(cast.editor, {f"docs/d{n}.md": f"# D{n}\n\nunchanged {n}\n" for n in range(5)})
    read: list[str] = []
    original = search_rows.doc_row

    def counting(path: str, data: bytes, blob_id: str) -> search_rows.Row:
        read.append(path)
        return original(path, data, blob_id)

    monkeypatch.setattr(search_rows, "doc_row", counting)
    land(cast.editor, {"docs/d3.md": "# D3\n\nchanged to gecko\n"}, title="Edit d3", entry="Edited d3")
    assert [p for p in read if not p.startswith(WORK_LOG)] == ["docs/d3.md"]
    assert keys(cast.viewer, "gecko") == [("doc", "docs/d3.md")]


def test_a_refresh_without_changes_does_nothing(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        result = index_sync.refresh(session=session, repo_path=ctx.repo_path)
        assert result.skipped and result.upserted == 0 and result.removed == 0
        assert index_sync.get_state(session=session) is not None


def test_the_index_is_brought_up_to_date_at_start(settings: Settings, ctx: AppContext) -> None:
    _commit_on_main(ctx.repo_path, {"docs/outside.md": b"# Pushed from outside\n\nA heliotrope note.\n"})
    with ctx.session_factory() as session:
        assert service.search(session=session, text_query="heliotrope").items == []
    again = prepare(settings)
    try:
        with again.session_factory() as session:
            hits = service.search(session=session, text_query="heliotrope").items
            assert [(h.kind, h.key) for h in hits] == [("doc", "docs/outside.md")]
    finally:
        again.engine.dispose()


def test_a_lost_index_is_rebuilt_by_a_forced_refresh(ctx: AppContext, cast: Cast) -> None:
    land(cast.editor, {"docs/kiwi.md": "# Kiwi\n\nberries\n"})
    make_work_item(cast.editor, title="Prune the kiwi")
    with ctx.session_factory() as session:
        session.execute(delete(SearchDocument))
        session.commit()
        assert service.search(session=session, text_query="kiwi").items == []
        result = index_sync.refresh(session=session, repo_path=ctx.repo_path, force=True)
        assert result.upserted >= 3 and not result.skipped
    assert {("doc", "docs/kiwi.md"), ("work_item", "2")} <= set(keys(cast.viewer, "kiwi"))


def test_a_failed_refresh_leaves_the_index_as_it_was(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    _commit_on_main(ctx.repo_path, {"docs/a.md": b"# A\n\nalpaca\n", "docs/b.md": b"# B\n\nbison\n"})

    def broken(path: str, data: bytes, blob_id: str) -> search_rows.Row:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(search_rows, "doc_row", broken)
    with ctx.session_factory() as session:
        before = session.get(SearchState, 1)
        assert before is not None
        commit_before = before.main_commit
        with pytest.raises(RuntimeError):
            index_sync.refresh(session=session, repo_path=ctx.repo_path)
    with ctx.session_factory() as session:
        state = session.get(SearchState, 1)
        assert state is not None and state.main_commit == commit_before
        assert service.search(session=session, text_query="alpaca").items == []
    monkeypatch.undo()
    with ctx.session_factory() as session:
        index_sync.refresh(session=session, repo_path=ctx.repo_path)
        assert [h.key for h in service.search(session=session, text_query="alpaca").items] == ["docs/a.md"]


def test_a_cancelled_work_item_stays_findable_with_its_status(cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Try the puffin idea")
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}").status_code == 200
    hits = cast.viewer.get("/api/v1/search", params={"q": "puffin"}).json()["items"]
    assert [h["key"] for h in hits] == [str(item["id"])] and "cancelled" in hits[0]["meta"]


def test_the_full_text_index_matches_its_rows_after_many_changes(ctx: AppContext, cast: Cast) -> None:
    land(cast.editor, {f"docs/x{n}.md": f"# X{n}\n\nversion one {n}\n" for n in range(6)})
    land(cast.editor, {"docs/x1.md": "# X1\n\nversion two\n", "docs/x2.md": None, "docs/x9.md": "# X9\n\nnew\n"},
         title="Shuffle", entry="Shuffled pages")
    item = make_work_item(cast.editor, title="Churn")
    for n in range(3):
        cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"notes": f"round {n}"})
    with ctx.session_factory() as session:
        if session.get_bind().dialect.name == "sqlite":
            # FTS5 checks that its index holds exactly the tokens of the content table's rows.
            session.execute(text("INSERT INTO search_fts(search_fts, rank) VALUES ('integrity-check', 1)"))
        else:
            stale = session.execute(text(
                "SELECT count(*) FROM search_documents WHERE tsv = ''::tsvector AND title <> ''")).scalar()
            assert stale == 0
    assert sorted(keys(cast.viewer, '"version one"', kind="doc")) == [("doc", f"docs/x{n}.md") for n in (0, 3, 4, 5)]
    assert keys(cast.viewer, "round 2") == [("work_item", str(item["id"]))]


def test_versions_make_unchanged_rows_skip_rewrites(ctx: AppContext, cast: Cast) -> None:
    make_work_item(cast.editor, title="Steady")
    with ctx.session_factory() as session:
        session.execute(update(SearchState).values(catalog_commit="stale"))
        session.commit()
        result = index_sync.refresh(session=session, repo_path=ctx.repo_path)
        assert result.upserted == 0 and result.removed == 0


def test_renames_deletes_and_symlinks_follow_main(ctx: AppContext) -> None:
    _commit_on_main(ctx.repo_path, {"docs/old/name.md": b"# Quail\n\nnotes\n", "docs/keep.md": b"# Keep\n\nquail\n"})
    with ctx.session_factory() as session:
        index_sync.refresh(session=session, repo_path=ctx.repo_path)
        assert sorted(h.key for h in service.search(session=session, text_query="quail").items) == [
            "docs/keep.md", "docs/old/name.md"]
    repo = pygit2.Repository(str(ctx.repo_path))
    parent = repo.revparse_single("refs/heads/main").peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    moved = index["docs/old/name.md"]
    index.remove("docs/old/name.md")
    index.add(pygit2.IndexEntry("docs/new/name.md", moved.id, pygit2.enums.FileMode.BLOB))
    index.add(pygit2.IndexEntry("docs/link.md", repo.create_blob(b"keep.md"), pygit2.enums.FileMode.LINK))
    index.remove("docs/keep.md")
    signature = pygit2.Signature("Outside", "outside@example.com")
    repo.create_commit("refs/heads/main", signature, signature, "Move", index.write_tree(repo), [parent.id])
    with ctx.session_factory() as session:
        index_sync.refresh(session=session, repo_path=ctx.repo_path)
        assert [h.key for h in service.search(session=session, text_query="quail").items] == ["docs/new/name.md"]
        assert service.search(session=session, text_query="keep").items == []


def test_a_lost_base_commit_falls_back_to_comparing_every_blob(ctx: AppContext) -> None:
    _commit_on_main(ctx.repo_path, {"docs/a.md": b"# A\n\nemu\n"})
    with ctx.session_factory() as session:
        index_sync.refresh(session=session, repo_path=ctx.repo_path)
        session.execute(update(SearchState).values(main_commit="0" * 40))
        session.commit()
    _commit_on_main(ctx.repo_path, {"docs/a.md": b"# A\n\nyak\n"})
    with ctx.session_factory() as session:
        result = index_sync.refresh(session=session, repo_path=ctx.repo_path)
        assert result.upserted == 1
        assert [h.key for h in service.search(session=session, text_query="yak").items] == ["docs/a.md"]
        assert service.search(session=session, text_query="emu").items == []


def test_binary_junk_and_nul_bytes_in_a_doc_are_indexed_as_text(ctx: AppContext) -> None:
    _commit_on_main(ctx.repo_path, {"docs/junk.md": b"# Junk \x00 title\n\nokapi\x00zebra \xff\xfe caf\xc3\xa9\n"})
    with ctx.session_factory() as session:
        index_sync.refresh(session=session, repo_path=ctx.repo_path)
        hits = service.search(session=session, text_query="okapi").items
        assert [h.key for h in hits] == ["docs/junk.md"]
        assert "\x00" not in str(hits[0].snippet)
        assert [h.key for h in service.search(session=session, text_query="zebra café").items] == ["docs/junk.md"]
