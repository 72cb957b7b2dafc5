"""The monitoring JSON API: lists, detail, results, series, uptime, events, check now, pause/resume."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator

import pytest

from calcifer.monitoring.choices import EventKind, ResultCode
from calcifer.web.context import AppContext
from tests.catalog.helpers import error_of
from tests.conftest import Cast
from tests.monitoring.factories import (
    fill_hours,
    make_endpoint,
    make_event,
    make_monitored,
    make_result,
    make_service,
    now,
)


def test_the_list_is_paged_by_cursor_and_filtered(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_service(session, "shop", tags=["public"])
        for n in range(7):
            make_monitored(session, f"shop-{n}", service="shop", status="down" if n % 3 == 0 else "up")
        make_monitored(session, "other", status="up")
        session.commit()
    first = cast.viewer.get("/api/v1/monitoring/endpoints?tag=public&limit=3").json()
    assert [i["slug"] for i in first["items"]] == ["shop-0", "shop-1", "shop-2"]
    assert first["counts"]["down"] == 3 and first["counts"]["up"] == 4 and first["total"] == 7
    second = cast.viewer.get(f"/api/v1/monitoring/endpoints?tag=public&limit=3&cursor={first['next_cursor']}").json()
    third = cast.viewer.get(f"/api/v1/monitoring/endpoints?tag=public&limit=3&cursor={second['next_cursor']}").json()
    assert [i["slug"] for i in second["items"] + third["items"]] == ["shop-3", "shop-4", "shop-5", "shop-6"]
    assert third["next_cursor"] is None and first["prev_cursor"] is None
    back = cast.viewer.get(f"/api/v1/monitoring/endpoints?tag=public&limit=3&before={third['prev_cursor']}").json()
    assert back["items"] == second["items"] and back["prev_cursor"] is not None
    item = first["items"][0]
    assert item["status"] == "down" and set(item["uptime"]) == {"24h", "30d"}
    assert item["uptime"]["24h"]["ratio"] is None
    downs = cast.viewer.get("/api/v1/monitoring/endpoints?status=down&service=shop").json()["items"]
    assert [i["slug"] for i in downs] == ["shop-0", "shop-3", "shop-6"]


def test_bad_list_input_gets_a_clear_error(cast: Cast) -> None:
    assert error_of(cast.viewer.get("/api/v1/monitoring/endpoints?cursor=%%%"), 422)["code"] == "bad_cursor"
    assert error_of(cast.viewer.get("/api/v1/monitoring/endpoints?status=sideways"), 422)["code"] == "bad_status"
    assert cast.viewer.get("/api/v1/monitoring/endpoints?limit=0").status_code == 422
    assert error_of(cast.viewer.get("/api/v1/monitoring/endpoints/nope"), 404)["code"] == "not_found"
    assert cast.outsider.get("/api/v1/monitoring/endpoints").status_code == 401


def test_the_detail_has_uptime_for_every_window_and_the_certificate(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        state = make_monitored(session, "web", type="http", target="https://web.test/", cert_days_left=40.0,
                               cert_info={"subject": "CN=web.test", "issuer": "CN=CA", "serial": "01"})
        fill_hours(session, state.id, end=now(), hours=48, checks=60, failures=6)
        session.commit()
    body = cast.viewer.get("/api/v1/monitoring/endpoints/web").json()
    assert set(body["uptime"]) == {"24h", "7d", "30d", "365d"}
    assert body["uptime"]["7d"]["ratio"] == pytest.approx(0.9) and body["uptime"]["7d"]["checks"] == 48 * 60
    assert body["certificate"]["subject"] == "CN=web.test" and body["certificate"]["days_left"] == 40.0
    report = cast.viewer.get("/api/v1/monitoring/endpoints/web/uptime").json()
    assert len(report["days"]) == 90 and report["windows"]["24h"]["percent"] == pytest.approx(90.0)
    assert len(cast.viewer.get("/api/v1/monitoring/endpoints/web/uptime?days=7").json()["days"]) == 7


def test_results_are_newest_first_within_the_range_and_paged(ctx: AppContext, cast: Cast) -> None:
    moment = now()
    with ctx.session_factory() as session:
        state = make_monitored(session, "web")
        for n in range(5):
            make_result(session, state.id, moment - dt.timedelta(minutes=n), latency_ms=float(n),
                        status=ResultCode.DOWN if n == 1 else ResultCode.UP, message="refused" if n == 1 else None)
        make_result(session, state.id, moment - dt.timedelta(hours=5))
        session.commit()
    first = cast.viewer.get("/api/v1/monitoring/endpoints/web/results?limit=3").json()
    assert [r["latency_ms"] for r in first["items"]] == [0.0, 1.0, 2.0]
    assert first["items"][1]["status"] == "down" and first["items"][1]["message"] == "refused"
    rest = cast.viewer.get(f"/api/v1/monitoring/endpoints/web/results?limit=3&cursor={first['next_cursor']}").json()
    assert [r["latency_ms"] for r in rest["items"]] == [3.0, 4.0] and rest["next_cursor"] is None
    since = (moment - dt.timedelta(hours=6)).isoformat()
    wide = cast.viewer.get("/api/v1/monitoring/endpoints/web/results", params={"since": since}).json()
    assert len(wide["items"]) == 6
    assert error_of(cast.viewer.get("/api/v1/monitoring/endpoints/web/results?since=yesterday"), 422)["code"] \
        == "bad_time"


def test_series_and_events(ctx: AppContext, cast: Cast) -> None:
    moment = now()
    with ctx.session_factory() as session:
        state = make_monitored(session, "web")
        make_result(session, state.id, moment - dt.timedelta(minutes=2), latency_ms=30.0)
        for n in range(4):
            make_event(session, state.id, moment - dt.timedelta(minutes=n), kind=EventKind.FAILURE, old=None,
                       new=None, message=f"failure {n}")
        session.commit()
    series = cast.viewer.get("/api/v1/monitoring/endpoints/web/series?range=1h").json()
    assert series["source"] == "raw" and series["points"][0]["avg_ms"] == 30.0
    assert error_of(cast.viewer.get("/api/v1/monitoring/endpoints/web/series?range=2y"), 422)["code"] == "bad_range"
    events = cast.viewer.get("/api/v1/monitoring/endpoints/web/events?limit=3").json()
    assert [e["message"] for e in events["items"]] == ["failure 0", "failure 1", "failure 2"]
    more = cast.viewer.get(f"/api/v1/monitoring/endpoints/web/events?limit=3&cursor={events['next_cursor']}").json()
    assert [e["message"] for e in more["items"]] == ["failure 3"] and more["next_cursor"] is None


def test_the_summary_counts_statuses(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_monitored(session, "a", status="down")
        make_endpoint(session, "b")
        session.commit()
    body = cast.viewer.get("/api/v1/monitoring/summary").json()
    assert body["counts"]["down"] == 1 and body["counts"]["unknown"] == 1 and body["scheduler_running"] is False


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts and closes connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_check_now_runs_one_check_and_records_it(ctx: AppContext, cast: Cast, listener: int) -> None:
    pytest.importorskip("calcifer.monitoring.scheduler")
    with ctx.session_factory() as session:
        make_endpoint(session, "local", type="tcp", target="127.0.0.1", port=listener)
        session.commit()
    body = cast.editor.post("/api/v1/monitoring/endpoints/local/check").json()
    assert body["status"] == "up" and body["last_checked_at"] and body["latency_ms"] is not None
    results = cast.viewer.get("/api/v1/monitoring/endpoints/local/results").json()["items"]
    assert len(results) == 1 and results[0]["status"] == "up"
    page = cast.editor.post("/monitoring/endpoints/local/check")
    assert page.status_code == 303
    assert len(cast.viewer.get("/api/v1/monitoring/endpoints/local/results").json()["items"]) == 2
    assert error_of(cast.editor.post("/api/v1/monitoring/endpoints/nope/check"), 404)["code"] == "not_found"
