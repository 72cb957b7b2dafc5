"""Writing docs: every save, rename and delete is a commit on a work item's branch with a changelog entry,
checked with the real git CLI; hostile paths are refused with nothing written; standard changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.docs import editing
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.context import AppContext
from tests.catalog.helpers import error_of, land_files, merge
from tests.conftest import Cast, browser_login, make_user
from tests.work.helpers import finish_documentation, git, make_work_item

RUNBOOK = "# Restore backups\n\n1. Stop the service.\n2. Restore.\n"


def put_doc(client: TestClient, item: dict[str, Any], path: str, content: str, **body: Any) -> Any:
    return client.put(f"/api/v1/work-items/{item['id']}/docs/{path}", json={"content": content, **body})


def tip(repo: Path, ref: str) -> str:
    return git(repo, "rev-parse", ref).strip()


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def files_in(repo: Path, commit: str) -> list[str]:
    return git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", f"{commit}^1", commit).split()


def worktree_of(item: dict[str, Any]) -> Path:
    return Path(item["worktree"])


def worktree_status(item: dict[str, Any]) -> str:
    import subprocess

    return subprocess.run(["git", "-C", item["worktree"], "status", "--porcelain", "--untracked-files=all"],
                          capture_output=True, text=True, check=True).stdout


# -- saving ---------------------------------------------------------------------------------------------------

def test_saving_a_doc_through_the_api_commits_it_with_a_changelog_entry_and_merge_puts_it_on_main(
        cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Write the backup runbook", category="documentation")
    response = put_doc(cast.editor, item, "docs/runbooks/restore.md", RUNBOOK)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["operation"] == "created" and body["path"] == "docs/runbooks/restore.md"
    branch = item["branch"]
    assert tip(repo, branch) == body["commit"]
    assert show(repo, branch, "docs/runbooks/restore.md") == RUNBOOK
    assert git(repo, "log", "-1", "--format=%s", branch).strip() == "Added doc docs/runbooks/restore.md"
    assert sorted(files_in(repo, body["commit"])) == ["CHANGES.md", "docs/runbooks/restore.md"]
    assert f"- Added doc docs/runbooks/restore.md ([#{item['id']}](/work/{item['id']}))" in show(
        repo, branch, "CHANGES.md")
    assert worktree_status(item) == ""

    changed = put_doc(cast.editor, item, "docs/runbooks/restore.md", RUNBOOK + "3. Check.\n")
    assert changed.status_code == 200 and changed.json()["operation"] == "updated"
    assert "### Changed\n- Changed doc docs/runbooks/restore.md" in show(repo, branch, "CHANGES.md")

    assert "docs/runbooks/restore.md" not in git(repo, "ls-tree", "-r", "--name-only", "main")
    finish_documentation(cast.editor, item)
    merged = merge(cast.editor, item)
    assert show(repo, "main", "docs/runbooks/restore.md") == RUNBOOK + "3. Check.\n"
    assert git(repo, "log", "-1", "--format=%P", merged["merge_commit"]).split()[1] == changed.json()["commit"]


def test_a_given_changelog_entry_and_commit_message_are_used(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    response = put_doc(cast.editor, item, "docs/grafana.md", "# Grafana\n",
                       changelog={"type": "Added", "text": "Grafana operations guide"},
                       message="Document Grafana\n\nFirst version.")
    assert response.status_code == 201, response.text
    assert git(ctx.repo_path, "log", "-1", "--format=%B", item["branch"]).startswith("Document Grafana\n\nFirst")
    assert "- Grafana operations guide" in show(ctx.repo_path, item["branch"], "CHANGES.md")


def test_reading_a_doc_for_a_work_item_gives_its_own_version_once_it_changed_it(cast: Cast, ctx: AppContext) -> None:
    land_files(cast.editor, {"docs/a.md": "# A on main\n"})
    item = make_work_item(cast.editor)
    first = cast.editor.get(f"/api/v1/work-items/{item['id']}/docs/docs/a.md").json()
    assert first == {"path": "docs/a.md", "content": "# A on main\n", "exists": True, "source": "main"}
    assert put_doc(cast.editor, item, "docs/a.md", "# A changed\n").status_code == 200
    second = cast.editor.get(f"/api/v1/work-items/{item['id']}/docs/docs/a.md").json()
    assert second["content"] == "# A changed\n" and second["source"] == "work item"


def test_saving_the_same_content_again_is_a_conflict_and_changes_nothing(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    assert put_doc(cast.editor, item, "docs/a.md", "# A\n").status_code == 201
    before = tip(ctx.repo_path, item["branch"])
    error = error_of(put_doc(cast.editor, item, "docs/a.md", "# A\n"), 409)
    assert error["code"] == "nothing_to_commit"
    assert tip(ctx.repo_path, item["branch"]) == before and worktree_status(item) == ""


def test_a_viewer_cannot_write_and_a_finished_work_item_takes_no_docs(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    assert error_of(put_doc(cast.viewer, item, "docs/a.md", "# A\n"), 403)["code"] == "forbidden"
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}").status_code == 200
    assert error_of(put_doc(cast.editor, item, "docs/a.md", "# A\n"), 409)["code"] == "not_open"


# -- rename and delete ----------------------------------------------------------------------------------------

LINKERS = {
    "docs/a.md": "# A\n\nSee [the guide](guides/b.md).\n",
    "docs/index.md": "# Index\n\n- [A](a.md)\n- [A, section](a.md#setup)\n- [not it](ab.md)\n",
    "docs/guides/c.md": "# C\n\nBack to [A](../a.md) and [A again](/docs/view/docs/a.md).\n\n"
                        "```\n[in code](../a.md)\n```\n\n[ref]: ../a.md\n",
    "docs/guides/b.md": "# B\n",
}


def test_renaming_reports_every_doc_that_links_to_the_old_path_and_leaves_them_alone(
        cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    land_files(cast.editor, LINKERS)
    item = make_work_item(cast.editor, category="documentation", action="change")
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/docs-rename",
                                json={"path": "docs/a.md", "new_path": "docs/guides/a.md"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["operation"] == "renamed" and body["old_path"] == "docs/a.md" and body["path"] == "docs/guides/a.md"
    found = {(link["path"], link["line"], link["target"]) for link in body["linking_docs"]}
    assert found == {("docs/index.md", 3, "a.md"), ("docs/index.md", 4, "a.md#setup"),
                     ("docs/guides/c.md", 3, "../a.md"), ("docs/guides/c.md", 3, "/docs/view/docs/a.md"),
                     ("docs/guides/c.md", 9, "../a.md")}  # the fenced code block is not a link
    assert body["updated_docs"] == []
    commit = body["commit"]
    assert sorted(files_in(repo, commit)) == ["CHANGES.md", "docs/a.md", "docs/guides/a.md"]
    assert git(repo, "cat-file", "-t", f"{item['branch']}:docs/guides/a.md").strip() == "blob"
    assert "docs/a.md" not in git(repo, "ls-tree", "-r", "--name-only", item["branch"]).split()
    assert show(repo, item["branch"], "docs/index.md") == LINKERS["docs/index.md"]
    assert "Renamed doc docs/a.md to docs/guides/a.md" in show(repo, item["branch"], "CHANGES.md")


def test_renaming_with_update_links_rewrites_them_in_the_same_commit(cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    land_files(cast.editor, LINKERS)
    item = make_work_item(cast.editor, category="documentation", action="change")
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/docs-rename",
                                json={"path": "docs/a.md", "new_path": "docs/guides/a.md", "update_links": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["updated_docs"] == ["docs/guides/c.md", "docs/index.md"]
    assert sorted(files_in(repo, body["commit"])) == ["CHANGES.md", "docs/a.md", "docs/guides/a.md",
                                                      "docs/guides/c.md", "docs/index.md"]
    index = show(repo, item["branch"], "docs/index.md")
    assert "[A](guides/a.md)" in index and "(guides/a.md#setup)" in index and "[not it](ab.md)" in index
    c = show(repo, item["branch"], "docs/guides/c.md")
    assert "[A](a.md)" in c and "(/docs/view/docs/guides/a.md)" in c and "[ref]: a.md" in c
    assert "[in code](../a.md)" in c  # code stays as written
    # The moved doc's own relative link still points at docs/guides/b.md.
    assert "[the guide](b.md)" in show(repo, item["branch"], "docs/guides/a.md")
    for path, text in (("docs/index.md", index), ("docs/guides/c.md", c)):
        assert editing.links_to(text, from_doc=path, doc="docs/a.md") == []


def test_renaming_onto_an_existing_doc_is_refused(cast: Cast, ctx: AppContext) -> None:
    land_files(cast.editor, LINKERS)
    item = make_work_item(cast.editor)
    before = tip(ctx.repo_path, item["branch"])
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/docs-rename",
                                json={"path": "docs/a.md", "new_path": "docs/index.md"})
    assert error_of(response, 409)["code"] == "doc_exists"
    assert tip(ctx.repo_path, item["branch"]) == before and worktree_status(item) == ""


def test_deleting_a_doc_commits_the_removal_and_lists_the_links_left_dangling(cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    land_files(cast.editor, LINKERS)
    item = make_work_item(cast.editor, category="documentation", action="remove")
    response = cast.editor.delete(f"/api/v1/work-items/{item['id']}/docs/docs/guides/b.md")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["operation"] == "deleted"
    assert [(link["path"], link["target"]) for link in body["linking_docs"]] == [("docs/a.md", "guides/b.md")]
    assert sorted(files_in(repo, body["commit"])) == ["CHANGES.md", "docs/guides/b.md"]
    assert "### Removed\n- Removed doc docs/guides/b.md" in show(repo, item["branch"], "CHANGES.md")
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    assert "docs/guides/b.md" not in git(repo, "ls-tree", "-r", "--name-only", "main").split()
    missing = cast.editor.delete(f"/api/v1/work-items/{make_work_item(cast.editor)['id']}/docs/docs/guides/b.md")
    assert error_of(missing, 404)["code"] == "not_found"


def test_links_only_on_main_are_reported_as_main(cast: Cast, ctx: AppContext) -> None:
    land_files(cast.editor, {"docs/a.md": "# A\n"})
    item = make_work_item(cast.editor)
    land_files(cast.editor, {"docs/later.md": "[A](a.md)\n"}, title="Later doc")  # main moved on
    body = cast.editor.post(f"/api/v1/work-items/{item['id']}/docs-rename",
                            json={"path": "docs/a.md", "new_path": "docs/b.md", "update_links": True}).json()
    assert body["linking_docs"] == [{"path": "docs/later.md", "line": 1, "target": "a.md", "where": "main"}]
    assert body["updated_docs"] == []


# -- hostile paths ---------------------------------------------------------------------------------------------

HOSTILE = [
    "%2E%2E/etc/passwd.md",          # ../ (percent-encoded so the HTTP client keeps it)
    "docs/%2E%2E/%2E%2E/escape.md",  # docs/../../
    "%2Fetc/passwd.md",              # absolute
    "docs/a%00b.md",                 # NUL
    "docs/" + "a" * 300 + ".md",     # a 300-character name
    "catalog/services/x.md",         # not under docs/
    "docs/notes.txt",                # not markdown
    "docs/a%5Cb.md",                 # backslash
    "docs/.git/config.md",           # into .git
    "docs//x.md",                    # empty folder name
    "CHANGES.md",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_refused_with_422_and_nothing_is_written(cast: Cast, ctx: AppContext, path: str) -> None:
    item = make_work_item(cast.editor)
    before = tip(ctx.repo_path, item["branch"])
    response = put_doc(cast.editor, item, path, "# pwned\n")
    error = error_of(response, 422)
    assert "refused" in error["message"] or "path" in error["message"].lower()
    assert tip(ctx.repo_path, item["branch"]) == before
    assert worktree_status(item) == ""
    assert not (ctx.settings.resolved_data_dir.parent / "escape.md").exists()


@pytest.mark.parametrize("field", ["path", "new_path"])
def test_hostile_paths_in_a_json_body_are_refused(cast: Cast, ctx: AppContext, field: str) -> None:
    land_files(cast.editor, {"docs/a.md": "# A\n"})
    item = make_work_item(cast.editor)
    before = tip(ctx.repo_path, item["branch"])
    for bad in ("../../x.md", "/etc/x.md", "docs/a\x00.md", "docs/" + "b" * 300 + ".md", "docs/../x.md"):
        body = {"path": "docs/a.md", "new_path": "docs/b.md", field: bad}
        response = cast.editor.post(f"/api/v1/work-items/{item['id']}/docs-rename", json=body)
        assert error_of(response, 422)["code"] == "invalid_doc_path", bad
    assert tip(ctx.repo_path, item["branch"]) == before and worktree_status(item) == ""


def test_symlinks_leading_out_of_the_repository_or_docs_are_refused(cast: Cast, ctx: AppContext,
                                                                     tmp_path: Path) -> None:
    item = make_work_item(cast.editor)
    worktree = worktree_of(item)
    outside = tmp_path / "outside.md"
    outside.write_text("secret\n")
    outside_dir = tmp_path / "outside-dir"
    outside_dir.mkdir()
    (worktree / "docs" / "evil.md").symlink_to(outside)
    (worktree / "docs" / "linked").symlink_to(outside_dir, target_is_directory=True)
    (worktree / "catalog" / "services" / "x.yaml").write_text("name: x\n")
    (worktree / "docs" / "catalog.md").symlink_to("../catalog/services/x.yaml")
    before = tip(ctx.repo_path, item["branch"])
    for path in ("docs/evil.md", "docs/linked/new.md", "docs/catalog.md"):
        error = error_of(put_doc(cast.editor, item, path, "# pwned\n"), 422)
        assert "symbolic link" in error["message"] or "outside" in error["message"], error
    assert outside.read_text() == "secret\n"
    assert list(outside_dir.iterdir()) == []
    assert (worktree / "catalog" / "services" / "x.yaml").read_text() == "name: x\n"
    assert tip(ctx.repo_path, item["branch"]) == before


def test_check_doc_path_accepts_plain_docs_paths() -> None:
    assert editing.check_doc_path(" docs/runbooks/Restore backups.md ") == "docs/runbooks/Restore backups.md"
    assert editing.check_doc_path("docs/_templates/runbook.md") == "docs/_templates/runbook.md"
    assert editing.check_doc_path("docs/ünïcode.md") == "docs/ünïcode.md"


# -- the editor pages ------------------------------------------------------------------------------------------

@pytest.fixture
def editor_page(app, ctx: AppContext) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    make_user(ctx, "edith", Role.EDITOR)
    client = TestClient(app, follow_redirects=False)
    token = browser_login(client, "edith")
    return client, token


def test_the_editor_page_saves_into_the_chosen_work_item(editor_page: tuple[TestClient, str], cast: Cast,
                                                         ctx: AppContext) -> None:
    client, token = editor_page
    item = make_work_item(cast.editor, title="Docs for grafana")
    page = client.get(f"/docs/new?path=docs/grafana.md&template=runbook&title=Grafana%20restarts&item={item['id']}")
    assert page.status_code == 200, page.text
    assert 'hx-post="/docs/preview"' in page.text and "input changed delay:400ms" in page.text
    assert "Runbook: Grafana restarts" in page.text  # the template filled in the textarea
    assert f'<option value="{item["id"]}" selected' in page.text
    response = client.post("/docs/new", data={"csrf_token": token, "path": "docs/grafana.md",
                                              "content": "# Grafana\r\n\r\nRestart it.\r\n",
                                              "target": str(item["id"]), "operation": "save"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/docs/edit/docs/grafana.md?item={item['id']}"
    assert show(ctx.repo_path, item["branch"], "docs/grafana.md") == "# Grafana\n\nRestart it.\n"
    assert "- Added doc docs/grafana.md" in show(ctx.repo_path, item["branch"], "CHANGES.md")
    again = client.get(response.headers["location"])
    assert "Showing the version on work item #" in again.text and "Restart it." in again.text
    # Creating it again from the "new doc" form is refused rather than overwriting it.
    clash = client.post("/docs/new", data={"csrf_token": token, "path": "docs/grafana.md", "content": "# Other\n",
                                           "target": str(item["id"]), "operation": "save"})
    assert clash.status_code == 409 and "already exists" in clash.text


def test_the_editor_page_can_start_a_work_item_and_rename_through_it(editor_page: tuple[TestClient, str],
                                                                     cast: Cast, ctx: AppContext) -> None:
    client, token = editor_page
    land_files(cast.editor, LINKERS)
    page = client.get("/docs/edit/docs/a.md")
    assert page.status_code == 200 and "Showing the version on main." in page.text and "See [the guide]" in page.text
    response = client.post("/docs/edit/docs/a.md", data={
        "csrf_token": token, "content": "ignored", "target": "new", "operation": "rename",
        "new_path": "docs/guides/a.md", "summary": "Move A into the guides"})
    assert response.status_code == 303, response.text
    item_id = int(re.search(r"item=(\d+)", response.headers["location"]).group(1))  # type: ignore[union-attr]
    item = cast.editor.get(f"/api/v1/work-items/{item_id}").json()
    assert item["title"] == "Move A into the guides" and item["category"] == "documentation"
    flashes = client.get(response.headers["location"]).text
    assert "docs/index.md" in flashes and "docs/guides/c.md" in flashes and "link to docs/a.md" in flashes


def test_the_editor_page_refuses_hostile_paths_with_422(editor_page: tuple[TestClient, str], cast: Cast,
                                                        ctx: AppContext) -> None:
    client, token = editor_page
    item = make_work_item(cast.editor)
    before = tip(ctx.repo_path, item["branch"])
    for bad in ("../../etc/x.md", "/tmp/x.md", "docs/" + "c" * 300 + ".md", "docs/x.html"):
        response = client.post("/docs/new", data={"csrf_token": token, "path": bad, "content": "# x\n",
                                                  "target": str(item["id"])})
        assert response.status_code == 422, bad
        assert "refused" in response.text
        assert client.get(f"/docs/new?path={bad}").status_code == 422
    assert tip(ctx.repo_path, item["branch"]) == before and worktree_status(item) == ""
    assert len(cast.editor.get("/api/v1/work-items").json()["items"]) == 1  # no work item started


def test_the_live_preview_fragment_is_sanitised(editor_page: tuple[TestClient, str]) -> None:
    client, token = editor_page
    response = client.post("/docs/preview", data={"content": "# Hello\n\n<script>alert(1)</script>\n\n[x](b.md)",
                                                  "path": "docs/guides/a.md"},
                           headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert response.status_code == 200
    assert "Hello</h1>" in response.text and "<script" not in response.text
    assert 'href="/docs/view/docs/guides/b.md"' in response.text


def test_the_preview_api_renders_like_the_viewer(cast: Cast) -> None:
    response = cast.viewer.post("/api/v1/docs/preview", json={"markdown": "# Title\n\n<img src=x onerror=alert(1)>"})
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Title" and "onerror" not in body["html"]


# -- standard changes ------------------------------------------------------------------------------------------

def test_a_standard_change_creates_commits_documents_and_merges_a_work_item(cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    response = cast.editor.post("/api/v1/standard-changes/docs", json={
        "operation": "save", "path": "docs/wifi.md", "content": "# Wi-Fi\n\nGuest password rotates monthly.\n",
        "summary": "Document the guest Wi-Fi"})
    assert response.status_code == 201, response.text
    body = response.json()
    item = body["work_item"]
    assert item["status"] == "complete" and item["category"] == "standard" and item["action"] == "new"
    assert item["notes"] == "Document the guest Wi-Fi" and all(c["done"] for c in item["checklist"])
    assert show(repo, "main", "docs/wifi.md").startswith("# Wi-Fi")
    assert tip(repo, "main") == item["merge_commit"]
    assert f"- Added doc docs/wifi.md ([#{item['id']}](/work/{item['id']}))" in show(repo, "main", "CHANGES.md")
    assert any(p.startswith("docs/work-log/") for p in files_in(repo, item["merge_commit"]))

    renamed = cast.editor.post("/api/v1/standard-changes/docs", json={
        "operation": "rename", "path": "docs/wifi.md", "new_path": "docs/network/wifi.md",
        "summary": "Move the Wi-Fi doc"})
    assert renamed.status_code == 201, renamed.text
    deleted = cast.editor.post("/api/v1/standard-changes/docs", json={
        "operation": "delete", "path": "docs/network/wifi.md", "summary": "Drop the Wi-Fi doc"})
    assert deleted.status_code == 201, deleted.text
    assert "wifi" not in git(repo, "ls-tree", "-r", "--name-only", "main")


def test_a_standard_change_through_the_editor_page_lands_on_main(editor_page: tuple[TestClient, str],
                                                                  ctx: AppContext) -> None:
    client, token = editor_page
    page = client.get("/docs/new?path=docs/ups.md")
    assert 'value="standard"' in page.text
    response = client.post("/docs/new", data={"csrf_token": token, "path": "docs/ups.md", "content": "# UPS\n",
                                              "target": "standard", "summary": "Document the UPS"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/docs/view/docs/ups.md"
    assert show(ctx.repo_path, "main", "docs/ups.md") == "# UPS\n"


def test_standard_changes_are_refused_when_an_admin_switched_them_off(
        cast: Cast, ctx: AppContext, editor_page: tuple[TestClient, str]) -> None:
    with ctx.session_factory() as session:
        from calcifer.auth import service as auth_service

        admin = auth_service.get_user_by_username(session=session, username="alice")
        prefs.set_pref(session=session, actor=admin, key=Pref.STANDARD_CHANGES_ENABLED, value=False)
    main_before = tip(ctx.repo_path, "main")
    response = cast.editor.post("/api/v1/standard-changes/docs", json={
        "operation": "save", "path": "docs/x.md", "content": "# X\n", "summary": "Add X"})
    assert error_of(response, 409)["code"] == "standard_changes_disabled"
    client, token = editor_page
    assert 'value="standard"' not in client.get("/docs/new?path=docs/x.md").text
    page = client.post("/docs/new", data={"csrf_token": token, "path": "docs/x.md", "content": "# X\n",
                                          "target": "standard", "summary": "Add X"})
    assert page.status_code == 409 and "switched off" in page.text
    assert tip(ctx.repo_path, "main") == main_before
    assert cast.editor.get("/api/v1/work-items").json()["items"] == []


def test_a_standard_change_with_bad_input_leaves_nothing_behind(cast: Cast, ctx: AppContext) -> None:
    main_before = tip(ctx.repo_path, "main")
    for body, status in (({"operation": "save", "path": "../x.md", "content": "x", "summary": "x"}, 422),
                         ({"operation": "save", "path": "docs/x.md", "content": "x", "summary": " "}, 422),
                         ({"operation": "delete", "path": "docs/none.md", "summary": "Remove it"}, 404),
                         ({"operation": "explode", "path": "docs/x.md", "summary": "x"}, 422)):
        error_of(cast.editor.post("/api/v1/standard-changes/docs", json=body), status)
    assert tip(ctx.repo_path, "main") == main_before
    assert cast.editor.get("/api/v1/work-items").json()["items"] == []
