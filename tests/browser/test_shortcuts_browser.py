"""Keyboard only: "?" lists the shortcuts in an accessible dialog, each shortcut does what the list says,
none fires while typing in a field, and focus is always visible."""

from __future__ import annotations

from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import Console, LiveServer, login
from tests.conftest import make_user

pytestmark = pytest.mark.browser

ACTIVE_ID = "document.activeElement && document.activeElement.id"
IN_DIALOG = "document.getElementById('shortcuts-dialog').contains(document.activeElement)"
FOCUS_RING = """() => { const s = getComputedStyle(document.activeElement);
  return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""


@pytest.fixture
def signed_in(page: Any, live_server: LiveServer) -> Any:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    return page


def test_question_mark_opens_a_modal_list_of_every_shortcut_and_escape_closes_it(
        signed_in: Any, live_server: LiveServer, console: Console) -> None:
    page = signed_in
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert not dialog.is_visible()
    page.keyboard.press("?")
    assert dialog.is_visible()
    listed = dialog.locator("dt").all_inner_texts()
    for keys in ["/", "g d", "g w", "g s", "g m", "n", "?"]:
        assert keys in listed, listed
    assert page.evaluate(ACTIVE_ID) == "shortcuts-close"

    # Tab and Shift+Tab never leave the dialog
    for key in ["Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"]:
        page.keyboard.press(key)
        assert page.evaluate(IN_DIALOG), key
        assert page.evaluate(FOCUS_RING), key

    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.url == live_server("/")

    # the footer button opens it too, and Close hands focus back to the button
    page.focus("#shortcuts-open")
    page.keyboard.press("Enter")
    assert dialog.is_visible()
    page.keyboard.press("Enter")  # on the focused Close button
    assert not dialog.is_visible()
    assert page.evaluate(ACTIVE_ID) == "shortcuts-open"
    console.assert_clean()


@pytest.mark.parametrize(("keys", "path"), [(["g", "d"], "/"), (["g", "w"], "/work"),
                                            (["g", "s"], "/services"), (["g", "m"], "/monitoring"),
                                            (["n"], "/work/new")])
def test_each_go_to_shortcut_opens_its_page(signed_in: Any, live_server: LiveServer, console: Console,
                                            keys: list[str], path: str) -> None:
    page = signed_in
    page.goto(live_server("/docs"))
    with page.expect_navigation():
        for key in keys:
            page.keyboard.press(key)
    assert page.url == live_server(path)
    console.assert_clean()


def test_slash_focuses_the_search_with_a_visible_focus_ring(signed_in: Any, live_server: LiveServer,
                                                            console: Console) -> None:
    page = signed_in
    page.goto(live_server("/work"))
    page.keyboard.press("/")
    assert page.evaluate(ACTIVE_ID) == "global-search"
    assert page.evaluate(FOCUS_RING)
    console.assert_clean()


def test_letters_typed_into_a_field_are_text_not_shortcuts(signed_in: Any, live_server: LiveServer,
                                                           console: Console) -> None:
    page = signed_in
    page.goto(live_server("/work/new"))
    assert page.locator("#shortcuts-dialog").count() == 1  # the list is on the page, closed
    page.focus("#f-title")
    page.keyboard.type("g w n ?")
    assert page.input_value("#f-title") == "g w n ?"
    assert page.url == live_server("/work/new")
    assert not page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
    console.assert_clean()


def test_tabbing_through_the_page_always_shows_where_the_focus_is(signed_in: Any, live_server: LiveServer,
                                                                  console: Console) -> None:
    page = signed_in
    page.goto(live_server("/"))
    seen = []
    for _ in range(60):  # a bound, not a count: the loop ends when Tab leaves the page's last control
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            break
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        assert page.evaluate(FOCUS_RING), seen[-1]
    else:
        pytest.fail(f"Tab never left the page: {seen}")
    # the skip link, the main navigation, the search, the theme toggle and the shortcut list are reachable
    assert seen[0] == "Skip to content"
    for wanted in ["Dashboard", "Work", "Services", "Monitoring", "global-search", "theme-toggle",
                   "shortcuts-open"]:
        assert wanted in seen, seen
    console.assert_clean()
