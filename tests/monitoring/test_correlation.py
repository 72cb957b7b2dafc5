"""Correlation: an incident that starts while a work item on the endpoint's service (or a service it
needs) is in progress, or was merged within the hour before, shows it as possibly related."""

from __future__ import annotations

import datetime as dt

from calcifer.monitoring import incidents
from calcifer.monitoring.choices import Status
from calcifer.web.context import AppContext
from calcifer.work.models import WorkItem
from tests.conftest import Cast
from tests.notify.helpers import add_endpoint, add_service, change, fire


def _work_item(ctx: AppContext, title: str, service: str, status: str,
               completed_at: dt.datetime | None = None) -> int:
    with ctx.session_factory() as session:
        item = WorkItem(title=title, slug="x", category="service", action="change", service=service, status=status,
                        completed_at=completed_at, branch="", worktree_path="")
        session.add(item)
        session.commit()
        return item.id


def _setup(ctx: AppContext) -> int:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_service(session, "grafana", depends_on=["db"])
        add_service(session, "proxy", depends_on=["grafana"])
        eid = add_endpoint(session, "grafana-http", service="grafana")
        session.commit()
    return eid


def test_a_work_item_in_progress_on_the_service_is_shown_as_possibly_related(ctx: AppContext, cast: Cast) -> None:
    eid = _setup(ctx)
    item = _work_item(ctx, "Upgrade Grafana", "grafana", "in_progress")
    _work_item(ctx, "Tune the proxy", "proxy", "in_progress")  # depends on grafana, not the reverse
    _work_item(ctx, "Plan db move", "db", "planning")           # not started
    now = dt.datetime.now(dt.UTC)
    fire(ctx, change(eid, "grafana-http", Status.UP, Status.DOWN, now, service="grafana"))
    with ctx.session_factory() as session:
        (incident,) = incidents.open_incidents(session=session)
    assert [r["id"] for r in incident.related_work] == [item]
    page = cast.viewer.get(f"/incidents/{incident.id}").text
    assert f"Possibly related: <a href=\"/work/{item}\">work item #{item}, in progress</a>" in page


def test_a_work_item_merged_14_minutes_before_on_a_needed_service_is_shown(ctx: AppContext, cast: Cast) -> None:
    eid = _setup(ctx)
    now = dt.datetime.now(dt.UTC)
    recent = _work_item(ctx, "Migrate db", "db", "complete", completed_at=now - dt.timedelta(minutes=14, seconds=5))
    _work_item(ctx, "Old db change", "db", "complete", completed_at=now - dt.timedelta(hours=2))
    fire(ctx, change(eid, "grafana-http", Status.UP, Status.DOWN, now, service="grafana"))
    with ctx.session_factory() as session:
        (incident,) = incidents.open_incidents(session=session)
    assert [r["id"] for r in incident.related_work] == [recent]
    assert incident.related_work[0]["merged_minutes_before"] == 14
    detail = cast.viewer.get(f"/api/v1/incidents/{incident.id}").json()
    assert detail["related_work"][0]["text"] == f"work item #{recent}, merged 14 minutes before it started"
    assert f"work item #{recent}, merged 14 minutes" in cast.viewer.get(f"/incidents/{incident.id}").text


def test_a_work_item_merged_two_hours_before_is_not_related(ctx: AppContext, cast: Cast) -> None:
    eid = _setup(ctx)
    now = dt.datetime.now(dt.UTC)
    _work_item(ctx, "Old grafana change", "grafana", "complete", completed_at=now - dt.timedelta(hours=2))
    _work_item(ctx, "Cancelled grafana change", "grafana", "cancelled", completed_at=now - dt.timedelta(minutes=5))
    fire(ctx, change(eid, "grafana-http", Status.UP, Status.DOWN, now, service="grafana"))
    with ctx.session_factory() as session:
        (incident,) = incidents.open_incidents(session=session)
    assert incident.related_work == []
    assert "Possibly related" not in cast.viewer.get(f"/incidents/{incident.id}").text
