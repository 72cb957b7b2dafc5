"""The dashboard in a real browser: the getting-started list of an empty instance, a busy dashboard and
/monitoring's heartbeat strips; light, dark and 375 px wide, no console errors, nothing wider than the
phone. Screenshots go to /tmp/shots/ (dashboard-*.png) for a person to look at."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from calcifer.auth.choices import Role
from calcifer.monitoring.choices import ResultCode
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.conftest import make_user
from tests.monitoring.factories import make_endpoint, make_monitored, make_result, make_service, now

pytestmark = pytest.mark.browser


def _fits(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def test_the_empty_dashboard_is_a_checklist_that_ticks_itself(page: Any, live_server: LiveServer, console: Console,
                                                               new_context: Any) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    login(page, live_server, "alice")
    steps = page.locator("#getting-started li[data-step]")
    assert steps.count() == 5 and page.locator("#getting-started li[data-done='true']").count() == 0
    shot(page, "dashboard-empty-light")
    with live_server.ctx.session_factory() as session:
        make_endpoint(session, "shop-web")
        session.commit()
    page.reload()
    assert page.locator("#getting-started li[data-step='endpoint']").get_attribute("data-done") == "true"
    page.evaluate("localStorage.setItem('calcifer-theme', 'dark')")
    page.reload()
    shot(page, "dashboard-empty-dark")
    phone = new_context(PHONE).new_page()
    login(phone, live_server, "alice")
    assert _fits(phone) <= 0
    shot(phone, "dashboard-empty-phone")
    console.assert_clean()


def test_a_busy_dashboard_and_the_monitoring_strips_fit_a_phone(page: Any, live_server: LiveServer,
                                                                console: Console, new_context: Any) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    moment = now()
    with live_server.ctx.session_factory() as session:
        make_service(session, "shop", name="Web shop")
        web = make_monitored(session, "shop-web", service="shop", type="http", status="up",
                             target="https://shop.example.internal/health")
        db = make_monitored(session, "shop-db", service="shop", status="down", message="connection refused")
        make_monitored(session, "wiki-web", status="degraded", message="slow: 2.1 s > 2 s")
        for n in range(30):
            at = moment - dt.timedelta(minutes=30 - n)
            make_result(session, web.id, at, status=ResultCode.DEGRADED if n == 12 else ResultCode.UP)
            make_result(session, db.id, at, status=ResultCode.DOWN if n > 24 else ResultCode.UP)
        session.commit()
    login(page, live_server, "eddie")
    assert page.locator("#dashboard-attention li[data-slug]").count() == 2
    shot(page, "dashboard-busy-light")
    page.goto(live_server("/monitoring"))
    assert page.locator("tr[data-slug='shop-db'] .beat").count() == 30
    assert page.locator("tr[data-slug='shop-db'] .beat-down").count() == 5
    shot(page, "dashboard-monitoring-light")
    page.evaluate("localStorage.setItem('calcifer-theme', 'dark')")
    page.goto(live_server("/"))
    shot(page, "dashboard-busy-dark")
    page.goto(live_server("/monitoring"))
    shot(page, "dashboard-monitoring-dark")
    phone = new_context(PHONE).new_page()
    login(phone, live_server, "eddie")
    for path, name in (("/", "dashboard-busy-phone"), ("/monitoring", "dashboard-monitoring-phone")):
        phone.goto(live_server(path))
        assert _fits(phone) <= 0, path
        shot(phone, name)
    console.assert_clean()
