"""Monitoring in a real browser: the endpoints page updates itself, the endpoint page draws its chart,
the status page; light and dark, desktop and phone width, no console errors. Screenshots go to
/tmp/shots/ for a person to look at."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from calcifer.auth.choices import Role
from calcifer.monitoring.choices import EventKind, ResultCode
from calcifer.monitoring.models import MonitorHourly, MonitorState
from tests.browser.conftest import PHONE, Console, LiveServer, login
from tests.conftest import make_user
from tests.monitoring.factories import (
    bulk_endpoints,
    fill_hours,
    make_event,
    make_hourly,
    make_monitored,
    make_result,
    make_scheduler,
    make_service,
    now,
)

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"monitoring-{name}.png"), full_page=True)


def _seed(server: LiveServer) -> None:
    moment = now()
    with server.ctx.session_factory() as session:
        make_service(session, "shop", name="Web shop", tags=["status-page"])
        make_service(session, "wiki", name="Team wiki", tags=["status-page"])
        web = make_monitored(session, "shop-web", service="shop", type="http", name="Shop front page",
                             target="https://shop.example.internal/health", status="up", latency_ms=84.0,
                             cert_days_left=41.0, cert_expires_at=moment + dt.timedelta(days=41),
                             cert_info={"subject": "CN=shop.example.internal", "issuer": "CN=Homelab CA",
                                        "sans": ["shop.example.internal"]})
        make_monitored(session, "shop-db", service="shop", name="Shop database", target="10.0.0.5", port=5432,
                       status="down", message="connection refused", latency_ms=None)
        make_monitored(session, "wiki-web", service="wiki", name="Wiki", type="http",
                       target="https://wiki.example.internal/", status="degraded", message="slow: 2.1 s > 2 s",
                       latency_ms=2100.0)
        make_monitored(session, "nightly-backup", service="wiki", name="Nightly backup", type="push", target=None,
                       port=None, status="up", latency_ms=None)
        for n in range(24 * 60 // 2):  # a result every 2 minutes for a day
            at = moment - dt.timedelta(minutes=2 * n)
            wave = 60 + 30 * ((n % 30) / 30) + (200 if n % 97 == 0 else 0)
            make_result(session, web.id, at, latency_ms=wave,
                        status=ResultCode.DOWN if n in (40, 41) else ResultCode.UP)
        fill_hours(session, web.id, end=moment, hours=24 * 89, checks=60, failures=0, latency_avg=75.0)
        for days_ago, failures in ((5, 40), (12, 2), (33, 60)):  # a bad day, a wobbly one, an outage
            start = (moment - dt.timedelta(days=days_ago)).replace(hour=3, minute=0, second=0, microsecond=0)
            session.query(MonitorHourly).filter(MonitorHourly.endpoint_id == web.id, MonitorHourly.hour >= start,
                                                MonitorHourly.hour < start + dt.timedelta(hours=4)).update(
                {"failures": failures})
        make_hourly(session, web.id, moment - dt.timedelta(days=89, hours=12), checks=0, maintenance_checks=60)
        make_event(session, web.id, moment - dt.timedelta(minutes=80), old="up", new="down",
                   message="HTTP 503 Service Unavailable")
        make_event(session, web.id, moment - dt.timedelta(minutes=76), old="down", new="up")
        make_event(session, web.id, moment - dt.timedelta(minutes=82), kind=EventKind.FAILURE, old=None, new=None,
                   message="HTTP 503 Service Unavailable")
        bulk_endpoints(session, 120, prefix="lab", services=6, hours=2)
        make_scheduler(session)
        session.commit()


def _badge(page: Any, slug: str) -> str:
    return str(page.locator(f'tr[data-slug="{slug}"] [data-status]').first.get_attribute("data-status"))


def test_the_endpoints_page_updates_itself_and_the_endpoint_page_draws_its_chart(
        page: Any, live_server: LiveServer, console: Console, new_context: Any) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    _seed(live_server)
    login(page, live_server, "eddie")

    page.goto(live_server("/monitoring"))
    assert page.locator("#monitoring-table tbody tr").count() == 50
    assert page.locator("a.next").count() == 1
    page.goto(live_server("/monitoring?service=shop"))
    assert _badge(page, "shop-db") == "down"
    _shot(page, "endpoints-light")
    with live_server.ctx.session_factory() as session:
        session.query(MonitorState).filter_by(slug="shop-db").update({"status": "up", "message": ""})
        session.commit()
    # htmx re-fetches the table every 10 s: the badge changes without a reload. (A function, not an
    # expression: Playwright polls an expression with eval, which the page's CSP refuses.)
    page.wait_for_function("() => document.querySelector('tr[data-slug=\"shop-db\"] [data-status]')"
                           ".dataset.status === 'up'", timeout=30_000)
    assert page.url.endswith("/monitoring?service=shop")

    page.goto(live_server("/monitoring/endpoints/shop-web"))
    chart = page.locator("#endpoint-chart svg path.line")
    assert chart.count() == 1 and len(chart.get_attribute("d") or "") > 100
    assert page.locator(".mon-bars > span").count() == 90
    assert "CN=Homelab CA" in page.content()
    _shot(page, "endpoint-light")
    page.click("#endpoint-chart a:has-text('7d')")
    page.wait_for_selector("#endpoint-chart a[aria-current='true']:has-text('7d')")
    assert "Hourly averages" in page.locator("#endpoint-chart").inner_text()
    assert page.url.endswith("?range=7d")

    page.evaluate("localStorage.setItem('calcifer-theme', 'dark')")
    page.goto(live_server("/monitoring/endpoints/shop-web?range=24h"))
    assert page.locator("html").get_attribute("data-theme") == "dark"
    _shot(page, "endpoint-dark")
    page.goto(live_server("/monitoring"))
    _shot(page, "endpoints-dark")
    page.goto(live_server("/status"))
    _shot(page, "status-dark")
    page.evaluate("localStorage.setItem('calcifer-theme', 'light')")
    page.goto(live_server("/monitoring/endpoints/nightly-backup"))
    assert "/api/v1/push/" in page.locator("#push-url").inner_text()

    phone = new_context(PHONE).new_page()
    login(phone, live_server, "eddie")
    for path, name in (("/monitoring", "endpoints-phone"), ("/monitoring/endpoints/shop-web", "endpoint-phone"),
                       ("/status", "status-phone")):
        phone.goto(live_server(path))
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
        _shot(phone, name)
    console.assert_clean()


def test_pause_and_resume_from_the_endpoint_page(page: Any, live_server: LiveServer) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    _seed(live_server)
    login(page, live_server, "eddie")
    page.goto(live_server("/monitoring/endpoints/shop-db"))
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("button:has-text('Pause')")
    assert page.locator("h1 [data-status]").get_attribute("data-status") == "paused"
    with page.expect_navigation():
        page.click("button:has-text('Resume')")
    assert page.locator("h1 [data-status]").get_attribute("data-status") == "unknown"


def test_the_settings_page_and_the_public_parts_render_cleanly(page: Any, live_server: LiveServer) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    _seed(live_server)
    login(page, live_server, "alice")
    page.goto(live_server("/settings/monitoring"))
    assert page.locator("#scheduler-card .badge-up").count() == 1
    assert page.locator("#storage-card table tbody tr").count() >= 4
    _shot(page, "settings-light")
    page.goto(live_server("/status"))
    assert page.locator(".mon-service").count() == 2
    _shot(page, "status-light")
    page.goto(live_server("/"))
    assert page.locator("#monitoring-summary a").count() >= 3
    _shot(page, "dashboard-light")
