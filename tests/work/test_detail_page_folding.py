"""A long work-item page folds what is done: the checklist once complete; each changed file's diff."""

from __future__ import annotations

import re

from tests.conftest import Cast
from tests.work.helpers import finish_documentation, make_work_item


def _fold(page: str) -> str:
    match = re.search(r'<details class="checklist-fold" id="checklist-fold"[^>]*>', page)
    assert match is not None, "the checklist is not foldable"
    return match.group(0)


def test_an_unfinished_checklist_is_shown_open(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    page = cast.editor.get(f"/work/{item['id']}").text
    assert " open" in _fold(page)
    assert f"0 of {len(item['checklist'])} done" in page


def test_a_complete_checklist_is_folded_and_says_so(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    finish_documentation(cast.editor, item)
    page = cast.editor.get(f"/work/{item['id']}").text
    assert " open" not in _fold(page)
    total = len(item["checklist"])
    assert f'<span id="checklist-progress">{total} of {total} done</span>' in page and "complete" in page


def test_each_changed_file_has_its_own_folded_diff_named_by_the_file(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    for path in ("catalog/services/a.yaml", "catalog/services/b.yaml"):
        assert cast.editor.put(f"/api/v1/work-items/{item['id']}/files/{path}",
                               json={"content": "slug: x\n"}).status_code in (200, 201)
    changes = cast.editor.get(f"/work/{item['id']}").text.split('id="changes"', 1)[1].split("</section>", 1)[0]
    folds = re.findall(r'<details class="diff-fold"( open)?><summary>diff of <span class="mono">([^<]+)</span>',
                       changes)
    assert folds == [("", "catalog/services/a.yaml"), ("", "catalog/services/b.yaml")]


def test_an_uncommitted_change_is_drawn_in_the_shared_diff_view_unified_or_side_by_side(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    path = "catalog/services/web.yaml"
    assert cast.editor.put(f"/api/v1/work-items/{item['id']}/files/{path}",
                           json={"content": "slug: web\nname: Web shop\n"}).status_code in (200, 201)
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/commits", json={
        "message": "Add web", "changelog": {"type": "Added", "text": "Web shop"}}).status_code == 201
    assert cast.editor.put(f"/api/v1/work-items/{item['id']}/files/{path}",
                           json={"content": "slug: web\nname: Web store\n"}).status_code == 200

    def changes(view: str = "") -> str:
        page = cast.editor.get(f"/work/{item['id']}{view}").text
        return page.split('id="changes"', 1)[1].split("</section>", 1)[0]

    unified = changes()
    assert '<table class="diff-table diff-unified">' in unified and "<pre" not in unified
    assert '<mark class="diff-word">store</mark>' in unified      # the changed word, marked
    assert 'id="changes-diff-mode"' in unified and 'href="?view=split#changes"' in unified
    split = changes("?view=split")
    assert '<table class="diff-table diff-split">' in split and 'href="?view=unified#changes"' in split
