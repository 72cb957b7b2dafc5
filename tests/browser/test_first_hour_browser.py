"""A newcomer's first hour in a real browser: a standard change started from the work list, an endpoint
checked for twenty minutes whose chart opens on its last hour, and the list pages' wide tables that
scroll inside their card on a 375 px phone while the page itself never scrolls sideways.
Screenshots go to CALCIFER_SHOTS_DIR (first-hour-*.png) for a person to look at."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.conftest import make_token, make_user
from tests.monitoring.factories import make_monitored, make_result, make_service, now

pytestmark = pytest.mark.browser

LONG = "a-rather-long-name-that-keeps-going-without-a-single-space-to-break-at"
LIST_PAGES = ("/work", "/services", "/endpoints", "/monitoring", "/settings/users", "/settings/audit", "/changelog",
              "/work/standard")


def sideways(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_a_standard_change_starts_from_the_work_list(page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    page.click("a#start-standard-change")  # on the dashboard too
    assert page.url == live_server("/work/standard")
    page.goto(live_server("/work"))
    page.click("a#start-standard-change")
    with page.expect_navigation():
        page.click("a#standard-new-service")
    assert page.locator("#target").input_value() == "standard"
    page.fill("#f-name", "Gitea")
    page.fill("#f-slug", "gitea")
    page.fill("#f-description", "Git hosting.")
    page.fill("#f-summary", "Add Gitea")
    with page.expect_navigation():
        page.click("#catalog-edit button[value=save]")
    assert page.url == live_server("/services/gitea"), page.url
    assert "Standard change applied" in page.locator("body").inner_text()

    # Editing what exists: pick it by slug; the form opens on it, set to apply at once.
    page.goto(live_server("/work/standard"))
    page.fill("#standard-service", "gitea")
    with page.expect_navigation():
        page.click("#standard-edit-service button[type=submit]")
    assert page.url.startswith(live_server("/catalog/edit/service?")), page.url
    assert page.locator("#target").input_value() == "standard"
    assert page.input_value("#f-slug") == "gitea" and page.input_value("#f-name") == "Gitea"
    console.assert_clean()


def test_an_endpoint_checked_for_twenty_minutes_opens_on_its_last_hour(
        page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "vera", Role.VIEWER)
    moment = now()
    with live_server.ctx.session_factory() as session:
        state = make_monitored(session, "fresh", name="Fresh endpoint")
        for minute in range(21):
            make_result(session, state.id, moment - dt.timedelta(minutes=minute), latency_ms=20.0 + minute % 5)
        session.commit()
    login(page, live_server, "vera")
    page.goto(live_server("/monitoring/endpoints/fresh"))
    assert page.locator("#endpoint-chart a[aria-current='true']").inner_text() == "1h"
    # The line starts about a third in: twenty minutes of a one-hour chart, not a sliver of a day.
    chart = page.locator("#endpoint-chart svg").bounding_box()
    line = page.locator("#endpoint-chart svg path.line").bounding_box()
    assert chart is not None and line is not None
    share = line["width"] / chart["width"]
    assert 0.25 < share < 0.4, share
    shot(page, "first-hour-chart-light")
    console.assert_clean()


def _seed_wide_lists(server: LiveServer) -> None:
    make_user(server.ctx, "ada", Role.ADMIN)
    make_user(server.ctx, LONG[:60], Role.VIEWER)
    with server.ctx.session_factory() as session:
        make_service(session, "shop", name="Web shop " + LONG)
        make_monitored(session, "shop-web", service="shop", name="Shop front " + LONG, type="http",
                       target=f"https://{LONG}.example.internal/health/{LONG}", status="up")
        make_monitored(session, "shop-db", service="shop", name="Shop database", status="down",
                       message="connection refused " + LONG)
        session.commit()
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(server.ctx, 'ada')}"}) as client:
        created = client.post("/api/v1/work-items", json={"title": "Move the shop " + LONG, "category": "service",
                                                          "action": "change", "service": "shop"})
        assert created.status_code == 201, created.text


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_wide_tables_scroll_inside_their_card_on_a_phone(live_server: LiveServer, console: Console,
                                                          new_context: Any, theme: str) -> None:
    _seed_wide_lists(live_server)
    phone_context = new_context(PHONE)
    phone_context.add_init_script(
        f"if (location.protocol === 'http:') localStorage.setItem('calcifer-theme', '{theme}')")
    phone = phone_context.new_page()
    login(phone, live_server, "ada")
    too_wide = {}
    for path in LIST_PAGES:
        response = phone.goto(live_server(path))
        assert response is not None and response.status == 200, path
        phone.wait_for_load_state("networkidle")
        if sideways(phone) > 0:
            too_wide[path] = sideways(phone)
        shot(phone, f"first-hour-phone-{theme}{path.replace('/', '-')}")
    assert not too_wide, f"pages wider than the phone (px): {too_wide}"
    # The table itself is wider than the phone and scrolls within its card.
    phone.goto(live_server("/work"))
    wrap = phone.locator(".table-wrap").first
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth")
    assert wrap.evaluate("el => getComputedStyle(el).overflowX") == "auto"
    console.assert_clean()
