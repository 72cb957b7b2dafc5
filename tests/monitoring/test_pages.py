"""The monitoring pages: endpoints list (filters, counts, pagination, live fragment), endpoint page,
settings page; who may press which button."""

from __future__ import annotations

import datetime as dt
import re

from calcifer.monitoring.choices import EventKind, ResultCode
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.factories import (
    bulk_endpoints,
    fill_hours,
    make_endpoint,
    make_event,
    make_hourly,
    make_monitored,
    make_result,
    make_scheduler,
    make_service,
    now,
)


def _seed(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        make_service(session, "shop", tags=["public"])
        make_service(session, "wiki", tags=["internal"])
        make_monitored(session, "shop-web", service="shop", status="up", name="Shop web")
        make_monitored(session, "shop-db", service="shop", status="down", message="connection refused")
        make_monitored(session, "wiki-web", service="wiki", status="degraded", message="slow: 2.1 s")
        make_endpoint(session, "new-one", service="wiki")                        # never checked
        make_endpoint(session, "off", service="wiki", enabled=False)             # disabled in the catalog
        make_monitored(session, "held", service="wiki", status="up", paused=True)  # paused by hand
        session.commit()


def _slugs(html: str) -> list[str]:
    return re.findall(r'<tr data-slug="([^"]+)"', html)


def test_the_endpoints_page_lists_every_endpoint_with_its_status(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    page = cast.viewer.get("/monitoring")
    assert page.status_code == 200
    assert _slugs(page.text) == ["held", "new-one", "off", "shop-db", "shop-web", "wiki-web"]
    row = page.text.split('data-slug="shop-db"')[1].split("</tr>")[0]
    assert 'data-status="down"' in row and "connection refused" in row
    for slug, status in (("off", "paused"), ("held", "paused"), ("new-one", "unknown"), ("wiki-web", "degraded")):
        assert f'data-status="{status}"' in page.text.split(f'data-slug="{slug}"')[1].split("</tr>")[0]
    assert 'hx-trigger="every 10s"' in page.text and 'hx-get="/monitoring/rows?' in page.text


def test_the_endpoints_page_filters_by_service_tag_status_and_text(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    assert _slugs(cast.viewer.get("/monitoring?service=shop").text) == ["shop-db", "shop-web"]
    assert _slugs(cast.viewer.get("/monitoring?tag=internal").text) == ["held", "new-one", "off", "wiki-web"]
    assert _slugs(cast.viewer.get("/monitoring?status=paused").text) == ["held", "off"]
    assert _slugs(cast.viewer.get("/monitoring?status=unknown").text) == ["new-one"]
    assert _slugs(cast.viewer.get("/monitoring?q=web&status=up").text) == ["shop-web"]
    assert _slugs(cast.viewer.get("/monitoring?q=Shop%20web").text) == ["shop-web"]
    assert cast.viewer.get("/monitoring?status=sideways").status_code == 422


def test_counts_per_status_follow_the_other_filters(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    body = cast.viewer.get("/api/v1/monitoring/endpoints?tag=internal&status=paused").json()
    assert body["counts"] == {"down": 0, "degraded": 1, "up": 0, "paused": 2, "unknown": 1}
    assert body["total"] == 4 and [i["slug"] for i in body["items"]] == ["held", "off"]
    page = cast.viewer.get("/monitoring").text
    assert re.search(r'data-count="down">.*?<strong>1</strong>', page)
    assert re.search(r'data-count="paused">.*?<strong>2</strong>', page)


def test_the_live_fragment_re_renders_only_the_table_with_fresh_states(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    first = cast.viewer.get("/monitoring/rows?service=shop")
    assert first.status_code == 200 and "<html" not in first.text
    assert first.text.lstrip().startswith('<div id="monitoring-live"')
    assert _slugs(first.text) == ["shop-db", "shop-web"]
    from calcifer.monitoring.models import MonitorState

    with ctx.session_factory() as session:
        session.query(MonitorState).filter_by(slug="shop-db").update({"status": "up"})
        session.commit()
    second = cast.viewer.get("/monitoring/rows?service=shop").text
    assert 'data-status="down"' not in second.split('data-slug="shop-db"')[1].split("</tr>")[0]


def test_uptime_columns_show_the_pages_rows_figures(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        state = make_monitored(session, "api")
        fill_hours(session, state.id, end=now(), hours=24, checks=100, failures=0)
        make_hourly(session, state.id, now() - dt.timedelta(days=10), checks=100, failures=100)
        session.commit()
    row = cast.viewer.get("/monitoring").text.split('data-slug="api"')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num">(.*?)</td>', row)
    assert cells[0].startswith("100.00") and cells[1].startswith("96.00")


def test_an_empty_catalog_says_how_to_add_endpoints(cast: Cast) -> None:
    page = cast.editor.get("/monitoring").text
    assert "No endpoints yet" in page and "through a work item" in page and 'href="/catalog/edit/endpoint"' in page
    assert "New endpoint" not in cast.viewer.get("/monitoring").text


def test_a_large_catalog_is_paged_fifty_at_a_time(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        bulk_endpoints(session, 3000, hours=2)
        session.commit()
    page = cast.viewer.get("/monitoring")
    assert page.status_code == 200
    slugs = _slugs(page.text)
    assert len(slugs) == 50 and slugs[0] == "ep-0000"
    next_link = re.search(r'<a class="next" href="([^"]+)"', page.text)
    assert next_link is not None
    second = cast.viewer.get(next_link.group(1).replace("&amp;", "&"))
    assert _slugs(second.text)[0] == "ep-0050" and len(_slugs(second.text)) == 50
    assert re.search(r"All <strong>3000</strong>", page.text)
    assert '<span class="prev disabled"' in page.text
    third = cast.viewer.get(re.findall(r'<a class="next" href="([^"]+)"', second.text)[0].replace("&amp;", "&"))
    assert _slugs(third.text)[0] == "ep-0100"
    back = re.search(r'<a class="prev" href="([^"]+)"', third.text)
    assert back is not None
    previous = cast.viewer.get(back.group(1).replace("&amp;", "&"))
    assert _slugs(previous.text) == _slugs(second.text)
    first_again = cast.viewer.get(re.findall(r'<a class="prev" href="([^"]+)"', previous.text)[0].replace("&amp;", "&"))
    assert _slugs(first_again.text) == slugs and '<span class="prev disabled"' in first_again.text


def test_the_endpoint_page_shows_state_chart_bar_uptime_events_and_certificate(ctx: AppContext, cast: Cast) -> None:
    moment = now()
    with ctx.session_factory() as session:
        make_service(session, "shop")
        state = make_monitored(session, "shop-web", service="shop", type="http", target="https://shop.test/",
                               status="degraded", message="certificate expires in 3 days", cert_days_left=3.2,
                               cert_info={"subject": "CN=shop.test", "issuer": "CN=Test CA", "sans": ["shop.test"]},
                               cert_expires_at=moment + dt.timedelta(days=3))
        for n in range(30):
            make_result(session, state.id, moment - dt.timedelta(minutes=n), latency_ms=40.0 + n,
                        status=ResultCode.DOWN if n == 7 else ResultCode.UP)
        fill_hours(session, state.id, end=moment, hours=3, checks=60, failures=1)
        make_hourly(session, state.id, moment - dt.timedelta(days=2), checks=10, maintenance_checks=20,
                    maintenance_failures=20)
        make_event(session, state.id, moment - dt.timedelta(minutes=5), old="up", new="degraded",
                   message="certificate expires in 3 days")
        make_event(session, state.id, moment - dt.timedelta(minutes=7), kind=EventKind.FAILURE, old=None, new=None,
                   message="HTTP 503")
        session.commit()
    page = cast.viewer.get("/monitoring/endpoints/shop-web")
    assert page.status_code == 200
    html = page.text
    assert '<svg viewBox="0 0 1000 200"' in html and 'class="line"' in html and 'class="col fail"' in html
    assert html.count('<span class="d-') == 90 and html.count('class="d-up"') == 1  # 2 days ago; today is degraded
    # the days with data: today, two days ago, and yesterday when the 3 hours or 30 minutes cross midnight
    hour = moment.replace(minute=0, second=0, microsecond=0)
    days = {(moment - dt.timedelta(days=2)).date(), (moment - dt.timedelta(minutes=29)).date(),
            *((hour - dt.timedelta(hours=n)).date() for n in range(3))}
    assert html.count('class="d-none"') == 90 - len(days | {moment.date()})
    assert "CN=shop.test" in html and "CN=Test CA" in html and "3 days" in html
    assert "HTTP 503" in html and "failed check" in html
    assert "in maintenance: 0.00 % of 20" in html
    assert 'id="endpoint-declaration"' in html and 'href="/services/shop"' in html  # the one endpoint page
    assert "Check now" not in html and "Pause" not in html  # a viewer sees no buttons
    editor = cast.editor.get("/monitoring/endpoints/shop-web").text
    assert "Check now" in editor and "Pause" in editor


def test_the_range_selector_switches_the_chart_between_raw_and_hourly(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        state = make_monitored(session, "api")
        fill_hours(session, state.id, end=now(), hours=24 * 8, latency_avg=25.0)
        session.commit()
    week = cast.viewer.get("/monitoring/endpoints/api/chart?range=7d")
    assert week.status_code == 200 and "<html" not in week.text and "Hourly averages" in week.text
    assert 'aria-current="true">7d<' in week.text
    assert "No results in the last 1h" in cast.viewer.get("/monitoring/endpoints/api?range=1h").text
    assert cast.viewer.get("/monitoring/endpoints/api?range=9y").status_code == 422


def test_an_unknown_endpoint_is_404(cast: Cast) -> None:
    assert cast.viewer.get("/monitoring/endpoints/nope").status_code == 404


def test_a_push_endpoint_shows_its_url_to_editors_only(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_monitored(session, "nightly-backup", type="push", target=None, port=None)
        session.commit()
    assert "/api/v1/push/" in cast.editor.get("/monitoring/endpoints/nightly-backup").text
    assert "/api/v1/push/" not in cast.viewer.get("/monitoring/endpoints/nightly-backup").text
    assert cast.editor.get("/api/v1/monitoring/endpoints/nightly-backup").json()["push_url"].count("/api/v1/push/") == 1
    assert cast.viewer.get("/api/v1/monitoring/endpoints/nightly-backup").json()["push_url"] is None


def test_viewers_cannot_check_now_pause_or_resume(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    for path in ("/monitoring/endpoints/shop-web/check", "/monitoring/endpoints/shop-web/pause",
                 "/monitoring/endpoints/held/resume", "/api/v1/monitoring/endpoints/shop-web/check",
                 "/api/v1/monitoring/endpoints/shop-web/pause", "/api/v1/monitoring/endpoints/held/resume"):
        assert cast.viewer.post(path).status_code == 403, path


def test_pause_and_resume_change_the_state_and_are_audited(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    response = cast.editor.post("/monitoring/endpoints/shop-db/pause")
    assert response.status_code == 303 and response.headers["location"] == "/monitoring/endpoints/shop-db"
    body = cast.viewer.get("/api/v1/monitoring/endpoints/shop-db").json()
    assert body["paused"] is True and body["status"] == "paused" and "Paused by eddie" in body["message"]
    events = cast.viewer.get("/api/v1/monitoring/endpoints/shop-db/events").json()["items"]
    assert (events[0]["old_status"], events[0]["new_status"]) == ("down", "paused")
    assert "Resume" in cast.editor.get("/monitoring/endpoints/shop-db").text
    resumed = cast.editor.post("/api/v1/monitoring/endpoints/shop-db/resume").json()
    assert resumed["paused"] is False and resumed["status"] == "unknown" and resumed["next_due_at"]
    from calcifer.audit.models import AuditEntry

    with ctx.session_factory() as session:
        actions = [a for (a,) in session.query(AuditEntry.action).filter(AuditEntry.object_id == "shop-db")]
    assert sorted(actions) == ["monitoring.pause", "monitoring.resume"]


def test_pausing_an_endpoint_never_checked_creates_its_state(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    assert cast.editor.post("/api/v1/monitoring/endpoints/new-one/pause").json()["status"] == "paused"
    assert cast.editor.post("/api/v1/monitoring/endpoints/missing/pause").status_code == 404


def test_the_settings_page_is_for_admins_and_says_loudly_when_no_scheduler_runs(ctx: AppContext, cast: Cast) -> None:
    assert cast.editor.get("/settings/monitoring").status_code == 403
    page = cast.admin.get("/settings/monitoring")
    assert page.status_code == 200 and "No scheduler running" in page.text
    assert "monitor_results" in page.text and "One endpoint for a year" in page.text
    with ctx.session_factory() as session:
        make_scheduler(session, holder="box:42", lag_p50_ms=1.5, lag_p99_ms=12.0, queue=3)
        session.commit()
    page = cast.admin.get("/settings/monitoring").text
    assert "No scheduler running" not in page and "box:42" in page and "12.0 ms" in page
    with ctx.session_factory() as session:
        make_scheduler(session, heartbeat_at=now() - dt.timedelta(minutes=10))
        session.commit()
    assert "No scheduler running" in cast.admin.get("/settings/monitoring").text


def test_the_dashboard_and_the_catalog_endpoint_page_link_to_monitoring(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    dashboard = cast.viewer.get("/").text
    assert 'id="monitoring-summary"' in dashboard and 'href="/monitoring?status=down"' in dashboard
    assert cast.viewer.get("/endpoints/shop-web").headers["location"] == "/monitoring/endpoints/shop-web"


def test_the_endpoint_status_card_is_a_fragment_polled_for_fresh_state(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    card = cast.viewer.get("/monitoring/endpoints/shop-db/state")
    assert card.status_code == 200 and "<html" not in card.text
    assert 'id="endpoint-state"' in card.text and 'hx-trigger="every 10s"' in card.text
    assert 'data-status="down"' in card.text and "connection refused" in card.text
    assert cast.viewer.get("/monitoring/endpoints/nope/state").status_code == 404


def test_pausing_calls_the_status_change_hooks_and_survives_a_failing_one(ctx: AppContext, cast: Cast) -> None:
    from calcifer.monitoring import hooks

    _seed(ctx)
    seen: list[tuple[str, str, str]] = []

    def record(session: object, changes: list[hooks.StatusChange]) -> None:
        seen.extend((c.slug, c.old.value, c.new.value) for c in changes)

    def broken(session: object, changes: list[hooks.StatusChange]) -> None:
        raise RuntimeError("a hook that fails")

    hooks.STATUS_CHANGE_HOOKS.extend([record, broken])
    try:
        assert cast.editor.post("/api/v1/monitoring/endpoints/shop-db/pause").json()["status"] == "paused"
    finally:
        hooks.STATUS_CHANGE_HOOKS.remove(record)
        hooks.STATUS_CHANGE_HOOKS.remove(broken)
    assert seen == [("shop-db", "down", "paused")]
