"""Remote sync in Chromium: Settings → Repository connects a remote and shows a failed push's message; an
outside change appears on the dashboard and "Adopt into a work item" lands on the completed work item.
Screenshots (light, dark, phone width) go to CALCIFER_SHOTS_DIR."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, LiveServer, login, shot
from tests.conftest import make_token, make_user
from tests.remote.servers import Laptop, bare_remote


def test_connect_a_remote_see_its_error_then_adopt_an_outside_change(
        page: Any, new_context: Any, live_server: LiveServer, tmp_path: Path) -> None:
    make_user(live_server.ctx, "ada", Role.ADMIN)
    login(page, live_server, "ada")
    page.goto(live_server("/settings/repository"))
    missing = (tmp_path / "not-yet" / "infra.git").as_uri()
    page.fill("#f-url", missing)
    with page.expect_navigation():
        page.click("form[action='/settings/repository'] button[type=submit]")
    with page.expect_navigation():
        page.click("form[action='/settings/repository/push'] button")
    alert = page.locator("#remote-state .alert-error").first
    assert "The last push failed" in alert.inner_text()
    shot(page, "remotes-settings-push-error-light")

    remote = bare_remote(tmp_path / "forge" / "infra.git")
    page.fill("#f-url", remote.as_uri())
    with page.expect_navigation():
        page.click("form[action='/settings/repository'] button[type=submit]")
    with page.expect_navigation():
        page.click("form[action='/settings/repository/push'] button")
    assert page.locator("#remote-state .alert-error").count() == 0
    assert subprocess.run(["git", "--git-dir", str(remote), "rev-parse", "main"], capture_output=True,
                          check=False).returncode == 0

    outside = Laptop(remote, tmp_path / "laptop").commit({"notes/laptop.txt": "x\n"}, "Fix a typo on the forge")
    with httpx.Client(base_url=live_server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(live_server.ctx, 'ada')}"}) as client:
        assert client.post("/api/v1/repository/fetch").json()["outcome"] == "fast_forward"
    page.goto(live_server("/"))
    panel = page.locator("#outside-changes")
    panel.wait_for()
    assert outside[:10] in panel.inner_text() and "Fix a typo on the forge" in panel.inner_text()
    shot(page, "remotes-dashboard-panel-light")
    page.evaluate("localStorage.setItem('calcifer-theme', 'dark')")
    for path, name in (("/settings/repository", "settings"), ("/repository/outside-changes", "outside")):
        page.goto(live_server(path))
        shot(page, f"remotes-{name}-dark")
    page.evaluate("localStorage.setItem('calcifer-theme', 'light')")
    phone = new_context(PHONE).new_page()
    login(phone, live_server, "ada")
    for path, name in (("/settings/repository", "settings"), ("/repository/outside-changes", "outside")):
        phone.goto(live_server(path))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        shot(phone, f"remotes-{name}-phone")

    page.goto(live_server("/"))
    page.locator("#outside-changes").wait_for()
    with page.expect_navigation():
        page.click("#outside-changes button:has-text('Adopt into a work item')")
    assert "/work/" in page.url
    assert "complete" in page.locator("main").inner_text().lower()
    page.goto(live_server("/repository/outside-changes"))
    assert page.locator("a[href^='/work/']").count() >= 1
    shot(page, "remotes-outside-light")
