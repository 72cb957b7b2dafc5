"""The catalog's endpoints carry monitoring's live state (through monitoring's read model): the JSON API,
the endpoints list, the service page and the graph's node health; one endpoint has one page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.factories import fill_hours, make_endpoint, make_monitored, make_service, now


def _seed(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        make_service(session, "shop")
        make_service(session, "wiki")
        make_service(session, "lonely")  # no endpoints
        web = make_monitored(session, "shop-web", service="shop", status="up", latency_ms=42.0)
        make_monitored(session, "shop-db", service="shop", status="down", message="connection refused",
                       status_since=now() - dt.timedelta(minutes=7))
        make_monitored(session, "wiki-web", service="wiki", status="degraded", message="slow")
        make_endpoint(session, "wiki-new", service="wiki")                        # never checked
        make_endpoint(session, "wiki-off", service="wiki", enabled=False)         # disabled in the catalog
        # 24 hours of 100 checks each, 6 failed in one hour: 2394/2400 passed.
        fill_hours(session, web.id, end=now(), hours=23, checks=100, failures=0)
        fill_hours(session, web.id, end=now() - dt.timedelta(hours=23), hours=1, checks=100, failures=6)
        session.commit()


def _status_of(html: str, slug: str) -> str:
    row = html.split(f'data-slug="{slug}"', 1)[1].split("</tr>", 1)[0]
    found = re.search(r'data-status="([a-z]+)"', row)
    assert found, row
    return found.group(1)


def test_the_endpoint_api_carries_status_since_last_check_latency_and_uptime(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    body = cast.viewer.get("/api/v1/endpoints/shop-web").json()
    assert body["status"] == "up" and body["latency_ms"] == 42.0
    assert body["status_since"] and body["last_checked_at"]
    assert abs(body["uptime_24h"] - (1 - 6 / 2400)) < 1e-9
    down = cast.viewer.get("/api/v1/endpoints/shop-db").json()
    assert down["status"] == "down" and down["uptime_24h"] is None
    assert cast.viewer.get("/api/v1/endpoints/no-such").status_code == 404


def test_the_endpoints_api_list_shows_the_status_monitoring_shows(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    items = cast.viewer.get("/api/v1/endpoints?limit=500").json()["items"]
    mine = {i["slug"]: i["status"] for i in items}
    theirs = {i["slug"]: i["status"] for i in cast.viewer.get("/api/v1/monitoring/endpoints?limit=500").json()["items"]}
    assert mine == theirs == {"shop-web": "up", "shop-db": "down", "wiki-web": "degraded", "wiki-new": "unknown",
                              "wiki-off": "paused"}
    service = cast.viewer.get("/api/v1/services/shop").json()
    assert {e["slug"]: e["status"] for e in service["endpoints"]} == {"shop-web": "up", "shop-db": "down"}


def test_the_endpoints_page_shows_each_endpoints_live_status(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    page = cast.viewer.get("/endpoints").text
    for slug, status in (("shop-web", "up"), ("shop-db", "down"), ("wiki-web", "degraded"), ("wiki-new", "unknown"),
                         ("wiki-off", "paused")):
        assert _status_of(page, slug) == status
    web_row = page.split('data-slug="shop-web"', 1)[1].split("</tr>", 1)[0]
    assert "42" in web_row and "99.75" in web_row


def test_the_service_page_shows_its_endpoints_live_status(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    page = cast.viewer.get("/services/shop").text
    assert _status_of(page, "shop-db") == "down" and _status_of(page, "shop-web") == "up"
    assert "Live status comes with monitoring" not in page


@contextmanager
def _counting(ctx: AppContext) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(ctx.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(ctx.engine, "before_cursor_execute", record)


def test_the_endpoints_page_asks_for_live_state_once_however_many_rows(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_service(session, "shop")
        for n in range(3):
            make_monitored(session, f"a-{n:02}", service="shop", status="down")
        session.commit()
    cast.viewer.get("/endpoints")  # warm-up: the first request of a client does its one-off reads
    with _counting(ctx) as few:
        small = cast.viewer.get("/endpoints").text
    with ctx.session_factory() as session:
        for n in range(3, 40):
            make_monitored(session, f"a-{n:02}", service="shop", status="down")
        session.commit()
    with _counting(ctx) as many:
        large = cast.viewer.get("/endpoints").text
    assert _status_of(small, "a-00") == "down" and _status_of(large, "a-39") == "down"
    assert len(many) == len(few)
    assert sum("monitor_states" in s for s in many) == 1


def test_the_catalog_endpoint_url_leads_to_the_one_endpoint_page(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    response = cast.viewer.get("/endpoints/shop-db")
    assert response.status_code == 307 and response.headers["location"] == "/monitoring/endpoints/shop-db"
    page = cast.viewer.get(response.headers["location"]).text
    assert 'data-status="down"' in page and "connection refused" in page        # monitoring
    assert "catalog/endpoints/shop-db.yaml:1" in page and "Declaration" in page  # declaration
    assert cast.viewer.get("/endpoints/no-such").status_code == 404


def test_the_graph_health_is_the_worst_status_of_each_services_endpoints(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    health = cast.viewer.get("/api/v1/catalog/graph/health").json()["services"]
    assert health == {"shop": "down", "wiki": "degraded"}
    page = cast.viewer.get("/catalog/graph").text
    legend = page.split('id="graph-health-legend"', 1)[1].split("</ul>", 1)[0]
    for word in ("down", "degraded", "unknown", "up", "paused", "no endpoints"):
        assert word in legend
