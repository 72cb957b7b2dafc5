"""The whole life of a work item through the API, checked with git itself."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Cast
from tests.work.helpers import finish_documentation, git, make_work_item, write_and_commit

GRAFANA = "name: Grafana\nslug: grafana\nkind: container\n"  # a service file that loads


def test_create_gives_a_branch_a_worktree_and_a_checklist(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    item = make_work_item(cast.editor, title="Add Grafana dashboards", service="grafana")
    assert item["status"] == "planning"
    assert item["branch"] == f"service/new/{item['id']}-add-grafana-dashboards"
    assert Path(item["worktree"]).is_dir() and (Path(item["worktree"]) / "CHANGES.md").is_file()
    texts = [c["text"] for c in item["checklist"]]
    assert "Configure monitoring" in texts and all(not c["done"] for c in item["checklist"])
    assert item["branch"] in git(ctx.repo_path, "branch", "--list", "--format=%(refname:short)")
    worktrees = git(ctx.repo_path, "worktree", "list", "--porcelain")
    assert item["worktree"] in worktrees


def test_full_lifecycle_merge_refused_with_every_reason_then_merged(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    repo = ctx.repo_path
    main_before = git(repo, "rev-parse", "main").strip()
    item = make_work_item(cast.editor)
    item_id = item["id"]

    # Nothing done yet: every rule is listed at once.
    check = cast.editor.get(f"/api/v1/work-items/{item_id}/merge-check").json()
    codes = {p["code"] for p in check["problems"]}
    assert not check["ready"]
    assert {"checklist_incomplete", "notes_empty", "no_commits", "no_changelog_entry"} <= codes

    # A commit without a changelog entry on a branch that has none is refused, nothing committed.
    assert cast.editor.put(f"/api/v1/work-items/{item_id}/files/catalog/services/grafana.yaml",
                           json={"content": GRAFANA}).status_code == 201
    refused = cast.editor.post(f"/api/v1/work-items/{item_id}/commits", json={"message": "Add grafana"})
    assert refused.status_code == 409
    assert "CHANGES.md" in refused.json()["error"]["message"]
    assert cast.editor.get(f"/api/v1/work-items/{item_id}/commits").json()["items"] == []

    changes = cast.editor.get(f"/api/v1/work-items/{item_id}/changes").json()["items"]
    assert [(c["path"], c["status"]) for c in changes] == [("catalog/services/grafana.yaml", "added")]
    assert "+name: Grafana" in changes[0]["diff"]

    commit = cast.editor.post(f"/api/v1/work-items/{item_id}/commits", json={
        "message": "Add grafana", "changelog": {"type": "Added", "text": "Added service grafana"}})
    assert commit.status_code == 201
    # An uncommitted leftover blocks the merge.
    cast.editor.put(f"/api/v1/work-items/{item_id}/files/scratch.txt", json={"content": "temp\n"})
    refused = cast.editor.post(f"/api/v1/work-items/{item_id}/merge")
    assert refused.status_code == 409
    codes = {p["code"] for p in refused.json()["error"]["details"]["problems"]}
    assert codes == {"checklist_incomplete", "notes_empty", "uncommitted_changes"}
    assert git(repo, "rev-parse", "main").strip() == main_before

    assert cast.editor.delete(f"/api/v1/work-items/{item_id}/files/scratch.txt").status_code == 204
    finish_documentation(cast.editor, item)
    assert cast.editor.get(f"/api/v1/work-items/{item_id}/merge-check").json() == {
        "ready": True, "problems": [], "warnings": [], "on_main": []}

    merged = cast.editor.post(f"/api/v1/work-items/{item_id}/merge")
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["status"] == "complete" and body["merge_commit"] and body["completed_at"]

    # git itself: a real merge commit by the user, with the file and the changelog entry on main.
    parents = git(repo, "rev-list", "--parents", "-n", "1", "main").split()
    assert parents[0] == body["merge_commit"] and len(parents) == 3 and parents[1] == main_before
    assert git(repo, "log", "-1", "--format=%an", "main").strip() == "eddie"
    assert git(repo, "show", "main:catalog/services/grafana.yaml") == GRAFANA
    changelog = git(repo, "show", "main:CHANGES.md")
    assert f"- Added service grafana ([#{item_id}](/work/{item_id}))" in changelog
    assert "### Added" in changelog
    # The worktree and branch are gone; the work item is complete.
    assert not Path(item["worktree"]).exists()
    assert item["branch"] not in git(repo, "branch", "--list", "--format=%(refname:short)")
    assert cast.viewer.get("/api/v1/changelog").json()["items"][0]["work_item_id"] == item_id
    again = cast.editor.post(f"/api/v1/work-items/{item_id}/merge")
    assert again.status_code == 409


def test_files_read_write_delete_through_the_api(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    url = f"/api/v1/work-items/{item['id']}/files/docs/runbook.md"
    assert cast.editor.put(url, json={"content": "# Runbook\n"}).status_code == 201
    assert cast.editor.put(url, json={"content": "# Runbook v2\n"}).status_code == 200
    assert cast.viewer.get(url).json() == {"content": "# Runbook v2\n"}
    assert cast.editor.delete(url).status_code == 204
    assert cast.editor.get(url).status_code == 404


def test_notes_of_2001_characters_are_refused_and_nothing_saved(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    assert cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "ok"}).status_code == 200
    response = cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "x" * 2001})
    assert response.status_code == 422
    assert "notes" in response.json()["error"]["message"]
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}").json()["notes"] == "ok"
    assert cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "y" * 2000}).status_code == 200


def test_checklist_items_can_be_added_and_removed(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    count = len(item["checklist"])
    added = cast.editor.post(f"/api/v1/work-items/{item['id']}/checklist", json={"text": "Tell the team"})
    assert added.status_code == 201 and added.json()["checklist"][-1] == {"text": "Tell the team", "done": False}
    removed = cast.editor.delete(f"/api/v1/work-items/{item['id']}/checklist/0")
    assert len(removed.json()["checklist"]) == count
    missing = cast.editor.put(f"/api/v1/work-items/{item['id']}/checklist/99", json={"done": True})
    assert missing.status_code == 404


def test_list_filters_and_paginates(cast: Cast) -> None:
    for n in range(5):
        make_work_item(cast.editor, title=f"Item {n}", category="network" if n % 2 else "service")
    page = cast.viewer.get("/api/v1/work-items", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = cast.viewer.get("/api/v1/work-items", params={"limit": 10, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 3
    network = cast.viewer.get("/api/v1/work-items", params={"category": "network"}).json()["items"]
    assert {i["title"] for i in network} == {"Item 1", "Item 3"}
    found = cast.viewer.get("/api/v1/work-items", params={"q": "item 4"}).json()["items"]
    assert [i["title"] for i in found] == ["Item 4"]


def test_cancel_with_commits_needs_confirmation_and_keeps_an_archive_tag(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    item = make_work_item(cast.editor)
    commit_id = write_and_commit(cast.editor, item, "notes.txt", "hello\n")
    refused = cast.editor.delete(f"/api/v1/work-items/{item['id']}")
    assert refused.status_code == 409 and "confirm" in refused.json()["error"]["message"].lower()
    cancelled = cast.editor.delete(f"/api/v1/work-items/{item['id']}", params={"confirm": "true"}).json()
    assert cancelled["status"] == "cancelled"
    tag = f"archive/{item['branch']}"
    assert cancelled["archive_tag"] == tag
    assert git(ctx.repo_path, "rev-parse", tag).strip() == commit_id
    assert not Path(item["worktree"]).exists()
