"""A work item's commits and uncommitted changes, and the checklist templates, page by cursor like every list."""

from __future__ import annotations

import html
import re

import pytest

from calcifer.work import routes as work_routes
from tests.conftest import Cast
from tests.paging import assert_bad_cursor_refused, walk_pages
from tests.work.helpers import make_work_item, write_and_commit


def test_a_branchs_commits_page_newest_first_each_once(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    made = [write_and_commit(cast.editor, item, f"notes/{n}.md", f"note {n}\n", entry=None if n else "Notes")
            for n in range(5)]
    path = f"/api/v1/work-items/{item['id']}/commits"
    pages = walk_pages(cast.viewer, path, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [c["id"] for page in pages for c in page]
    whole = cast.viewer.get(path, params={"limit": 500}).json()
    assert whole["next_cursor"] is None
    assert walked == [c["id"] for c in whole["items"]]
    assert sorted(walked) == sorted(made)
    times = [c["time"] for page in pages for c in page]
    assert times == sorted(times, reverse=True)
    assert_bad_cursor_refused(cast.viewer, path)


def test_a_commit_made_between_two_pages_neither_repeats_nor_hides_the_older_ones(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    older = [write_and_commit(cast.editor, item, f"a/{n}.md", "x\n", entry=None if n else "Notes") for n in range(3)]
    path = f"/api/v1/work-items/{item['id']}/commits"
    first = cast.viewer.get(path, params={"limit": 2}).json()
    write_and_commit(cast.editor, item, "b.md", "new\n", entry=None)
    rest = cast.viewer.get(path, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    shown = [c["id"] for c in first["items"] + rest["items"]]
    assert sorted(shown) == sorted(older) and rest["next_cursor"] is None


def test_uncommitted_changes_page_by_path(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    for name in ("e", "b", "d", "a", "c"):
        response = cast.editor.put(f"/api/v1/work-items/{item['id']}/files/docs/{name}.md",
                                   json={"content": f"# {name}\n"})
        assert response.status_code == 201, response.text
    path = f"/api/v1/work-items/{item['id']}/changes"
    pages = walk_pages(cast.viewer, path, limit=2)
    assert [[c["path"] for c in page] for page in pages] == [
        ["docs/a.md", "docs/b.md"], ["docs/c.md", "docs/d.md"], ["docs/e.md"]]
    assert all(c["diff"].startswith("---") or "+# " in c["diff"] for page in pages for c in page)
    assert_bad_cursor_refused(cast.viewer, path)


def test_checklist_templates_page_in_the_order_of_the_settings(cast: Cast) -> None:
    path = "/api/v1/checklist-templates"
    whole = cast.viewer.get(path, params={"limit": 500}).json()
    assert whole["next_cursor"] is None and len(whole["items"]) > 3
    pages = walk_pages(cast.viewer, path, limit=3)
    walked = [(t["category"], t["action"]) for page in pages for t in page]
    assert walked == [(t["category"], t["action"]) for t in whole["items"]]
    assert len(set(walked)) == len(walked)
    assert_bad_cursor_refused(cast.viewer, path)


def test_the_work_item_page_shows_older_commits_a_page_at_a_time(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work_routes, "COMMITS_PAGE", 2)
    item = make_work_item(cast.editor)
    for n in range(3):
        write_and_commit(cast.editor, item, f"notes/{n}.md", "x\n", entry=None if n else "Notes",
                         message=f"Note number {n}")
    first = _commits_section(cast.viewer.get(f"/work/{item['id']}").text)
    assert "Note number 2" in first and "Note number 1" in first and "Note number 0" not in first
    older = re.search(r'<a class="next" href="([^"]+)" rel="next">Older commits', first)
    assert older is not None, first
    second = _commits_section(cast.viewer.get(html.unescape(older.group(1))).text)
    assert "Note number 0" in second and "Note number 1" not in second
    assert 'rel="next">Older commits' not in second
    assert f'href="/work/{item["id"]}#commits" rel="prev">&larr; Newest commits' in second
    refused = cast.viewer.get(f"/work/{item['id']}", params={"commits": "not a cursor"})
    assert refused.status_code == 422 and "start again without it." in refused.text


def _commits_section(page: str) -> str:
    return page.split('id="commits"', 1)[1].split("</section>", 1)[0]
