"""Two-factor login in a real Chromium: set it up on the account page (QR code, key, confirm), then log in
with the password, the code, and land where the login was heading. Screenshots in light, dark and 375 px."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots/identity")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _code(secret: str, steps_ahead: int) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + steps_ahead * totp.interval)


def test_set_up_two_factor_then_log_in_with_password_and_code(page: Any, live_server: LiveServer, new_context: Any,
                                                              console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    page.goto(live_server("/account"))
    with page.expect_navigation():
        page.click("#account-two-factor a[href='/account/two-factor']")
    qr = page.locator("img.totp-qr")
    assert qr.is_visible()
    assert page.evaluate("document.querySelector('img.totp-qr').naturalWidth") > 100  # the SVG loaded
    secret = page.locator("#totp-secret").inner_text().strip()
    _shot(page, "two-factor-setup-light")
    page.fill("#f-code", _code(secret, 0))
    with page.expect_navigation():
        page.click("form[action='/account/two-factor/confirm'] button[type=submit]")
    assert page.locator("#recovery-codes li").count() == 10
    _shot(page, "recovery-codes-light")

    browser_context = new_context()
    other = browser_context.new_page()
    other.goto(live_server("/work"))  # not logged in: the login page, heading back to /work afterwards
    other.fill("#f-username", "eddie")
    other.fill("#f-password", PASSWORD)
    with other.expect_navigation():
        other.click("form[action='/login'] button[type=submit]")
    assert other.url == live_server("/login/code")
    _shot(other, "login-code-light")
    other.fill("#f-code", _code(secret, 1))
    with other.expect_navigation():
        other.click("form[action='/login/code'] button[type=submit]")
    assert other.url == live_server("/work")
    assert other.locator(".user-menu .user-name").inner_text().strip() == "eddie"
    console.assert_clean()


def test_two_factor_pages_in_dark_and_on_a_phone(new_context: Any, live_server: LiveServer) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    for name, viewport, scheme in (("dark", None, "dark"), ("375", PHONE, "light")):
        context = new_context(viewport) if viewport else new_context()
        context.add_init_script("if (location.protocol === 'http:') "
                                f"localStorage.setItem('calcifer-theme', '{scheme}')")
        page = context.new_page()
        login(page, live_server, "eddie")
        page.goto(live_server("/account/two-factor"))
        assert page.locator("img.totp-qr").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= page.viewport_size["width"] + 1, f"{name}: the page scrolls sideways ({width} px)"
        _shot(page, f"two-factor-setup-{name}")
        page.goto(live_server("/account"))
        _shot(page, f"account-{name}")
