"""Search in a real Chromium: "/" then type on the dashboard shows instant results (htmx, no page load);
the search page's results follow typing and the kind filter."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import Console, LiveServer, login, shot
from tests.conftest import make_token, make_user

pytestmark = pytest.mark.browser


def api_post(server: LiveServer, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(server(path), data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_slash_type_and_pick_an_instant_result(page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    token = make_token(live_server.ctx, "eddie")
    item = api_post(live_server, token, "/api/v1/work-items", {
        "title": "Move the manticore proxy", "category": "service", "action": "change",
        "description": "The <b>manticore</b> proxy moves to the new rack."})
    login(page, live_server, "eddie")
    page.locator("h1").click()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.resource_type == "document" else None)

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("mantic")
    result = page.locator("#global-search-results .search-instant a.search-hit-title").first
    result.wait_for(state="visible")
    assert page.url == live_server("/") and requests == [], "typing must not load a page"
    assert result.inner_text() == "Move the manticore proxy"
    assert result.locator("mark").inner_text() == "manticore"
    snippet = page.locator("#global-search-results .search-snippet").first.inner_text()
    assert "<b>manticore</b>" in snippet  # the description's HTML is shown as text
    shot(page, "search-instant")

    # typing more replaces the results; Esc closes them
    page.keyboard.type(" zzzz ")
    page.locator("#global-search-results .dropdown-panel:has-text('Nothing matches')").wait_for()
    page.keyboard.press("Escape")
    assert page.locator("#global-search-results details[open]").count() == 0
    page.keyboard.press("/")
    page.keyboard.press("Control+a")
    page.keyboard.type("manticore")
    result.wait_for(state="visible")
    with page.expect_navigation():
        result.click()
    assert page.url == live_server(f"/work/{item['id']}")
    assert page.locator("h1").inner_text() == "Move the manticore proxy"
    console.assert_clean()


def test_the_search_page_updates_as_you_type_and_filters_by_kind(page: Any, live_server: LiveServer,
                                                                 console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    token = make_token(live_server.ctx, "eddie")
    for title in ("Patch the basilisk host", "Retire basilisk backups"):
        api_post(live_server, token, "/api/v1/work-items", {"title": title, "category": "service",
                                                            "action": "change"})
    login(page, live_server, "eddie")
    page.goto(live_server("/search"))
    assert page.evaluate("document.activeElement.id") == "search-q"
    page.keyboard.type("basil")
    page.locator("#search-results .search-hit").nth(1).wait_for()
    assert page.locator("#search-results .search-hit").count() == 2
    page.wait_for_function("() => location.search === '?q=basil'")  # a function: the CSP forbids eval
    assert "2 results" in page.locator("#search-results .search-summary").inner_text()

    page.select_option("#search-kind", "doc")
    page.locator("#search-results .empty").wait_for()
    assert "Nothing matches" in page.locator("#search-results").inner_text()
    page.wait_for_function("() => location.search === '?q=basil&kind=doc'")
    page.select_option("#search-kind", "work_item")
    page.locator("#search-results .search-hit").nth(1).wait_for()

    # Enter searches without a page load too, and a reload keeps the search
    page.fill("#search-q", "patch basilisk")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#search-results .search-hit').length === 1")
    page.reload()
    assert page.input_value("#search-q") == "patch basilisk"
    assert page.locator("#search-results .search-hit").count() == 1
    shot(page, "search-page")
    console.assert_clean()
