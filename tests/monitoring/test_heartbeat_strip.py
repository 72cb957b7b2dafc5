"""/monitoring rows carry a heartbeat strip: the last checks of each endpoint, oldest first, fetched in one
query for the whole page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from calcifer.monitoring import service
from calcifer.monitoring.choices import ResultCode
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.factories import make_monitored, make_result, now


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


def _strip(page: str, slug: str) -> list[str]:
    row = page.split(f'<tr data-slug="{slug}">', 1)[1].split("</tr>", 1)[0]
    return re.findall(r'class="beat beat-[a-z]+[^"]*" data-status="([a-z]+)"', row)


def test_each_row_shows_its_last_thirty_checks_oldest_first(ctx: AppContext, cast: Cast) -> None:
    start = now() - dt.timedelta(hours=1)
    with ctx.session_factory() as session:
        flappy = make_monitored(session, "flappy", status="down")
        steady = make_monitored(session, "steady", status="up")
        # 40 checks: the 10 oldest are dropped; of the 30 kept, the last 3 are down and the 20th is degraded.
        for n in range(40):
            code = ResultCode.DOWN if n >= 37 else ResultCode.DEGRADED if n == 29 else ResultCode.UP
            make_result(session, flappy.id, start + dt.timedelta(minutes=n), status=code)
        for n in range(5):
            make_result(session, steady.id, start + dt.timedelta(minutes=n))
        make_monitored(session, "fresh", status="unknown")
        session.commit()
    page = cast.viewer.get("/monitoring").text
    assert _strip(page, "flappy") == ["up"] * 19 + ["degraded"] + ["up"] * 7 + ["down"] * 3
    assert _strip(page, "steady") == ["up"] * 5
    fresh = page.split('<tr data-slug="fresh">', 1)[1].split("</tr>", 1)[0]
    assert _strip(page, "fresh") == [] and "no checks yet" in fresh


def test_the_strip_costs_one_query_however_many_rows_the_page_has(ctx: AppContext, cast: Cast) -> None:
    start = now() - dt.timedelta(hours=1)
    with ctx.session_factory() as session:
        for n in range(12):
            state = make_monitored(session, f"ep-{n:02}", status="up")
            for minute in range(3):
                make_result(session, state.id, start + dt.timedelta(minutes=minute))
        session.commit()
    with _counting(ctx) as statements:
        page = cast.viewer.get("/monitoring").text
    assert all(len(_strip(page, f"ep-{n:02}")) == 3 for n in range(12))
    reading_results = [s for s in statements if "monitor_results" in s]
    assert len(reading_results) == 1


def test_results_sharing_a_millisecond_never_overfill_the_strip(ctx: AppContext) -> None:
    at = now() - dt.timedelta(minutes=5)
    with ctx.session_factory() as session:
        state = make_monitored(session, "busy", status="up")
        for _ in range(service.HEARTBEATS + 5):
            make_result(session, state.id, at)
        session.commit()
        strips = service.recent_heartbeats(session=session, endpoint_ids=[state.id])
    assert len(strips[state.id]) == service.HEARTBEATS
