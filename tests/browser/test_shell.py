"""The web shell in a real Chromium: first-run setup, login/logout, theme, "/" search, nav pages, phones."""

from __future__ import annotations

from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.browser

NAV_PAGES = [("Dashboard", "/"), ("Work", "/work"), ("Services", "/services"), ("Endpoints", "/endpoints"),
             ("Docs", "/docs"), ("History", "/history"), ("Settings", "/settings")]


def theme(page: Any) -> str:
    return str(page.evaluate("document.documentElement.dataset.theme"))


def test_first_run_setup_logout_and_login(page: Any, live_server: LiveServer, console: Console) -> None:
    response = page.goto(live_server("/"))
    assert response is not None and response.status == 200
    # / -> /login?next=/ -> /setup (no user yet)
    assert page.url == live_server("/setup"), page.url
    assert page.locator("h1").inner_text() == "Welcome to Calcifer"
    page.fill("#f-username", "alice")
    page.fill("#f-password", PASSWORD)
    page.fill("#f-password_again", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/setup'] button[type=submit]")
    assert page.url == live_server("/"), page.url
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator(".user-menu .user-name").inner_text() == "alice"
    assert page.locator(".user-menu .badge").inner_text() == "admin"

    # setup is closed now
    response = page.goto(live_server("/setup"))
    assert response is not None and response.status == 404
    console.expect(r"Failed to load resource: the server responded with a status of 404")
    page.goto(live_server("/"))

    # log out through the account menu
    page.click(".user-menu summary")
    with page.expect_navigation():
        page.click(".user-menu form[action='/logout'] button[type=submit]")
    assert page.url == live_server("/login"), page.url
    assert page.locator(".user-menu").count() == 0
    response = page.goto(live_server("/work"))
    assert response is not None
    assert page.url.startswith(live_server("/login")), page.url

    # a wrong password is refused with a message, the right one lets alice in
    page.fill("#f-username", "alice")
    page.fill("#f-password", "not the password")
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert page.locator(".auth-card .alert-error").is_visible()
    assert page.locator(".user-menu").count() == 0
    console.expect(r"Failed to load resource: the server responded with a status of 4\d\d")
    login(page, live_server, "alice")
    console.assert_clean()


def test_theme_toggle_persists_across_reload(page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    login(page, live_server, "alice")
    toggle = page.locator("#theme-toggle")
    assert theme(page) == "system"
    assert page.evaluate("localStorage.getItem('calcifer-theme')") is None

    toggle.click()
    assert theme(page) == "light"
    assert page.evaluate("localStorage.getItem('calcifer-theme')") == "light"
    assert toggle.get_attribute("data-current-theme") == "light"
    background_light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    shot(page, "dashboard-light")

    toggle.click()
    assert theme(page) == "dark"
    assert page.evaluate("localStorage.getItem('calcifer-theme')") == "dark"
    background_dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background_dark != background_light, "the dark theme did not change the page background"

    page.reload()
    assert theme(page) == "dark", "the dark theme did not survive a reload"
    assert page.locator("#theme-toggle").get_attribute("data-current-theme") == "dark"
    shot(page, "dashboard-dark")
    page.goto(live_server("/work"))
    assert theme(page) == "dark"

    page.locator("#theme-toggle").click()
    assert theme(page) == "system"
    assert page.evaluate("localStorage.getItem('calcifer-theme')") is None
    page.reload()
    assert theme(page) == "system"
    console.assert_clean()


def test_slash_focuses_global_search(page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    login(page, live_server, "alice")
    page.locator("h1").click()  # focus on the page, not a field
    assert page.evaluate("document.activeElement.id") != "global-search"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    assert page.input_value("#global-search") == "", "the '/' was typed into the search box"
    page.keyboard.type("grafana")
    assert page.input_value("#global-search") == "grafana"
    # "/" inside the search box is just a character
    page.keyboard.press("/")
    assert page.input_value("#global-search") == "grafana/"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") != "global-search"
    # pressed again it jumps back to the box, and Enter searches
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("x")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=x")
    assert page.input_value("#global-search") == "x"
    # "/" typed in another field stays in that field
    page.goto(live_server("/work"))
    page.focus("#f-q")
    page.keyboard.type("a/b")
    assert page.input_value("#f-q") == "a/b"
    assert page.evaluate("document.activeElement.id") == "f-q"
    console.assert_clean()


def test_every_nav_page_loads_without_console_errors(page: Any, live_server: LiveServer,
                                                      console: Console) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    login(page, live_server, "alice")
    for label, path in NAV_PAGES:
        response = page.goto(live_server(path))
        assert response is not None and response.status == 200, (path, response and response.status)
        page.wait_for_load_state("load")
        current = page.locator(".site-nav a[aria-current=page]")
        assert current.count() == 1 and current.inner_text() == label, path
        assert page.title().endswith("Calcifer"), page.title()
        assert not console.unexpected(), (path, console.unexpected())
    # and by clicking through the nav itself
    page.goto(live_server("/"))
    for label, path in NAV_PAGES[1:]:
        with page.expect_navigation():
            page.locator(".site-nav").get_by_role("link", name=label, exact=True).click()
        assert page.url == live_server(path), page.url
    console.assert_clean()


def test_phone_width_has_no_horizontal_scroll(new_context: Any, live_server: LiveServer,
                                              console: Console) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    page = new_context(PHONE).new_page()
    login(page, live_server, "alice")
    too_wide = {}
    for _, path in NAV_PAGES + [("New work item", "/work/new"), ("Search", "/search?q=x"),
                                ("Tokens", "/settings/tokens"), ("Users", "/settings/users")]:
        response = page.goto(live_server(path))
        assert response is not None and response.status == 200, path
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > PHONE["width"] + 1:
            too_wide[path] = scroll_width
    assert not too_wide, f"pages wider than {PHONE['width']}px (scrollWidth): {too_wide}"

    # on a phone the nav is collapsed behind the menu button, and "/" opens it to focus the search
    page.goto(live_server("/"))
    assert not page.locator("#global-search").is_visible()
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    assert page.locator("#nav-toggle").get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    page.keyboard.press("Escape")  # Esc closes the menu again
    assert page.locator("#nav-toggle").get_attribute("aria-expanded") == "false"
    assert not page.locator(".site-nav").is_visible()
    page.locator("#nav-toggle").click()
    assert page.locator("#nav-toggle").get_attribute("aria-expanded") == "true"
    assert page.locator(".site-nav").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    shot(page, "phone-menu-open", full_page=False)
    console.assert_clean()


def test_work_item_page_at_phone_width(new_context: Any, live_server: LiveServer, console: Console) -> None:
    """A work item with a change, a diff, a commit and the merge problems: nothing wider than a phone."""
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    page = new_context(PHONE).new_page()
    login(page, live_server, "eddie")
    page.goto(live_server("/work/new"))
    page.fill("#f-title", "Add Grafana with a rather long title to see how it wraps on a phone")
    page.select_option("#category", "service")
    page.select_option("#action", "new")
    with page.expect_navigation():
        page.click("form[action='/work'] button[type=submit]")
    item_url = page.url
    page.locator(".page-header .actions a", has_text="New file").click()
    page.wait_for_url("**/file")
    page.fill("#f-path", "catalog/services/grafana-with-a-long-file-name-for-phones.yaml")
    page.fill("#content", "name: grafana\nurl: https://grafana.example.internal:3000/a/very/long/path/"
                          "that/should/not/widen/the/page/on/a/phone/at/all\nowner: ops\n")
    with page.expect_navigation():
        page.click("button[type=submit]:has-text('Save to worktree')")
    assert page.url.split("#")[0] == item_url
    page.locator("#changes details summary").first.click()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    shot(page, "work-item-375")
    assert scroll_width <= PHONE["width"] + 1, f"the work item page is {scroll_width}px wide at 375px"
    page.goto(live_server(f"{item_url.removeprefix(live_server.url)}/file?path=catalog/services/"
                          "grafana-with-a-long-file-name-for-phones.yaml"))
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    shot(page, "work-file-375")
    assert scroll_width <= PHONE["width"] + 1, f"the file editor is {scroll_width}px wide at 375px"
    console.assert_clean()
