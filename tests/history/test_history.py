"""Main's history through the API and the pages: work items landed by real merges, commits made on main
outside Calcifer (for what a work item cannot write: binaries, huge files), path filter, cursor paging,
diffs and their caps."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pygit2.enums import FileMode

from calcifer.history import service as history_service
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.docs.test_docs_reading import commit_on_main, error_of, main_tip
from tests.search.helpers import land

SERVICE = "name: Web\nslug: web\nkind: container\n"


def commits(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/commits", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_main_history_lists_each_landed_work_item_with_its_files_newest_first(cast: Cast, ctx: AppContext) -> None:
    first = land(cast.editor, {"catalog/services/web.yaml": SERVICE}, title="Add the web service")
    second = land(cast.editor, {"docs/web.md": "# Web\n\nHow to run it.\n"}, title="Document web")
    items = commits(cast.viewer, ref="main")["items"]
    assert items[0]["id"] == main_tip(ctx)
    landed = [i for i in items if i["work_item_id"] is not None]
    assert [i["work_item_id"] for i in landed[:2]] == [second["id"], first["id"]]
    assert landed[0]["work_item_title"] == "Document web"
    assert "docs/web.md" in landed[0]["files"] and "CHANGES.md" in landed[0]["files"]
    assert landed[1]["files_changed"] >= 2 and "catalog/services/web.yaml" in landed[1]["files"]
    assert len(landed[0]["parents"]) == 2  # the merge commit, not the branch's own commit


def test_path_filter_keeps_only_commits_that_changed_that_file_or_folder(cast: Cast) -> None:
    web = land(cast.editor, {"catalog/services/web.yaml": SERVICE}, title="Add web")
    land(cast.editor, {"docs/other.md": "# Other\n"}, title="Unrelated doc")
    again = land(cast.editor, {"catalog/services/web.yaml": SERVICE + "description: the site\n"},
                 title="Describe web")
    file_ids = [i["work_item_id"] for i in commits(cast.viewer, path="catalog/services/web.yaml")["items"]]
    assert file_ids == [again["id"], web["id"]]
    folder_ids = [i["work_item_id"] for i in commits(cast.viewer, path="catalog/services/")["items"]]
    assert folder_ids[:2] == [again["id"], web["id"]]  # then the first commit, which made the folder


def test_cursor_pages_walk_all_of_main_without_repeats(cast: Cast, ctx: AppContext) -> None:
    for n in range(2):
        land(cast.editor, {f"docs/page-{n}.md": f"# Page {n}\n"}, title=f"Page {n}")
    everything = [i["id"] for i in commits(cast.viewer, limit=100)["items"]]
    seen: list[str] = []
    cursor = None
    while True:
        page = commits(cast.viewer, limit=1, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) == 1
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything and len(everything) >= 3


def test_commit_detail_gives_each_changed_file_a_unified_diff(cast: Cast, ctx: AppContext) -> None:
    land(cast.editor, {"docs/web.md": "# Web\n\nOld line.\n"}, title="Write web doc")
    land(cast.editor, {"docs/web.md": "# Web\n\nNew line.\n"}, title="Fix web doc")
    detail = cast.viewer.get(f"/api/v1/commits/{main_tip(ctx)[:10]}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["commit"]["id"] == main_tip(ctx) and body["commit"]["work_item_title"] == "Fix web doc"
    doc = next(f for f in body["files"] if f["path"] == "docs/web.md")
    assert doc["status"] == "modified" and (doc["additions"], doc["deletions"]) == (1, 1)
    assert "-Old line.\n" in doc["diff"] and "+New line.\n" in doc["diff"] and doc["diff"].startswith("diff --git")
    assert not body["truncated"]


def test_a_binary_file_is_named_without_a_diff_and_a_huge_diff_is_cut(cast: Cast, ctx: AppContext) -> None:
    land(cast.editor, {"docs/start.md": "# Start\n"}, title="Start")
    huge = "".join(f"line {n} of a very long generated file\n" for n in range(20_000)).encode()
    commit_on_main(ctx.repo_path, {"docs/logo.png": (FileMode.BLOB, b"\x89PNG\r\n\x1a\n\x00\x00\xff" * 50),
                                   "docs/huge.txt": (FileMode.BLOB, huge)}, message="Add logo and dump")
    body = cast.viewer.get(f"/api/v1/commits/{main_tip(ctx)}").json()
    files = {f["path"]: f for f in body["files"]}
    assert files["docs/logo.png"]["binary"] and files["docs/logo.png"]["diff"] == ""
    cut = files["docs/huge.txt"]
    assert cut["truncated"] and body["truncated"]
    assert len(cut["diff"].encode()) <= history_service.MAX_FILE_DIFF_BYTES and cut["diff"].endswith("\n")
    assert cut["additions"] == 20_000  # the count is of the whole file, the text is cut
    page = cast.viewer.get(f"/history/{main_tip(ctx)}")
    assert page.status_code == 200
    assert "binary file, not shown" in page.text and "too long to show in full" in page.text


@pytest.mark.parametrize("bad", ["xyz", "12345", "g" * 40, "a" * 41])
def test_a_malformed_commit_id_is_a_422_that_says_what_an_id_looks_like(cast: Cast, bad: str) -> None:
    error = error_of(cast.viewer.get(f"/api/v1/commits/{bad}"), 422)
    assert "hexadecimal" in error["message"]


def test_an_unknown_commit_is_a_404_in_the_api_and_on_the_page(cast: Cast) -> None:
    land(cast.editor, {"docs/a.md": "# A\n"}, title="A")
    error = error_of(cast.viewer.get(f"/api/v1/commits/{'0' * 40}"), 404)
    assert "0" * 40 in error["message"]
    assert cast.viewer.get(f"/history/{'0' * 40}").status_code == 404


def test_bad_ref_cursor_and_path_are_422s(cast: Cast) -> None:
    assert "main" in error_of(cast.viewer.get("/api/v1/commits", params={"ref": "dev"}), 422)["message"]
    assert "cursor" in error_of(cast.viewer.get("/api/v1/commits", params={"cursor": "nonsense!"}), 422)["message"]
    assert "path" in error_of(cast.viewer.get("/api/v1/commits", params={"path": "docs/../etc"}), 422)["message"]
    error_of(cast.viewer.get("/api/v1/commits", params={"limit": 101}), 422)


def test_history_needs_a_signed_in_user(cast: Cast) -> None:
    assert cast.outsider.get("/api/v1/commits").status_code == 401


def test_history_page_lists_commits_linked_to_their_pages_and_filters_by_path(cast: Cast, ctx: AppContext) -> None:
    item = land(cast.editor, {"catalog/services/web.yaml": SERVICE}, title="Add the web service")
    land(cast.editor, {"docs/other.md": "# Other\n"}, title="Unrelated doc")
    page = cast.viewer.get("/history")
    assert page.status_code == 200
    assert f'href="/history/{main_tip(ctx)}"' in page.text and "Unrelated doc" in page.text
    filtered = cast.viewer.get("/history", params={"path": "catalog/services/web.yaml"})
    assert "Add the web service" in filtered.text and "Unrelated doc" not in filtered.text
    assert f'href="/work/{item["id"]}"' in filtered.text


def test_merge_commits_elsewhere_link_to_their_history_page(cast: Cast, ctx: AppContext) -> None:
    item = land(cast.editor, {"catalog/services/web.yaml": SERVICE, "docs/web.md": "# Web\n"}, title="Add web")
    merge = main_tip(ctx)
    link = f'href="/history/{merge}"'
    assert link in cast.viewer.get(f"/work/{item['id']}").text
    assert link in cast.viewer.get("/docs/history/docs/web.md").text
    assert link in cast.viewer.get("/changelog").text
    service_page = cast.viewer.get("/services/web").text
    assert 'href="/history?path=catalog%2Fservices%2Fweb.yaml"' in service_page
    assert 'href="/history?path=docs%2Fweb.md"' in cast.viewer.get("/docs/view/docs/web.md").text


def test_a_commit_with_more_files_than_shown_says_how_many_were_left_out(cast: Cast, ctx: AppContext,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    land(cast.editor, {"docs/start.md": "# Start\n"}, title="Start")
    commit_on_main(ctx.repo_path, {f"docs/gen/{n}.txt": (FileMode.BLOB, f"file {n}\n".encode() * 200)
                                   for n in range(5)}, message="Generated files")
    monkeypatch.setattr(history_service, "MAX_FILES", 3)
    monkeypatch.setattr(history_service, "MAX_TOTAL_DIFF_BYTES", 3000)
    body = cast.viewer.get(f"/api/v1/commits/{main_tip(ctx)}").json()
    assert body["commit"]["files_changed"] == 5 and len(body["files"]) == 3 and body["files_left_out"] == 2
    assert body["truncated"]
    assert sum(len(f["diff"]) for f in body["files"]) <= 3000
    assert body["files"][-1]["truncated"]  # the total ran out before the third file's diff was all shown
    page = cast.viewer.get(f"/history/{main_tip(ctx)}").text
    assert "2 more files are not shown" in page
