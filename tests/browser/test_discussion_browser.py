"""Discussion and notifications in Chromium: @mention autocomplete on the comment box, the bell in the
header updating by itself, the notifications page; hostile comment bodies (the docs XSS corpus) inert."""

from __future__ import annotations

import re
from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import Console, LiveServer, login, shot
from tests.browser.test_docs_browser import XSS_STATE, api
from tests.conftest import make_user
from tests.docs.test_xss import PAYLOADS

pytestmark = pytest.mark.browser


def test_a_mention_autocompletes_and_rings_the_bell(new_context: Any, live_server: LiveServer,
                                                    console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    make_user(live_server.ctx, "vera", Role.VIEWER)
    with api(live_server, "eddie") as client:
        made = client.post("/api/v1/work-items", json={"title": "Move DNS", "category": "service", "action": "new"})
        assert made.status_code == 201, made.text
        item_id = made.json()["id"]
    vera = new_context().new_page()
    login(vera, live_server, "vera")
    bell = vera.locator("#notification-bell .bell-count")
    bell.wait_for()
    assert bell.inner_text().strip() == "0"

    eddie = new_context().new_page()
    login(eddie, live_server, "eddie")
    eddie.goto(live_server(f"/work/{item_id}"))
    box = eddie.locator("#discussion textarea[data-mentions]")
    box.wait_for()
    box.click()
    box.press_sequentially("Please check the TTL @ve")
    suggestion = eddie.get_by_role("option", name="@vera")
    suggestion.wait_for()
    suggestion.click()
    assert box.input_value() == "Please check the TTL @vera "
    box.press_sequentially("thanks")
    with eddie.expect_navigation():
        eddie.get_by_role("button", name="Comment").click()
    assert re.search(r"#comment-\d+$", eddie.url)
    assert "Please check the TTL" in eddie.locator("#discussion .comment-body").first.inner_text()

    # The bell polls by itself (no reload): within a poll or two it shows the mention.
    vera.wait_for_function("() => document.querySelector('#notification-bell .bell-count')?.textContent.trim() === '1'",
                           timeout=40_000)
    shot(vera, "bell-unread", full_page=False)
    vera.locator("#notification-bell").click()
    vera.wait_for_url(live_server("/notifications"))
    entry = vera.locator(".notification").first
    assert "eddie mentioned you on #" in entry.inner_text()
    with vera.expect_navigation():
        entry.get_by_role("button").click()
    assert vera.url.startswith(live_server(f"/work/{item_id}"))
    vera.locator("#notification-bell .bell-count").wait_for()
    vera.wait_for_function("() => document.querySelector('#notification-bell .bell-count')?.textContent.trim() === '0'")
    console.assert_clean()


def test_hostile_comment_bodies_run_no_code(page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    with api(live_server, "eddie") as client:
        item_id = client.post("/api/v1/work-items", json={"title": "Evil talk", "category": "service",
                                                          "action": "new"}).json()["id"]
        for body in [*PAYLOADS, "\n\n".join(PAYLOADS)]:
            posted = client.post(f"/api/v1/work-items/{item_id}/comments", json={"body": body})
            assert posted.status_code == 201, posted.text
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console.expect(r"Failed to load resource")  # the payloads' <img>s point at images that do not exist
    login(page, live_server, "eddie")
    page.goto(live_server(f"/work/{item_id}"))
    page.locator("#discussion .comment").first.wait_for()
    page.mouse.move(200, 300)
    page.keyboard.press("Tab")
    page.wait_for_timeout(300)
    state = page.evaluate(XSS_STATE.replace("#doc-body", "#discussion .comment-body"))
    assert state == {"xss": "undefined", "dangerous": 0, "handlers": 0, "badUrls": 0}, state
    assert dialogs == []
    assert page.locator("#discussion .comment").count() == len(PAYLOADS) + 1
