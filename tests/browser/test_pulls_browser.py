"""Pull requests in Chromium: Settings → Repository's Pull requests card refuses a wrong token with the
forge's words and saves a right one; the work item's page opens a pull request and shows its number, link
and state. The forge is the stand-in HTTP server of tests/pulls/forges.py (no forge can run here; it answers
Gitea's recorded API shapes at that one seam); the remote is a real bare repository over file://.
Screenshots (light, dark, phone width) go to CALCIFER_SHOTS_DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, LiveServer, login, shot
from tests.browser.test_a11y_browser import violations
from tests.conftest import make_token, make_user
from tests.pulls import forges
from tests.remote.servers import bare_remote
from tests.work.helpers import ready_item


def test_set_the_forge_then_open_a_pull_request_from_the_work_item_page(
        page: Any, new_context: Any, live_server: LiveServer, tmp_path: Path) -> None:
    forge = forges.start("gitea", "infra/calcifer")
    try:
        make_user(live_server.ctx, "ada", Role.ADMIN)
        remote = bare_remote(tmp_path / "forge" / "infra.git")
        with httpx.Client(base_url=live_server.url, timeout=30,
                          headers={"Authorization": f"Bearer {make_token(live_server.ctx, 'ada')}"}) as client:
            assert client.put("/api/v1/repository/remote", json={"url": remote.as_uri()}).status_code == 200
            assert client.post("/api/v1/repository/push").json()["error"] is None
            item = ready_item(client, "Add grafana", "grafana.txt", "grafana\n", "Added Grafana")  # type: ignore[arg-type]

        login(page, live_server, "ada")
        page.goto(live_server("/settings/repository"))
        card = page.locator("#forge-settings")
        card.wait_for()
        page.select_option("#forge-kind", "gitea")
        page.fill("#forge-api-url", forge.api_url)
        page.fill("#forge-repository", forge.repository)
        page.fill("#forge-token", "wrong")
        with page.expect_navigation():
            page.click("#forge-settings button:has-text('Save pull requests')")
        assert "refused the token" in page.locator("main").inner_text()
        page.locator("#forge-settings").wait_for()
        page.select_option("#forge-kind", "gitea")  # nothing was saved: the form starts afresh
        page.fill("#forge-api-url", forge.api_url)
        page.fill("#forge-repository", forge.repository)
        page.fill("#forge-token", forges.TOKEN)
        with page.expect_navigation():
            page.click("#forge-settings button:has-text('Save pull requests')")
        assert "the forge accepted the token" in page.locator("main").inner_text()
        page.wait_for_load_state("networkidle")
        assert violations(page) == []
        shot(page, "pulls-settings-light")

        page.goto(live_server(f"/work/{item['id']}"))
        page.locator("#pull-request").wait_for()
        with page.expect_navigation():
            page.click("#pull-request-open")
        panel = page.locator("#pull-request")
        panel.wait_for()
        assert "#1" in panel.inner_text()
        assert page.locator("#pull-request-state").get_attribute("data-state") == "open"
        assert panel.locator("a[href^='https://gitea.example.org/infra/calcifer/pull/1']").count() == 1
        page.wait_for_load_state("networkidle")
        assert violations(page) == []
        shot(page, "pulls-work-item-light")
        page.evaluate("localStorage.setItem('calcifer-theme', 'dark')")
        page.reload()
        page.locator("#pull-request").wait_for()
        page.wait_for_load_state("networkidle")
        assert violations(page) == []
        shot(page, "pulls-work-item-dark")
        page.evaluate("localStorage.setItem('calcifer-theme', 'light')")

        phone = new_context(PHONE).new_page()
        login(phone, live_server, "ada")
        for path, name in ((f"/work/{item['id']}", "work-item"), ("/settings/repository", "settings")):
            phone.goto(live_server(path))
            phone.wait_for_load_state("networkidle")
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
            shot(phone, f"pulls-{name}-phone")
    finally:
        forges.stop(forge)
