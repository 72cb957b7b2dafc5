"""After a merge, only the CHANGES.md blocks and catalog rows that changed are rebuilt, and the index ends
exactly as a forced refresh leaves it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from calcifer.catalog import index as catalog_index
from calcifer.search import index_sync
from calcifer.search import rows as search_rows
from calcifer.search.models import SearchDocument
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.search.helpers import land


def rows(ctx: AppContext) -> list[tuple[Any, ...]]:
    with ctx.session_factory() as session:
        return [(r.kind, r.key, r.title, r.url, r.meta, r.body) for r in session.scalars(
            select(SearchDocument).where(SearchDocument.kind.in_(("changelog", "service", "endpoint")))
            .order_by(SearchDocument.kind, SearchDocument.key))]


def forced(ctx: AppContext) -> list[tuple[Any, ...]]:
    with ctx.session_factory() as session:
        index_sync.refresh(session=session, repo_path=ctx.repo_path, force=True)
    return rows(ctx)


SVC = "name: {name}\nslug: {slug}\nkind: container\ndescription: {text}\n"


def test_merges_update_changelog_and_catalog_rows_as_a_full_rebuild_would(
        ctx: AppContext, cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    land(cast.editor, {"catalog/services/kiwi.yaml": SVC.format(name="Kiwi", slug="kiwi", text="berries"),
                       "catalog/endpoints/kiwi-web.yaml": "name: Kiwi web\nslug: kiwi-web\nservice: kiwi\n"
                       "type: http\ntarget: https://kiwi.example.org\n"},
         entry="Added the kiwi service")
    assert rows(ctx) == forced(ctx)

    built: list[str] = []
    for name in ("service_row", "endpoint_row"):
        original = getattr(search_rows, name)

        def spy(item: Any, version: str = "", _original: Any = original) -> Any:
            built.append(item.slug)
            return _original(item, version)
        monkeypatch.setattr(search_rows, name, spy)
    full_parses: list[int] = []
    original_rows = search_rows.changelog_rows
    monkeypatch.setattr(search_rows, "changelog_rows", lambda text: full_parses.append(1) or original_rows(text))

    land(cast.editor, {"catalog/services/plum.yaml": SVC.format(name="Plum", slug="plum", text="stones"),
                       "catalog/endpoints/kiwi-web.yaml": None}, entry="Added plum, removed the kiwi check",
         entry_type="Changed")
    assert built == ["plum"]  # kiwi's file did not change; its row was not built again
    assert full_parses == []  # CHANGES.md compared block by block
    incremental = rows(ctx)
    assert ("endpoint", "kiwi-web") not in [(r[0], r[1]) for r in incremental]
    assert "Added plum, removed the kiwi check" in [r[2] for r in incremental]
    assert incremental == forced(ctx)

    built.clear()
    land(cast.editor, {"catalog/services/kiwi.yaml": SVC.format(name="Kiwi", slug="kiwi", text="gold")},
         entry="Kiwi turned gold", entry_type="Fixed")
    assert built == ["kiwi"]
    with ctx.session_factory() as session:
        state = catalog_index.get_state(session=session)
        assert state is not None and state.services == 2
    assert rows(ctx) == forced(ctx)
