"""Statuses read as words ("In progress", "Down"), the same on every page, through one filter."""

from __future__ import annotations

import datetime as dt

from calcifer.web.context import AppContext
from calcifer.web.templating import human_status
from calcifer.work.models import WorkItem
from tests.conftest import Cast
from tests.monitoring.factories import make_monitored, now
from tests.work.helpers import make_work_item


def test_stored_statuses_become_capitalised_words() -> None:
    assert human_status("in_progress") == "In progress"
    assert human_status("down") == "Down"
    assert human_status("") == ""


def test_the_dashboard_and_work_list_say_in_progress_and_name_the_assignee(ctx: AppContext, cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Move the wiki", assignee="eddie")
    with ctx.session_factory() as session:
        row = session.get(WorkItem, item["id"])
        assert row is not None
        row.status = "in_progress"
        session.commit()
    dashboard = cast.viewer.get("/").text
    entry = dashboard.split("Move the wiki", 1)[1].split("</li>", 1)[0]
    assert ">In progress</span>" in entry and "eddie" in entry
    assert "in_progress</span>" not in dashboard and "in progress</span>" not in dashboard
    assert ">In progress</span>" in cast.viewer.get("/work?status=open").text


def test_endpoints_down_on_the_dashboard_say_so_in_words_and_for_how_long(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        state = make_monitored(session, "shop-db", status="down")
        state.status_since = now() - dt.timedelta(hours=3, minutes=5)
        session.commit()
    attention = cast.viewer.get("/").text.split('id="dashboard-attention"', 1)[1].split('id="dashboard-incidents"')[0]
    assert ">Down</span>" in attention and "for 3 hours" in attention
    assert ">Down</span>" in cast.viewer.get("/monitoring").text
