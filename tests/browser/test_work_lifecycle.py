"""A work item's whole life through the browser, checked at the end with the real git CLI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import Console, LiveServer, login, shot
from tests.conftest import make_user

pytestmark = pytest.mark.browser

GRAFANA = "name: Grafana\nslug: grafana\nkind: container\nowner: ops\nurls:\n  - http://grafana.lan:3000\n"
ENTRY = "Grafana dashboards for the homelab"
NOTES = "Deployed Grafana 11 with compose.\nRoll back: revert the merge commit and stop the container."


def git(repo: Path, *args: str) -> str:
    """The real git CLI against the managed bare repository (an argument list, never a shell)."""
    result = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                            check=True)
    return result.stdout


def wait_progress(page: Any, done: int, total: int) -> None:
    """Wait until htmx has swapped in a checklist whose progress reads "DONE of TOTAL done"."""
    page.wait_for_function("([n, total]) => document.querySelector('#checklist-progress').textContent"
                           ".trim() === `${n} of ${total} done`", arg=[done, total])


def create_work_item(page: Any, server: LiveServer, title: str, category: str = "service",
                     action: str = "new") -> str:
    """Fill /work/new and return the new item's page URL."""
    page.goto(server("/work/new"))
    page.fill("#f-title", title)
    page.select_option("#category", category)
    page.select_option("#action", action)
    with page.expect_navigation():
        page.click("form[action='/work'] button[type=submit]")
    assert re.fullmatch(re.escape(server("/work/")) + r"\d+", page.url), page.url
    return str(page.url)


def test_work_item_lifecycle(page: Any, live_server: LiveServer, console: Console) -> None:
    ctx = live_server.ctx
    make_user(ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")

    # -- create ------------------------------------------------------------------------------------
    item_url = create_work_item(page, live_server, "Add Grafana")
    item_id = int(item_url.rsplit("/", 1)[1])
    assert page.locator("h1").inner_text() == "Add Grafana"
    assert f"Work item #{item_id} created" in page.locator("#flashes").inner_text()
    branch = page.locator("dl.kv dt:text-is('Branch') + dd").inner_text().strip()
    assert branch == f"service/new/{item_id}-add-grafana"
    worktree = Path(page.locator("#worktree-path").inner_text().strip())
    assert worktree.is_dir() and worktree.parent == live_server.settings.worktrees_dir, worktree
    assert git(ctx.repo_path, "rev-parse", "--verify", f"refs/heads/{branch}").strip()
    checklist_size = page.locator("#checklist-block input[type=checkbox]").count()
    assert checklist_size > 0
    assert page.locator("#checklist-progress").inner_text() == f"0 of {checklist_size} done"

    # -- new file ------------------------------------------------------------------------------------
    with page.expect_navigation():
        page.locator(".page-header .actions a", has_text="New file").click()
    assert page.url == f"{item_url}/file"
    page.fill("#f-path", "catalog/services/grafana.yaml")
    page.fill("#content", GRAFANA)
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Save to worktree')")
    assert page.url.split("#")[0] == item_url
    assert (worktree / "catalog/services/grafana.yaml").read_text() == GRAFANA
    change = page.locator("#changes .changes-list > li", has_text="catalog/services/grafana.yaml")
    assert change.count() == 1
    assert change.locator(".badge").inner_text() == "added"
    change.locator("details summary").click()
    diff = change.locator(".diffview .diff-table")
    assert diff.is_visible()
    added = [text.strip() for text in diff.locator("tr.diff-add td.diff-code").all_inner_texts()]
    assert "+name: Grafana" in added and "+  - http://grafana.lan:3000" in added, added

    # -- commit ----------------------------------------------------------------------------------------
    page.fill("#f-message", "Add the grafana service")
    page.select_option("#changelog_type", "Added")
    page.fill("#f-changelog_text", ENTRY)
    with page.expect_navigation():
        page.click("#commit button[type=submit]")
    assert "Committed" in page.locator("#flashes").inner_text()
    commits = page.locator("#commits li")
    assert commits.count() == 1
    assert "Add the grafana service" in commits.first.inner_text()
    assert page.locator("#commit").count() == 0  # nothing left uncommitted
    assert "1 ahead" in page.locator("#branch-status").inner_text()

    # -- merge refused: every unmet rule is listed ------------------------------------------------------
    with page.expect_navigation():
        page.click("#merge-button")
    assert page.url.split("#")[0] == item_url
    assert page.locator("#flashes .alert-error").count() == 1
    codes = page.locator("ul#merge-problems li[data-code]").evaluate_all(
        "items => items.map(li => li.dataset.code)")
    assert set(codes) == {"checklist_incomplete", "notes_empty"}, codes
    assert page.locator("#merge-ready").count() == 0
    assert git(ctx.repo_path, "rev-list", "--count", "main").strip() == "1"  # main untouched

    shot(page, "work-item-open-light")
    page.emulate_media(color_scheme="dark")  # the "system" theme follows the OS
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
    shot(page, "work-item-open-dark")
    page.emulate_media(color_scheme="light")

    # -- tick the checklist with htmx: no navigation -----------------------------------------------------
    page.evaluate("window.__marker = 1")
    page.locator("#checklist-block input[data-checklist-index='0']").click()
    wait_progress(page, 1, checklist_size)
    page.locator("#checklist-block input[data-checklist-index='0']").click()  # untick it again
    wait_progress(page, 0, checklist_size)
    assert not page.locator("#checklist-block input[data-checklist-index='0']").is_checked()
    for index in range(checklist_size):
        box = page.locator(f"#checklist-block input[data-checklist-index='{index}']")
        assert not box.is_checked()
        with page.expect_response(lambda r, i=index: r.url.endswith(f"/checklist/{i}/toggle")) as answer:
            box.click()
        assert answer.value.status == 200
        wait_progress(page, index + 1, checklist_size)
        assert page.locator(f"#checklist-block input[data-checklist-index='{index}']").is_checked()
    assert page.evaluate("window.__marker") == 1, "ticking the checklist reloaded the page"
    assert page.url.split("#")[0] == item_url
    assert page.locator("#checklist-block li.done").count() == checklist_size
    assert page.locator("#checklist-progress").inner_text() == f"{checklist_size} of {checklist_size} done"

    # -- notes with the live counter -------------------------------------------------------------------------
    counter = page.locator("[data-counter-for=notes-text]")
    assert counter.inner_text() == "0 / 2000"
    page.locator("#notes-text").press_sequentially("Deployed")
    assert counter.inner_text() == "8 / 2000"
    page.fill("#notes-text", NOTES)
    assert counter.inner_text() == f"{len(NOTES)} / 2000"
    assert page.evaluate("window.__marker") == 1
    with page.expect_navigation():
        page.click("#notes button[type=submit]")
    assert "Notes saved" in page.locator("#flashes").inner_text()
    assert page.input_value("#notes-text") == NOTES
    assert page.locator("#merge-problems").count() == 0
    assert page.locator("#merge-ready").is_visible()

    # -- merge and complete ---------------------------------------------------------------------------------
    with page.expect_navigation():
        page.click("#merge-button")
    assert page.url == item_url
    assert page.locator(".page-header .badge").inner_text() == "Complete"  # human status words
    assert page.locator(".page-header .badge-complete").count() == 1
    merge_commit = page.locator("#merge-commit").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{40}", merge_commit), merge_commit
    assert "is complete" in page.locator("#flashes").inner_text()
    assert page.locator("#merge-button").count() == 0
    assert page.locator("#checklist-block input[type=checkbox]").count() == 0  # read-only now
    shot(page, "work-item-complete")

    # -- what git itself says ------------------------------------------------------------------------
    repo = ctx.repo_path
    assert git(repo, "rev-parse", "main").strip() == merge_commit
    assert git(repo, "show", "main:catalog/services/grafana.yaml") == GRAFANA
    changes = git(repo, "show", "main:CHANGES.md")
    assert ENTRY in changes, changes
    assert re.search(r"^### Added$", changes, re.M), changes
    parents = git(repo, "log", "-1", "--format=%P", "main").split()
    assert len(parents) == 2, parents

    # the dashboard shows it as completed and its changelog entry
    page.goto(live_server("/"))
    assert page.locator(".card", has_text="Recently completed").get_by_text("Add Grafana").count() == 1
    assert page.locator(".changelog-list").get_by_text(ENTRY).count() == 1
    page.goto(live_server("/services"))
    # The merge re-indexed the catalog: the service is listed, with no problem reported.
    assert page.locator("#services-table a", has_text="Grafana").count() == 1
    assert page.locator("#catalog-problems").count() == 0

    # the completed item still fits a phone
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(item_url)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 376, f"the completed work item is {scroll_width}px wide at 375px"
    console.assert_clean()


def test_notes_counter_turns_into_an_error_over_2000(page: Any, live_server: LiveServer,
                                                     console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    item_url = create_work_item(page, live_server, "Write long notes", category="documentation")
    counter = page.locator("[data-counter-for=notes-text]")
    normal_colour = counter.evaluate("el => getComputedStyle(el).color")
    danger_colour = page.evaluate("""() => {
        const probe = document.createElement('span');
        probe.style.color = 'var(--danger-text)';
        document.body.appendChild(probe);
        const colour = getComputedStyle(probe).color;
        probe.remove();
        return colour;
    }""")
    assert normal_colour != danger_colour

    page.fill("#notes-text", "x" * 2000)
    assert counter.inner_text() == "2000 / 2000"
    assert "counter-over" not in (counter.get_attribute("class") or "")
    assert counter.get_attribute("data-over") == "false"

    page.locator("#notes-text").press("End")
    page.keyboard.type("y")  # the browser does not stop typing at the limit
    assert page.input_value("#notes-text") == "x" * 2000 + "y"
    assert counter.inner_text() == "2001 / 2000"
    assert "counter-over" in (counter.get_attribute("class") or "").split()
    assert counter.get_attribute("data-over") == "true"
    assert counter.evaluate("el => getComputedStyle(el).color") == danger_colour
    assert int(counter.evaluate("el => getComputedStyle(el).fontWeight")) >= 600

    # emoji count once each, as Python's len() does
    page.fill("#notes-text", "🔥" * 10)
    assert counter.inner_text() == "10 / 2000"
    assert "counter-over" not in (counter.get_attribute("class") or "").split()

    # the server refuses the over-long notes with a message and keeps nothing
    page.fill("#notes-text", "z" * 2001)
    with page.expect_navigation():
        page.click("#notes button[type=submit]")
    console.expect(r"Failed to load resource: the server responded with a status of 422")
    assert page.url.split("#")[0] == item_url
    error = page.locator("#flashes .alert-error")
    assert error.count() == 1 and "at most 2000" in error.inner_text(), page.locator("#flashes").inner_text()
    assert page.input_value("#notes-text") == ""
    console.assert_clean()
