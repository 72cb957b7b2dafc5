"""Main's history in Chromium: the list, a commit's collapsible diffs, light and dark, on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.browser.test_docs_browser import api, land
from tests.conftest import make_user

pytestmark = pytest.mark.browser

SERVICE = "name: Grafana\nslug: grafana\nkind: container\ndescription: Dashboards of the homelab.\n"
RUNBOOK = "# Grafana runbook\n\nRestart the container.\n\n" + "".join(f"- step {n}\n" for n in range(12))


def test_history_lists_main_and_shows_a_commit_with_its_diffs(page: Any, new_context: Any,
                                                             live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    with api(live_server, "eddie") as client:
        land(client, {"catalog/services/grafana.yaml": SERVICE}, title="Add Grafana", entry="Grafana service")
        land(client, {"docs/runbooks/grafana.md": RUNBOOK, "catalog/services/grafana.yaml": SERVICE + "owner: ops\n"},
             title="Grafana runbook and owner", entry="Grafana runbook")

    login(page, live_server, "eddie")
    page.goto(live_server("/history"))
    assert page.locator(".site-nav a[aria-current=page]").inner_text() == "History"
    rows = page.locator("#commits-table tbody tr")
    assert "Grafana runbook and owner" in rows.first.inner_text()
    shot(page, "history-list-light")

    page.goto(live_server("/services/grafana"))
    with page.expect_navigation():
        page.locator("#service-history").click()
    assert page.locator("#f-path").input_value() == "catalog/services/grafana.yaml"
    assert page.locator("#commits-table tbody tr").count() == 2

    with page.expect_navigation():
        page.locator("#commits-table tbody tr").first.locator("td").first.locator("a").click()
    files = page.locator("#commit-files details.commit-file")
    assert {"CHANGES.md", "catalog/services/grafana.yaml", "docs/runbooks/grafana.md"} <= \
        set(files.locator("summary .mono").all_inner_texts())
    runbook = files.filter(has_text="docs/runbooks/grafana.md")
    assert runbook.locator(".diff-table tr.diff-add", has_text="Restart the container.").count() == 1
    runbook.locator("summary").click()  # collapses
    assert runbook.locator(".diff-table").is_hidden()
    runbook.locator("summary").click()
    shot(page, "history-commit-light")
    page.emulate_media(color_scheme="dark")
    shot(page, "history-commit-dark")

    phone = new_context(PHONE).new_page()
    login(phone, live_server, "eddie")
    phone.goto(page.url)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    shot(phone, "history-commit-phone")
    phone.goto(live_server("/history"))
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the list scrolls sideways"
    shot(phone, "history-list-phone")
    console.assert_clean()
