"""Conflicts left by "Update from main", resolved through the API: hunks with base, ours and theirs and
their line ranges, per-hunk choices, the merged text, bad paths refused, 409 while a file is left, a
resolution whose catalog file would not load refused, and a merge commit with both parents at the end."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from tests.catalog import service_yaml
from tests.conftest import Cast, browser_login
from tests.work.helpers import git, make_work_item, ready_item, write_and_commit

RUNBOOK = "docs/runbooks/restart.md"
LINES = [f"Step {n}: check the service.\n" for n in range(1, 13)]


def runbook(**changed: str) -> str:
    """The runbook with some steps (by number) rewritten."""
    lines = list(LINES)
    for key, text in changed.items():
        lines[int(key.removeprefix("s")) - 1] = text + "\n"
    return "# Restart\n\n" + "".join(lines)


def conflicted_item(cast: Cast, ctx: AppContext, extra_main: dict[str, str] | None = None,
                    extra_branch: dict[str, str] | None = None) -> dict[str, Any]:
    """Main and a work item's branch both changed steps 2 and 9 of the runbook: the item is updated from
    main and left with two conflicting hunks there."""
    base = ready_item(cast.editor, "Write the runbook", RUNBOOK, runbook(), "Restart runbook")
    assert cast.editor.post(f"/api/v1/work-items/{base['id']}/merge").status_code == 200
    ours = make_work_item(cast.editor, title="Restart gently")
    theirs = ready_item(cast.editor, "Restart fast", RUNBOOK,
                        runbook(s2="Step 2: restart at once.", s9="Step 9: skip the checks."), "Faster restarts")
    for path, content in (extra_main or {}).items():
        write_and_commit(cast.editor, theirs, path, content, entry=None)
    assert cast.editor.post(f"/api/v1/work-items/{theirs['id']}/merge").status_code == 200, "main moves"
    write_and_commit(cast.editor, ours, RUNBOOK, runbook(s2="Step 2: drain the connections first.",
                                                         s9="Step 9: wait for the health check."),
                     entry="Gentler restarts")
    for path, content in (extra_branch or {}).items():
        write_and_commit(cast.editor, ours, path, content, entry=None)
    update = cast.editor.post(f"/api/v1/work-items/{ours['id']}/update-from-main").json()
    assert RUNBOOK in update["conflicts"] and "CHANGES.md" not in update["conflicts"]
    return ours


def conflicts(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/work-items/{item['id']}/conflicts")
    assert response.status_code == 200, response.text
    return dict(response.json())


def put(client: TestClient, item: dict[str, Any], path: str, body: dict[str, Any]) -> Any:
    return client.put(f"/api/v1/work-items/{item['id']}/conflicts/{path}", json=body)


def test_conflicts_list_each_hunk_with_base_ours_theirs_and_their_lines(cast: Cast, ctx: AppContext) -> None:
    item = conflicted_item(cast, ctx)
    answer = conflicts(cast.viewer, item)
    assert answer["unresolved"] == [RUNBOOK]
    (file,) = answer["items"]
    assert file["path"] == RUNBOOK and file["resolved"] is False and file["text"] is True
    assert [h["number"] for h in file["hunks"]] == [1, 2] and file["unresolved_hunks"] == 2
    first, second = file["hunks"]
    assert first["base"] == "Step 2: check the service.\n"
    assert first["ours"] == "Step 2: drain the connections first.\n"
    assert first["theirs"] == "Step 2: restart at once.\n"
    # Line 1 is the title, line 2 blank: step 2 is line 4 in every version.
    assert first["base_lines"] == first["ours_lines"] == first["theirs_lines"] == {"start": 4, "count": 1}
    assert second["theirs"] == "Step 9: skip the checks.\n" and second["ours_lines"]["start"] == 11
    # The working file holds both hunks between diff3 markers (the base shown too).
    assert file["merged"].count("<<<<<<< HEAD") == 2 and "||||||| base\n" in file["merged"]
    assert file["base"] == runbook() and file["theirs"].startswith("# Restart")
    # CHANGES.md was merged by its entries: never a conflict.
    changelog = cast.editor.get(f"/api/v1/work-items/{item['id']}/files/CHANGES.md").json()["content"]
    assert "Faster restarts" in changelog and "Gentler restarts" in changelog and "<<<<<<<" not in changelog


def test_choosing_hunks_then_resolving_makes_a_merge_commit_and_the_check_passes(cast: Cast,
                                                                                 ctx: AppContext) -> None:
    item = conflicted_item(cast, ctx)
    merged_main = git(ctx.repo_path, "rev-parse", "main").strip()
    branch_before = git(ctx.repo_path, "rev-parse", item["branch"]).strip()
    took = put(cast.editor, item, RUNBOOK, {"choices": [{"hunk": 1, "take": "ours"}]})
    assert took.status_code == 200, took.text
    file = took.json()
    assert [h["resolved"] for h in file["hunks"]] == [True, False] and file["resolved"] is False
    assert "Step 2: drain the connections first.\n" in file["merged"] and file["merged"].count("<<<<<<<") == 1

    # Unresolved: the resolution is refused with the paths still conflicted; nothing is committed.
    refused = cast.editor.post(f"/api/v1/work-items/{item['id']}/conflicts/resolve")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "unresolved_conflicts"
    assert [p["path"] for p in error["details"]["problems"]] == [RUNBOOK]
    assert git(ctx.repo_path, "rev-parse", item["branch"]).strip() == branch_before
    # A decided hunk cannot be decided again (its markers are gone): edit the merged text instead.
    again = put(cast.editor, item, RUNBOOK, {"choices": [{"hunk": 1, "take": "theirs"}]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "hunk_resolved"

    edited = put(cast.editor, item, RUNBOOK,
                 {"choices": [{"hunk": 2, "text": "Step 9: wait, then skip the checks.\n"}]})
    assert edited.status_code == 200, edited.text
    assert edited.json()["resolved"] is True and edited.json()["unresolved_hunks"] == 0
    assert conflicts(cast.viewer, item)["unresolved"] == []

    done = cast.editor.post(f"/api/v1/work-items/{item['id']}/conflicts/resolve")
    assert done.status_code == 201, done.text
    commit = done.json()["commit"]
    assert git(ctx.repo_path, "rev-parse", item["branch"]).strip() == commit
    assert git(ctx.repo_path, "rev-parse", f"{commit}^1").strip() == branch_before
    assert git(ctx.repo_path, "rev-parse", f"{commit}^2").strip() == merged_main
    text = git(ctx.repo_path, "show", f"{commit}:{RUNBOOK}")
    assert "Step 2: drain the connections first.\n" in text and "Step 9: wait, then skip the checks.\n" in text
    assert "<<<<<<<" not in text
    assert conflicts(cast.viewer, item) == {"items": [], "next_cursor": None, "unresolved": []}

    for index in range(len(item["checklist"])):
        cast.editor.put(f"/api/v1/work-items/{item['id']}/checklist/{index}", json={"done": True})
    cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "Drain first; roll back by reverting."})
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert check["ready"] is True, check
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200
    assert "Step 9: wait, then skip the checks." in git(ctx.repo_path, "show", f"main:{RUNBOOK}")


def test_take_both_and_the_whole_merged_text(cast: Cast, ctx: AppContext) -> None:
    item = conflicted_item(cast, ctx)
    both = put(cast.editor, item, RUNBOOK, {"choices": [{"hunk": 1, "take": "both"}]}).json()
    assert "Step 2: drain the connections first.\nStep 2: restart at once.\n" in both["merged"]
    # Markers left in the whole text: saved, still conflicted.
    partial = put(cast.editor, item, RUNBOOK, {"content": both["merged"].replace("Step 1:", "Step one:")}).json()
    assert partial["resolved"] is False and partial["merged"].startswith("# Restart\n\nStep one:")
    final = runbook(s2="Step 2: drain, then restart.")
    resolved = put(cast.editor, item, RUNBOOK, {"content": final}).json()
    assert resolved["resolved"] is True and resolved["merged"] == final
    # Resolved files may be rewritten, but not with markers put back.
    back = put(cast.editor, item, RUNBOOK, {"content": partial["merged"]})
    assert back.status_code == 422
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/conflicts/resolve").status_code == 201


def test_bad_paths_and_bad_bodies_are_refused(cast: Cast, ctx: AppContext) -> None:
    item = conflicted_item(cast, ctx)
    for path in ("docs/../CHANGES.md", "../outside.md", "docs/runbooks/%2e%2e/x.md"):
        response = put(cast.editor, item, path, {"content": "x\n"})
        assert response.status_code in (404, 422), (path, response.text)
    not_conflicted = put(cast.editor, item, "CHANGES.md", {"content": "x\n"})
    assert not_conflicted.status_code == 404 and RUNBOOK in not_conflicted.json()["error"]["message"]
    assert put(cast.editor, item, RUNBOOK, {}).status_code == 422
    assert put(cast.editor, item, RUNBOOK, {"content": "x\n", "take": "ours"}).status_code == 422
    assert put(cast.editor, item, RUNBOOK, {"choices": [{"hunk": 7, "take": "ours"}]}).status_code == 422
    assert put(cast.editor, item, RUNBOOK, {"choices": [{"hunk": 1}]}).status_code == 422
    assert put(cast.editor, item, RUNBOOK, {"choices": [{"hunk": 1, "take": "--ours"}]}).status_code == 422
    assert put(cast.viewer, item, RUNBOOK, {"take": "ours"}).status_code == 403
    assert cast.viewer.post(f"/api/v1/work-items/{item['id']}/conflicts/resolve").status_code == 403
    # Nothing of that reached the file.
    assert conflicts(cast.viewer, item)["items"][0]["unresolved_hunks"] == 2


def test_a_resolution_whose_catalog_file_would_not_load_is_refused(cast: Cast, ctx: AppContext) -> None:
    path = "catalog/services/grafana.yaml"
    item = conflicted_item(cast, ctx, extra_main={path: service_yaml("grafana", tags=["main"])},
                           extra_branch={path: service_yaml("grafana", tags=["branch"])})
    answer = conflicts(cast.viewer, item)
    assert answer["unresolved"] == [path, RUNBOOK]
    assert put(cast.editor, item, RUNBOOK, {"take": "ours"}).json()["resolved"] is True
    broken = service_yaml("grafana", tags=["main"]) + "colour: blue\n"  # a field the schema does not know
    assert put(cast.editor, item, path, {"content": broken}).json()["resolved"] is True
    before = git(ctx.repo_path, "rev-parse", item["branch"]).strip()
    refused = cast.editor.post(f"/api/v1/work-items/{item['id']}/conflicts/resolve")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "invalid_resolution"
    assert any(p["path"] == path for p in error["details"]["problems"])
    assert git(ctx.repo_path, "rev-parse", item["branch"]).strip() == before
    # Fixed, it goes through.
    assert put(cast.editor, item, path, {"take": "theirs"}).json()["resolved"] is True
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/conflicts/resolve").status_code == 201


def test_a_file_deleted_on_one_side_is_resolved_by_keeping_a_side(cast: Cast, ctx: AppContext) -> None:
    base = ready_item(cast.editor, "Notes", "docs/notes.md", "# Notes\n\nOne.\n", "Notes")
    assert cast.editor.post(f"/api/v1/work-items/{base['id']}/merge").status_code == 200
    ours = make_work_item(cast.editor, title="Edit notes")
    theirs = make_work_item(cast.editor, title="Drop notes")
    assert cast.editor.delete(f"/api/v1/work-items/{theirs['id']}/files/docs/notes.md").status_code == 204
    assert cast.editor.post(f"/api/v1/work-items/{theirs['id']}/commits", json={
        "message": "Drop notes", "changelog": {"type": "Removed", "text": "Notes"}}).status_code == 201
    for index in range(len(theirs["checklist"])):
        cast.editor.put(f"/api/v1/work-items/{theirs['id']}/checklist/{index}", json={"done": True})
    cast.editor.patch(f"/api/v1/work-items/{theirs['id']}", json={"notes": "Dropped."})
    assert cast.editor.post(f"/api/v1/work-items/{theirs['id']}/merge").status_code == 200
    write_and_commit(cast.editor, ours, "docs/notes.md", "# Notes\n\nTwo.\n", entry="More notes")
    assert cast.editor.post(f"/api/v1/work-items/{ours['id']}/update-from-main").json()["conflicts"] == [
        "docs/notes.md"]
    (file,) = conflicts(cast.viewer, ours)["items"]
    assert file["theirs_deleted"] is True and file["ours_deleted"] is False and file["hunks"] == []
    assert put(cast.editor, ours, "docs/notes.md", {"take": "theirs"}).json()["resolved"] is True
    commit = cast.editor.post(f"/api/v1/work-items/{ours['id']}/conflicts/resolve").json()["commit"]
    assert "docs/notes.md" not in git(ctx.repo_path, "ls-tree", "-r", "--name-only", commit)


def test_the_conflicts_page_works_with_plain_forms(app, cast: Cast, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    """No JavaScript: each decision is a form post answered with a redirect back to the page."""
    item = conflicted_item(cast, ctx)
    page_url = f"/work/{item['id']}/conflicts"
    assert f'href="{page_url}"' in cast.viewer.get(f"/work/{item['id']}").text  # the work page points here
    viewer_page = cast.viewer.get(page_url).text
    assert "Hunk 1" in viewer_page and 'value="ours"' not in viewer_page  # viewers see, never decide
    with TestClient(app, follow_redirects=False) as browser:
        token = browser_login(browser, "eddie")
        html = browser.get(page_url).text
        assert html.count('class="conflict-hunk"') == 2 and "Take theirs" in html
        taken = browser.post(f"{page_url}/hunk", data={
            "path": RUNBOOK, "hunk": "1", "take": "theirs", "anchor": "file-1", "csrf_token": token})
        assert taken.status_code == 303 and taken.headers["location"] == f"{page_url}#file-1"
        edited = browser.post(f"{page_url}/hunk", data={"path": RUNBOOK, "hunk": "2", "take": "text",
                                                        "text": "Step 9: both.\r\n", "csrf_token": token})
        assert edited.status_code == 303
        bad = browser.post(f"{page_url}/hunk", data={"path": "../etc/passwd", "hunk": "1", "take": "ours",
                                                     "csrf_token": token})
        assert bad.status_code == 303  # back to the page, which says what was wrong
        html = browser.get(page_url).text
        assert "../etc/passwd" in html and "every one is resolved" in html
        finished = browser.post(f"{page_url}/resolve", data={"csrf_token": token})
        assert finished.status_code == 303 and finished.headers["location"] == f"/work/{item['id']}#merge"
    text = git(ctx.repo_path, "show", f"{item['branch']}:{RUNBOOK}")
    assert "Step 2: restart at once.\n" in text and "Step 9: both.\n" in text and "\r" not in text
