"""Writing a doc in the browser: from a template, in a work item, with the htmx live preview; commit, merge,
then find it (search, and the doc viewer). Checked at the end with the real git CLI."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role
from calcifer.work import service as work_service
from calcifer.work.schemas import WorkItemUpdate
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.conftest import make_user

pytestmark = pytest.mark.browser

DOC = "docs/runbooks/zeppelin-restarts.md"
WORD = "quixoticzeppelin"  # a word no other doc holds, to find the doc again


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=True)
    return result.stdout


def create_work_item(page: Any, server: LiveServer, title: str) -> int:
    page.goto(server("/work/new"))
    page.fill("#f-title", title)
    page.select_option("#category", "documentation")
    page.select_option("#action", "new")
    with page.expect_navigation():
        page.click("form[action='/work'] button[type=submit]")
    match = re.fullmatch(re.escape(server("/work/")) + r"(\d+)", page.url)
    assert match, page.url
    return int(match.group(1))


def document_the_item(server: LiveServer, item_id: int, username: str) -> None:
    """Tick the checklist and write the notes (the work-item pages have their own browser test)."""
    with server.ctx.session_factory() as session:
        actor = auth_service.get_user_by_username(session=session, username=username)
        item = work_service.get_work_item(session=session, item_id=item_id)
        for index in range(len(item.checklist)):
            work_service.set_checklist_done(session=session, actor=actor, item_id=item_id, index=index, done=True)
        work_service.update_work_item(session=session, actor=actor, item_id=item_id,
                                      data=WorkItemUpdate(notes="Wrote the zeppelin restart runbook."))


def test_write_a_doc_from_a_template_with_live_preview_commit_merge_and_find_it(
        page: Any, live_server: LiveServer, console: Console) -> None:
    ctx = live_server.ctx
    make_user(ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    item_id = create_work_item(page, live_server, "Runbook for zeppelin restarts")

    # -- choose path, title and template --------------------------------------------------------------
    page.goto(live_server(f"/docs/new?item={item_id}"))
    assert page.locator("#template-choices input[value=runbook]").count() == 1
    page.fill("#new-path", DOC)
    page.fill("#new-title", "Restart the zeppelin")
    page.check("#template-choices input[value=runbook]")
    with page.expect_navigation():
        page.click("#doc-new-open")
    assert page.url.startswith(live_server("/docs/new?"))
    assert page.input_value("#doc-path") == DOC
    assert page.input_value("#doc-target") == str(item_id)
    text = page.input_value("#doc-content")
    assert text.startswith("# Runbook: Restart the zeppelin\n"), text[:200]
    assert "{{" not in text.replace("{{ service.name }}", "")  # only the service is left to fill
    assert page.locator("#doc-unfilled").inner_text().count("service.name") == 1
    assert page.locator("#doc-preview h1").inner_text() == "Runbook: Restart the zeppelin"

    # -- the live preview follows the typing, without a reload ------------------------------------------
    page.evaluate("window.__marker = 1")
    textarea = page.locator("#doc-content")
    textarea.press("Control+End")
    with page.expect_response(lambda r: r.url.endswith("/docs/preview") and r.request.method == "POST") as answer:
        textarea.press_sequentially(f"\n\n## Notes\n\nThe {WORD} needs **two** people.\n", delay=5)
    assert answer.value.status == 200
    page.wait_for_function("w => document.querySelector('#doc-preview').textContent.includes(w)", arg=WORD)
    assert page.locator("#doc-preview strong", has_text="two").count() == 1
    assert page.locator("#doc-preview h2", has_text="Notes").count() == 1
    assert page.evaluate("window.__marker") == 1, "the preview reloaded the page"
    shot(page, "docs-editor-desktop")
    box_editor = page.locator("#doc-content").bounding_box()
    box_preview = page.locator("#doc-preview").bounding_box()
    assert box_preview["x"] > box_editor["x"] + box_editor["width"] - 1, "side by side on a desktop"

    # -- commit into the work item ---------------------------------------------------------------------------
    with page.expect_navigation():
        page.click("#doc-save")
    assert page.url == live_server(f"/docs/edit/{DOC}?item={item_id}")
    flashes = page.locator("#flashes").inner_text()
    assert f"Added {DOC} on work item #{item_id}" in flashes, flashes
    assert "Showing the version on work item" in page.locator("#doc-source").inner_text()
    assert WORD in page.input_value("#doc-content")
    branch = f"documentation/new/{item_id}-runbook-for-zeppelin-restarts"
    assert WORD in git(ctx.repo_path, "show", f"{branch}:{DOC}")
    assert f"Added doc {DOC}" in git(ctx.repo_path, "show", f"{branch}:CHANGES.md")

    # -- merge from the work item's page ---------------------------------------------------------------------
    document_the_item(live_server, item_id, "eddie")
    page.goto(live_server(f"/work/{item_id}"))
    assert page.locator("#commits li").count() == 1
    with page.expect_navigation():
        page.click("#merge-button")
    assert page.locator(".page-header .badge-complete").count() == 1
    merge_commit = page.locator("#merge-commit").inner_text().strip()
    assert git(ctx.repo_path, "rev-parse", "main").strip() == merge_commit
    assert WORD in git(ctx.repo_path, "show", f"main:{DOC}")
    work_log = f"docs/work-log/{dt.datetime.now(dt.UTC).year}/{item_id}-runbook-for-zeppelin-restarts.md"
    assert work_log in git(ctx.repo_path, "show", "--stat=300", "--format=", merge_commit)

    # -- find it -------------------------------------------------------------------------------------------------
    # Find it by search: its unique word gives exactly this doc, and the hit opens the viewer.
    page.goto(live_server(f"/search?q={WORD}&kind=doc"))
    hit = page.locator(f".search-hit a[href='/docs/view/{DOC}']")
    assert hit.count() == 1, page.locator(".search-results").inner_text()
    hit.click()
    page.wait_for_url(f"**/docs/view/{DOC}")
    # The viewer check always runs.
    page.goto(live_server(f"/docs/view/{DOC}"))
    assert page.get_by_text(WORD).count() >= 1
    assert page.locator("h1", has_text="Runbook: Restart the zeppelin").count() >= 1
    console.assert_clean()



def test_the_editor_stacks_on_a_phone_and_refuses_a_hostile_path(
        new_context: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    page = new_context(PHONE).new_page()
    login(page, live_server, "eddie")
    page.goto(live_server("/docs/new?path=docs/phone.md&template=decision-record&title=Use%20ZFS"))
    assert page.locator("#doc-preview h1").inner_text() == "Decision: Use ZFS"
    editor, preview = page.locator("#doc-content").bounding_box(), page.locator("#doc-preview").bounding_box()
    assert preview["y"] >= editor["y"] + editor["height"] - 1, "stacked on a phone"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the editor is {width}px wide on a {PHONE['width']}px phone"
    shot(page, "docs-editor-phone")
    # A hostile path typed into the form: a clear 422 page, nothing written.
    page.fill("#doc-path", "../../etc/evil.md")
    console.expect(r"422")
    with page.expect_navigation():
        page.click("#doc-save")
    assert "refused" in page.locator("#doc-error").inner_text()
    assert page.input_value("#doc-content").startswith("# Decision: Use ZFS")  # the text is kept
    assert git(live_server.ctx.repo_path, "ls-tree", "-r", "--name-only", "main").count("evil") == 0
