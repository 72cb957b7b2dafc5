"""Docs read like a wiki in Chromium: page tree, contents beside the text, alerts in both themes, a live
preview that follows pasted text, and search results with one-click kind filters. Screenshots in
CALCIFER_SHOTS_DIR (docs-wiki-*, search-wiki-*)."""

from __future__ import annotations

from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import DESKTOP, PHONE, Console, LiveServer, login, shot
from tests.browser.test_docs_browser import api, land
from tests.conftest import make_user

pytestmark = pytest.mark.browser

BACKUP_DOC = """# Backup runbook

Backups of the homelab run every night at two; this page says how to check them and how to restore.

> [!NOTE]
> The NAS keeps thirty days of snapshots.

> [!WARNING]
> Never restore over a running database: stop the service first.

## Check last night's run

Open the dashboard and look for the green tick next to each host. A red cross means the job failed.

## Restore a file

1. Find the snapshot.
2. Copy the file back.

### From the offsite copy

> [!CAUTION]
> The offsite copy is slow: plan for an afternoon.

## Who to call

The on-call person, then the owner of the service.
"""

ALERT_STYLE = """sel => { const s = getComputedStyle(document.querySelector(sel));
  return [s.borderLeftColor, getComputedStyle(document.querySelector(sel + ' .markdown-alert-title')).color]; }"""


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)


def test_a_doc_page_has_its_tree_contents_and_alerts_in_both_themes_and_on_a_phone(
        new_context: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    with api(live_server, "eddie") as client:
        land(client, {"docs/index.md": "# Home\n\nStart here.\n", "docs/runbooks/backup.md": BACKUP_DOC,
                      "docs/runbooks/restore-drill.md": "# Restore drill\n\nTwice a year.\n",
                      "docs/services/grafana.md": "# Grafana\n\nDashboards.\n"},
             title="Backup docs", entry="Backup runbook")
    page = new_context(DESKTOP).new_page()
    login(page, live_server, "eddie")
    page.goto(live_server("/docs/view/docs/runbooks/backup.md"))
    assert page.locator("h1").count() == 1 and page.locator("h1#doc-title").inner_text() == "Backup runbook"
    assert page.locator("#toc a").all_inner_texts() == ["Check last night's run", "Restore a file",
                                                        "From the offsite copy", "Who to call"]
    assert page.locator("#doc-tree a[aria-current=page]").inner_text() == "Backup runbook"
    assert page.locator("#doc-tree a", has_text="Restore drill").count() == 1
    assert page.locator("#doc-body .markdown-alert").count() == 3
    assert page.locator("#doc-body .markdown-alert-title").all_inner_texts() == ["Note", "Warning", "Caution"]

    tree, text, toc = box(page, "#doc-tree"), box(page, "#doc-body"), box(page, "#toc")
    assert tree["x"] + tree["width"] <= text["x"], "the page tree sits left of the text"
    assert toc["x"] >= text["x"] + text["width"], "the contents sit right of the text"
    assert 480 <= text["width"] <= 720, f"a comfortable text column, not {text['width']} px"
    light_note, light_warning = page.evaluate(ALERT_STYLE, ".markdown-alert-note"), page.evaluate(
        ALERT_STYLE, ".markdown-alert-warning")
    assert light_note != light_warning, "each kind of alert has its own colour"
    shot(page, "docs-wiki-desktop-light")
    page.emulate_media(color_scheme="dark")
    dark_note = page.evaluate(ALERT_STYLE, ".markdown-alert-note")
    assert dark_note[1] != light_note[1], "the alert title follows the dark theme"
    shot(page, "docs-wiki-desktop-dark")

    phone = new_context(PHONE).new_page()
    login(phone, live_server, "eddie")
    phone.goto(live_server("/docs/view/docs/runbooks/backup.md"))
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    toc, text, tree = box(phone, "#toc"), box(phone, "#doc-body"), box(phone, "#doc-tree")
    assert toc["y"] + toc["height"] <= text["y"] <= tree["y"], "on a phone: contents, text, then the tree"
    shot(phone, "docs-wiki-phone-light")
    phone.emulate_media(color_scheme="dark")
    shot(phone, "docs-wiki-phone-dark")


def test_the_editor_preview_follows_pasted_text(new_context: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    page = new_context(DESKTOP).new_page()
    login(page, live_server, "eddie")
    page.goto(live_server("/docs/new?path=docs/pasted.md&title=Pasted"))
    # fill() sets the text the way a paste does: one input event, no key pressed.
    with page.expect_response(lambda r: r.url.endswith("/docs/preview") and r.request.method == "POST"):
        page.fill("#doc-content", "# Pasted\n\n> [!TIP]\n> The pelican preview follows a paste.\n")
    page.wait_for_function("() => document.querySelector('#doc-preview .markdown-alert-tip') !== null")
    assert "pelican" in page.locator("#doc-preview .markdown-alert-tip").inner_text()


def test_search_results_put_the_titled_doc_first_with_kind_filters_one_click_away(
        new_context: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    with api(live_server, "eddie") as client:
        land(client, {"docs/runbooks/backup.md": BACKUP_DOC,
                      "docs/notes.md": "# Notes\n\n- **backup** of the NAS is in [the runbook](runbooks/backup.md)\n"},
             title="Runbooks for the NAS", entry="Backup: backup runbook for backup")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = new_context(viewport).new_page()
        login(page, live_server, "eddie")
        page.goto(live_server("/search?q=backup"))
        hits = page.locator("#search-results .search-hit")
        assert hits.first.locator(".search-hit-title").inner_text() == "Backup runbook"
        snippets = " ".join(page.locator("#search-results .search-snippet").all_inner_texts())
        assert "**" not in snippets and "](" not in snippets and "[!" not in snippets, snippets
        shot(page, f"search-wiki-{name}-light")
        if name == "desktop":
            page.emulate_media(color_scheme="dark")
            shot(page, "search-wiki-desktop-dark")
            page.emulate_media(color_scheme="light")
            with page.expect_navigation():
                page.locator("#search-kinds a", has_text="Docs").click()
            assert "kind=doc" in page.url
            assert set(page.locator("#search-results .search-hit .badge").all_inner_texts()) == {"Docs"}
            assert page.locator("#search-kinds a[aria-current=page]").inner_text().startswith("Docs")
