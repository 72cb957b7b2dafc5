"""The endpoint page's chart opens on the smallest range that shows the endpoint's whole history."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from calcifer.monitoring import service
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.factories import fill_hours, make_endpoint, make_hourly, make_monitored, make_result, now


def opened_on(cast: Cast, slug: str) -> str:
    page = cast.viewer.get(f"/monitoring/endpoints/{slug}")
    assert page.status_code == 200, page.text
    chosen = re.findall(r'aria-current="true">([0-9a-z]+)<', page.text.split('id="endpoint-chart"')[1])
    assert len(chosen) == 1, chosen
    return chosen[0]


def checked_for(ctx: AppContext, slug: str, age: dt.timedelta, *, hourly_days: int = 0) -> None:
    """An endpoint checked every minute for ``age`` (raw results kept 48 h at most, as retention does),
    with hourly aggregates for the same time, or ``hourly_days`` when given."""
    moment = now()
    with ctx.session_factory() as session:
        state = make_monitored(session, slug)
        raw = min(age, dt.timedelta(hours=48))
        for minute in range(0, int(raw.total_seconds() // 60) + 1, 1 if raw <= dt.timedelta(hours=2) else 30):
            make_result(session, state.id, moment - dt.timedelta(minutes=minute), latency_ms=20.0)
        hours = hourly_days * 24 if hourly_days else int(age.total_seconds() // 3600) + 1
        fill_hours(session, state.id, end=moment, hours=hours)
        session.commit()


@pytest.mark.parametrize(("age", "hourly_days", "expected"), [
    (dt.timedelta(minutes=20), 0, "1h"),
    (dt.timedelta(minutes=59), 0, "1h"),
    (dt.timedelta(hours=5), 0, "24h"),
    (dt.timedelta(hours=47), 0, "7d"),
    (dt.timedelta(hours=48), 3, "7d"),
    (dt.timedelta(hours=48), 12, "30d"),
    (dt.timedelta(hours=48), 90, "30d"),  # older than the largest range: the largest
])
def test_the_chart_opens_on_the_smallest_range_that_shows_all_its_data(
        ctx: AppContext, cast: Cast, age: dt.timedelta, hourly_days: int, expected: str) -> None:
    checked_for(ctx, "api", age, hourly_days=hourly_days)
    assert opened_on(cast, "api") == expected


def test_twenty_minutes_of_checks_fill_most_of_the_chart(ctx: AppContext, cast: Cast) -> None:
    checked_for(ctx, "api", dt.timedelta(minutes=20))
    page = cast.viewer.get("/monitoring/endpoints/api").text
    line = re.search(r'<path class="line" d="M([0-9.]+),', page)
    assert line is not None
    assert float(line.group(1)) < 700  # a third of the 1000-wide chart, not the last sliver of a day


def test_an_endpoint_never_checked_opens_on_the_smallest_range_and_a_chosen_range_wins(
        ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_endpoint(session, "new-one")
        state = make_monitored(session, "api")
        make_hourly(session, state.id, now() - dt.timedelta(days=10))
        session.commit()
    assert opened_on(cast, "new-one") == "1h"
    assert opened_on(cast, "api") == "30d"
    chosen = cast.viewer.get("/monitoring/endpoints/api?range=24h").text
    assert 'aria-current="true">24h<' in chosen


def test_a_first_hourly_row_of_the_same_hour_does_not_stretch_the_range(ctx: AppContext) -> None:
    # The first check at 10:50 is aggregated into the row of 10:00; at 11:40 the history is 50 minutes.
    at = now().replace(hour=11, minute=40, second=0, microsecond=0)
    with ctx.session_factory() as session:
        state = make_monitored(session, "api")
        make_result(session, state.id, at - dt.timedelta(minutes=50))
        make_hourly(session, state.id, at - dt.timedelta(minutes=50))
        make_hourly(session, state.id, at)
        session.commit()
        assert service.fitting_range(session=session, endpoint_id=state.id, now=at) == "1h"
