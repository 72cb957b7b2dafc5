"""Uptime, 90-day bars and response-time series come from the aggregates and results as stored."""

from __future__ import annotations

import datetime as dt

import pytest

from calcifer.errors import Invalid
from calcifer.monitoring import charts, service
from calcifer.monitoring.choices import ResultCode
from calcifer.web.context import AppContext
from tests.monitoring.factories import NOW, fill_hours, make_hourly, make_monitored, make_result


def _endpoint(ctx: AppContext, slug: str = "web") -> int:
    with ctx.session_factory() as session:
        state = make_monitored(session, slug)
        session.commit()
        return state.id


def test_uptime_counts_only_the_hours_of_each_window(ctx: AppContext) -> None:
    eid = _endpoint(ctx)
    with ctx.session_factory() as session:
        fill_hours(session, eid, end=NOW, hours=24, checks=60, failures=0)             # the last day: all up
        make_hourly(session, eid, NOW - dt.timedelta(days=3), checks=60, failures=60)  # a bad hour 3 days ago
        make_hourly(session, eid, NOW - dt.timedelta(days=40), checks=60, failures=30)  # outside 30 d
        session.commit()
        figures = service.uptime_windows(session=session, endpoint_ids=[eid], windows=list(service.UPTIME_WINDOWS),
                                         now=NOW)[eid]
    assert figures["24h"].ratio == 1.0 and figures["24h"].checks == 24 * 60
    assert figures["7d"].checks == 25 * 60 and figures["7d"].failures == 60
    assert figures["7d"].ratio == pytest.approx(1 - 60 / (25 * 60))
    assert figures["30d"].ratio == figures["7d"].ratio
    assert figures["365d"].checks == 26 * 60 and figures["365d"].failures == 90


def test_uptime_leaves_maintenance_checks_out_and_reports_them_apart(ctx: AppContext) -> None:
    eid = _endpoint(ctx)
    with ctx.session_factory() as session:
        make_hourly(session, eid, NOW, checks=30, failures=3, maintenance_checks=30, maintenance_failures=30)
        session.commit()
        figure = service.uptime_windows(session=session, endpoint_ids=[eid], windows=["24h"], now=NOW)[eid]["24h"]
        plain = service.uptime(session=session, endpoint_ids=[eid], since=NOW - dt.timedelta(hours=1))
    assert figure.ratio == pytest.approx(0.9)
    assert figure.maintenance_checks == 30 and figure.maintenance_ratio == 0.0
    assert figure.as_dict()["maintenance"] == {"checks": 30, "failures": 30, "ratio": 0.0}
    assert plain == {eid: pytest.approx(0.9)}


def test_uptime_is_none_without_checks_and_for_unknown_ids(ctx: AppContext) -> None:
    eid = _endpoint(ctx)
    with ctx.session_factory() as session:
        make_hourly(session, eid, NOW, checks=0, maintenance_checks=10)
        session.commit()
        assert service.uptime(session=session, endpoint_ids=[eid, 999], since=NOW - dt.timedelta(days=1)) == {
            eid: None, 999: None}
        assert service.uptime(session=session, endpoint_ids=[], since=NOW) == {}


def test_ninety_day_bar_has_one_cell_per_day_with_status_and_tooltip(ctx: AppContext) -> None:
    eid = _endpoint(ctx)
    with ctx.session_factory() as session:
        fill_hours(session, eid, end=NOW.replace(hour=23), hours=24, checks=60)                 # today: up
        make_hourly(session, eid, NOW - dt.timedelta(days=1), checks=60, failures=60)           # yesterday: down
        make_hourly(session, eid, NOW - dt.timedelta(days=2), checks=100, failures=2)           # degraded
        make_hourly(session, eid, NOW - dt.timedelta(days=3), checks=0, maintenance_checks=60)  # maintenance
        make_hourly(session, eid, NOW - dt.timedelta(days=95), checks=60, failures=60)          # too old
        session.commit()
        days = service.daily_bars(session=session, endpoint_ids=[eid], now=NOW)[eid]
    assert len(days) == 90
    assert days[-1].date == NOW.date() and days[0].date == NOW.date() - dt.timedelta(days=89)
    assert [d.status for d in days[-4:]] == ["maintenance", "degraded", "down", "up"]
    assert days[-1].uptime.checks == 24 * 60
    assert all(d.status == "none" for d in days[:-4])
    assert "98.00% up" in days[-3].title and "2 failed checks" in days[-3].title
    assert "no data" in days[0].title


def test_a_service_bar_sums_its_endpoints_per_day(ctx: AppContext) -> None:
    first, second = _endpoint(ctx, "a"), _endpoint(ctx, "b")
    with ctx.session_factory() as session:
        make_hourly(session, first, NOW, checks=10, failures=0)
        make_hourly(session, second, NOW, checks=10, failures=10)
        session.commit()
        bars = service.daily_bars(session=session, endpoint_ids=[first, second], now=NOW)
    combined = service.combine_days([bars[first], bars[second]])
    assert combined[-1].uptime.checks == 20 and combined[-1].uptime.ratio == 0.5
    assert len(service.combine_days([], now=NOW)) == 90


def test_short_ranges_come_from_raw_results_in_buckets(ctx: AppContext) -> None:
    eid = _endpoint(ctx)
    with ctx.session_factory() as session:
        for n in range(60):  # one a minute for the last hour; every tenth one failed
            make_result(session, eid, NOW - dt.timedelta(minutes=n, seconds=5), latency_ms=10.0 + n,
                        status=ResultCode.DOWN if n % 10 == 0 else ResultCode.UP)
        make_result(session, eid, NOW - dt.timedelta(hours=3), latency_ms=999.0)  # outside 1 h
        session.commit()
        series = service.response_times(session=session, endpoint_id=eid, range_key="1h", now=NOW)
        day = service.response_times(session=session, endpoint_id=eid, range_key="24h", now=NOW)
    assert series.source == "raw" and series.bucket_seconds == 15
    assert sum(p.checks for p in series.points) == 60
    assert sum(p.failures for p in series.points) == 6
    assert max(p.max or 0 for p in series.points) == 69.0
    assert [p.at for p in series.points] == sorted(p.at for p in series.points)
    assert sum(p.checks for p in day.points) == 61 and len(day.points) <= service.CHART_BUCKETS


def test_long_ranges_come_from_hourly_aggregates(ctx: AppContext) -> None:
    eid = _endpoint(ctx)
    with ctx.session_factory() as session:
        fill_hours(session, eid, end=NOW, hours=24 * 10, latency_avg=30.0)
        make_result(session, eid, NOW - dt.timedelta(minutes=1), latency_ms=5000.0)  # raw rows are not read
        session.commit()
        week = service.response_times(session=session, endpoint_id=eid, range_key="7d", now=NOW)
        month = service.response_times(session=session, endpoint_id=eid, range_key="30d", now=NOW)
    assert week.source == "hourly" and len(week.points) == 24 * 7 + 1
    assert {p.avg for p in week.points} == {30.0}
    assert len(month.points) == 24 * 10


def test_an_unknown_range_is_refused(ctx: AppContext) -> None:
    with ctx.session_factory() as session, pytest.raises(Invalid):
        service.response_times(session=session, endpoint_id=1, range_key="5y")


def test_the_chart_breaks_its_line_over_gaps_and_marks_failures() -> None:
    start = NOW - dt.timedelta(hours=1)
    points = [service.Point(at=start + dt.timedelta(minutes=m), avg=10.0 + m, min=5.0, max=20.0 + m, checks=1,
                            failures=1 if m == 50 else 0) for m in (1, 2, 3, 50, 51)]
    chart = charts.latency_chart(service.Series("1h", start, NOW, "raw", 15, points), interval_seconds=60)
    assert chart.line.count("M") == 2 and chart.line.count("L") == 3  # minutes apart: one line per stretch
    assert charts.latency_chart(service.Series("1h", start, NOW, "raw", 15, points)).line.count("M") == 5
    assert sum(c.failed for c in chart.columns) == 1 and "1 failed" in chart.columns[3].title
    assert chart.max_ms == 100.0 and chart.y_ticks[0].label == "100 ms"
    assert charts.latency_chart(service.Series("1h", start, NOW, "raw", 15, [])).empty
