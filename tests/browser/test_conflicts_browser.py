"""Conflicts resolved in Chromium, end to end: a work item's branch and main both changed the same lines
of a doc; "Update from main" leaves two conflicting hunks; one is decided with "Take ours", the other
edited by hand; the resolution is committed (a merge commit with both parents, checked with the git CLI),
the merge check passes and the work item merges."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.browser.test_docs_browser import api, land
from tests.conftest import make_user

pytestmark = pytest.mark.browser

DOC = "docs/runbooks/restart.md"


def runbook(**changed: str) -> str:
    lines = [f"Step {n}: check the service." for n in range(1, 13)]
    for key, text in changed.items():
        lines[int(key.removeprefix("s")) - 1] = text
    return "# Restart\n\n" + "\n".join(lines) + "\n"


def git(repo: Path, *args: str) -> str:
    """The real git CLI against the managed bare repository (an argument list, never a shell)."""
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout


def conflicted_setup(server: LiveServer) -> dict[str, Any]:
    """A documented work item whose branch changed steps 2 and 9, and main changing them otherwise."""
    with api(server, "eddie") as client:
        land(client, {DOC: runbook()}, title="Restart runbook", entry="Restart runbook")
        item = client.post("/api/v1/work-items", json={"title": "Restart gently", "category": "service",
                                                       "action": "change"}).json()
        assert client.put(f"/api/v1/work-items/{item['id']}/files/{DOC}", json={"content": runbook(
            s2="Step 2: drain the connections first.", s9="Step 9: wait for the health check.")}).status_code == 200
        assert client.post(f"/api/v1/work-items/{item['id']}/commits", json={
            "message": "Gentler restarts", "changelog": {"type": "Changed", "text": "Gentler restarts"}}
        ).status_code == 201
        for index in range(len(item["checklist"])):
            assert client.put(f"/api/v1/work-items/{item['id']}/checklist/{index}",
                              json={"done": True}).status_code == 200
        assert client.patch(f"/api/v1/work-items/{item['id']}",
                            json={"notes": "Drain first. Roll back by reverting the merge."}).status_code == 200
        land(client, {DOC: runbook(s2="Step 2: restart at once.", s9="Step 9: skip the checks.")},
             title="Restart fast", entry="Faster restarts")
    return dict(item)


def test_conflicts_are_resolved_hunk_by_hunk_in_the_browser(page: Any, new_context: Any, live_server: LiveServer,
                                                             console: Console) -> None:
    ctx = live_server.ctx
    make_user(ctx, "eddie", Role.EDITOR)
    item = conflicted_setup(live_server)
    item_url = live_server(f"/work/{item['id']}")
    login(page, live_server, "eddie")
    page.goto(item_url)
    # The branch's own changes, drawn by the shared diff view.
    changes = page.locator("#branch-changes")
    assert changes.locator(".diff-table tr.diff-add", has_text="drain the connections first").count() == 1

    with page.expect_navigation():
        page.click("form[action$='/update-from-main'] button")
    assert page.url == live_server(f"/work/{item['id']}/conflicts")
    assert "conflicts in" in page.locator("#flashes").inner_text()
    branch_before = git(ctx.repo_path, "rev-parse", item["branch"]).strip()
    main = git(ctx.repo_path, "rev-parse", "main").strip()

    file = page.locator(".conflict-file", has_text=DOC)
    hunks = file.locator(".conflict-hunk")
    assert hunks.count() == 2
    first, second = hunks.nth(0), hunks.nth(1)
    assert first.locator(".conflict-base pre").inner_text().strip() == "Step 2: check the service."
    assert first.locator(".conflict-ours pre").inner_text().strip() == "Step 2: drain the connections first."
    assert first.locator(".conflict-theirs pre").inner_text().strip() == "Step 2: restart at once."
    assert "line 4" in first.locator(".conflict-ours figcaption").inner_text()
    shot(page, "conflicts-light")

    phone = new_context(PHONE).new_page()
    login(phone, live_server, "eddie")
    phone.goto(page.url)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    shot(phone, "conflicts-phone")

    # Hunk 1: take ours (htmx swaps the files in place).
    first.get_by_role("button", name="Take ours").click()
    page.wait_for_function("() => document.querySelector('#file-1-hunk-1').classList.contains('conflict-hunk-done')")
    assert "1 hunk(s) left to decide" in page.locator("#flashes").inner_text()
    merged = page.locator("#file-1-merged").input_value()
    assert "Step 2: drain the connections first.\n" in merged and merged.count("<<<<<<<") == 1

    # Hunk 2: edited by hand, starting from main's lines (the small script fills the box).
    second = page.locator("#file-1-hunk-2")
    second.locator("details summary").click()
    second.get_by_role("button", name="Start from theirs").click()
    box = second.locator("textarea[name=text]")
    assert box.input_value() == "Step 9: skip the checks.\n"
    box.fill("Step 9: wait for the health check, then skip the rest.\n")
    second.get_by_role("button", name="Use this text").click()
    page.wait_for_function("() => document.querySelector('#conflict-summary').textContent"
                           ".includes('every one is resolved')")
    assert file.locator(".card-header .badge").inner_text() == "resolved"
    page.emulate_media(color_scheme="dark")
    shot(page, "conflicts-resolved-dark")
    page.emulate_media(color_scheme="light")

    with page.expect_navigation():
        page.click("#resolve-button")
    assert page.url.split("#")[0] == item_url
    assert "Conflicts resolved" in page.locator("#flashes").inner_text()
    commit = git(ctx.repo_path, "rev-parse", item["branch"]).strip()
    assert git(ctx.repo_path, "rev-parse", f"{commit}^1").strip() == branch_before
    assert git(ctx.repo_path, "rev-parse", f"{commit}^2").strip() == main
    assert page.locator("#merge-ready").is_visible()

    with page.expect_navigation():
        page.click("#merge-button")
    assert "is complete" in page.locator("#flashes").inner_text()
    text = git(ctx.repo_path, "show", f"main:{DOC}")
    assert "Step 2: drain the connections first." in text
    assert "Step 9: wait for the health check, then skip the rest." in text and "<<<<<<<" not in text
    changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    assert "Gentler restarts" in changelog and "Faster restarts" in changelog


def test_a_work_items_changes_use_the_shared_diff_view_and_load_a_large_file_alone(
        page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    with api(live_server, "eddie") as client:
        land(client, {DOC: runbook()}, title="Restart runbook", entry="Restart runbook")
        item = client.post("/api/v1/work-items", json={"title": "Long data", "category": "service",
                                                       "action": "change"}).json()
        for path, content in ((DOC, runbook(s3="Step 3: check the service twice.")),
                              ("data/long.txt", "".join(f"row {n}\n" for n in range(10_000)))):
            written = client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": content})
            assert written.status_code in (200, 201), written.text
        assert client.post(f"/api/v1/work-items/{item['id']}/commits", json={
            "message": "Long data", "changelog": {"type": "Added", "text": "Long data"}}).status_code == 201
    login(page, live_server, "eddie")
    page.goto(live_server(f"/work/{item['id']}"))
    files = page.locator("#branch-changes details.commit-file")
    runbook_file = files.filter(has_text=DOC)
    assert runbook_file.locator("mark.diff-word", has_text="twice").count() == 1  # drawn in the page
    long_file = files.filter(has_text="data/long.txt")
    assert long_file.locator(".diff-table").count() == 0  # too long to draw with the page
    long_file.locator("summary").click()  # closed until asked for
    long_file.get_by_role("link", name="Load the diff (10000 lines)").click()
    # 10,000 rows drawn and laid out: seconds on a loaded machine, so a longer deadline than the default.
    long_file.locator(".diff-table tr.diff-add", has_text="row 9999").wait_for(timeout=60_000)
    assert page.url == live_server(f"/work/{item['id']}")  # loaded in place

    with page.expect_navigation():
        page.locator("#branch-changes #diff-mode").click()
    assert page.url.endswith("?view=split#branch-changes")
    assert page.locator("#branch-changes table.diff-split").count() >= 1
    shot(page, "work-branch-changes-split")
