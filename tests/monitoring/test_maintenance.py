"""Maintenance windows: one-off, recurring (cron) and "while work item #N is in progress"; the
provider the scheduler asks; alerts held while results and incidents still record."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from calcifer.monitoring import hooks, maintenance, store
from calcifer.monitoring.choices import MaintenanceKind, ResultCode
from calcifer.monitoring.models import Incident, MonitorResult
from calcifer.monitoring.schemas import WindowCreate
from calcifer.notify import service as notify
from calcifer.notify.models import Delivery
from calcifer.web.context import AppContext
from calcifer.work.models import WorkItem
from tests.conftest import Cast, make_user
from tests.notify.helpers import add_endpoint, add_service, receiver, user

T0 = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)  # a Sunday, 01:00 UTC


def _catalog(ctx: AppContext) -> dict[str, int]:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_service(session, "web")
        ids = {"db-tcp": add_endpoint(session, "db-tcp", service="db"),
               "db-ping": add_endpoint(session, "db-ping", service="db"),
               "web-http": add_endpoint(session, "web-http", service="web")}
        session.commit()
    return ids


def _create(ctx: AppContext, **fields: object) -> int:
    from calcifer.auth.choices import Role

    with ctx.session_factory() as session:
        try:
            actor = user(session, "mona")
        except Exception:  # noqa: BLE001 - first call creates her
            session.rollback()
            make_user(ctx, "mona", Role.EDITOR)
            actor = user(session, "mona")
        window = maintenance.create_window(session=session, actor=actor,
                                           data=WindowCreate(title="Window", **fields))  # type: ignore[arg-type]
        return window.id


def _in_maintenance(ctx: AppContext, at: dt.datetime) -> set[str]:
    with ctx.session_factory() as session:
        return hooks.endpoints_in_maintenance(session=session, now=at)


def test_a_one_off_window_covers_its_services_endpoints_between_start_and_end(ctx: AppContext) -> None:
    _catalog(ctx)
    _create(ctx, kind=MaintenanceKind.ONE_OFF, starts_at=T0, ends_at=T0 + dt.timedelta(hours=1), services=["db"])
    assert _in_maintenance(ctx, T0 - dt.timedelta(seconds=1)) == set()
    assert _in_maintenance(ctx, T0) == {"db-tcp", "db-ping"}
    assert _in_maintenance(ctx, T0 + dt.timedelta(minutes=59)) == {"db-tcp", "db-ping"}
    assert _in_maintenance(ctx, T0 + dt.timedelta(hours=1)) == set()


def test_a_window_with_no_scope_covers_every_endpoint(ctx: AppContext) -> None:
    _catalog(ctx)
    _create(ctx, kind=MaintenanceKind.ONE_OFF, starts_at=T0, ends_at=T0 + dt.timedelta(hours=1))
    assert _in_maintenance(ctx, T0 + dt.timedelta(minutes=1)) == {"db-tcp", "db-ping", "web-http"}


def test_a_recurring_window_is_active_each_time_its_cron_fires_for_its_duration(ctx: AppContext) -> None:
    _catalog(ctx)
    _create(ctx, kind=MaintenanceKind.RECURRING, cron="0 2 * * 0", duration_minutes=90, endpoints=["web-http"])
    sunday = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    expected = {dt.timedelta(hours=1, minutes=59): set(), dt.timedelta(hours=2): {"web-http"},
                dt.timedelta(hours=3, minutes=29): {"web-http"}, dt.timedelta(hours=3, minutes=30): set(),
                dt.timedelta(days=1, hours=2, minutes=30): set(),           # Monday: no
                dt.timedelta(days=7, hours=2, minutes=10): {"web-http"}}    # next Sunday: yes
    for offset, slugs in expected.items():
        assert _in_maintenance(ctx, sunday + offset) == slugs, offset
    with ctx.session_factory() as session:
        (window,) = maintenance.list_windows(session=session)
        assert maintenance.next_start(window, sunday) == sunday + dt.timedelta(hours=2)


def test_a_work_item_window_is_active_only_while_the_work_item_is_in_progress(ctx: AppContext) -> None:
    _catalog(ctx)
    with ctx.session_factory() as session:
        item = WorkItem(title="Move db", slug="move-db", category="service", action="change", service="db",
                        status="planning", branch="", worktree_path="")
        session.add(item)
        session.commit()
        item_id = item.id
    _create(ctx, kind=MaintenanceKind.WORK_ITEM, work_item_id=item_id)
    now = dt.datetime.now(dt.UTC)
    assert _in_maintenance(ctx, now) == set()
    for status, expected in (("in_progress", {"db-tcp", "db-ping"}), ("complete", set())):
        with ctx.session_factory() as session:
            session.get(WorkItem, item_id).status = status  # type: ignore[union-attr]
            session.commit()
        maintenance.invalidate_cache()  # the work service does this on its own changes
        assert _in_maintenance(ctx, now + dt.timedelta(seconds=1)) == expected


def test_a_window_ended_by_hand_stops_holding_alerts(ctx: AppContext, cast: Cast) -> None:
    _catalog(ctx)
    now = dt.datetime.now(dt.UTC)
    created = cast.editor.post("/api/v1/maintenance-windows", json={
        "title": "Patch db", "kind": "one_off", "starts_at": (now - dt.timedelta(minutes=5)).isoformat(),
        "ends_at": (now + dt.timedelta(hours=1)).isoformat(), "services": ["db"]})
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "active"
    assert _in_maintenance(ctx, dt.datetime.now(dt.UTC)) == {"db-tcp", "db-ping"}
    window_id = created.json()["id"]
    assert cast.viewer.post(f"/api/v1/maintenance-windows/{window_id}/end").status_code == 403
    ended = cast.editor.post(f"/api/v1/maintenance-windows/{window_id}/end")
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert _in_maintenance(ctx, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == set()
    assert cast.editor.post(f"/api/v1/maintenance-windows/{window_id}/end").status_code == 409


def test_bad_windows_are_refused_with_every_problem_listed(ctx: AppContext, cast: Cast) -> None:
    _catalog(ctx)
    response = cast.editor.post("/api/v1/maintenance-windows", json={
        "title": "Bad", "kind": "recurring", "cron": "every sunday", "services": ["nope"]})
    assert response.status_code == 422
    messages = " ".join(d["message"] for d in response.json()["error"]["details"])
    assert "cron" in messages and "duration" in messages and "nope" in messages
    assert cast.viewer.post("/api/v1/maintenance-windows", json={"title": "x"}).status_code == 403


def test_the_maintenance_page_lists_windows_and_lets_editors_create_them(ctx: AppContext, cast: Cast) -> None:
    _catalog(ctx)
    _create(ctx, kind=MaintenanceKind.RECURRING, cron="0 2 * * 0", duration_minutes=60, services=["web"])
    page = cast.viewer.get("/maintenance")
    assert page.status_code == 200 and "0 2 * * 0" in page.text and "New maintenance window" not in page.text
    assert "New maintenance window" in cast.editor.get("/maintenance").text
    listed = cast.viewer.get("/api/v1/maintenance-windows").json()["items"]
    assert listed[0]["cron"] == "0 2 * * 0" and listed[0]["services"] == ["web"]


def test_maintenance_holds_alerts_while_results_and_incidents_still_record(ctx: AppContext) -> None:
    ids = _catalog(ctx)
    now = dt.datetime.now(dt.UTC)
    _create(ctx, kind=MaintenanceKind.ONE_OFF, starts_at=now - dt.timedelta(minutes=1),
            ends_at=now + dt.timedelta(hours=1), services=["db"])
    with receiver() as hook, ctx.session_factory() as session:
        notify.create_channel(session=session, actor=user(session, "mona"), name="ops", url=hook.url())
        held = hooks.endpoints_in_maintenance(session=session, now=now)
        assert "db-tcp" in held
        # What the scheduler does: the provider flags the results, the writer records them.
        records = [store.ResultRecord(endpoint_id=ids["db-tcp"], slug="db-tcp", service="db", retries=0,
                                      checked_at=now.timestamp() + n, code=code, latency_ms=1.0,
                                      message="refused" if code is ResultCode.DOWN else "",
                                      in_maintenance="db-tcp" in held)
                   for n, code in enumerate([ResultCode.UP, ResultCode.DOWN])]
        store.write_batch(session, records)
        session.commit()
        results = session.scalars(select(MonitorResult).where(MonitorResult.endpoint_id == ids["db-tcp"])).all()
        assert len(results) == 2 and all(r.in_maintenance for r in results)
        (incident,) = session.scalars(select(Incident)).all()
        assert incident.in_maintenance and incident.is_open
        (delivery,) = session.scalars(select(Delivery)).all()
        assert delivery.status == "held" and delivery.kind == "down"
        assert notify.send_due(session_factory=ctx.session_factory) == 0
        notify.queue_reminders(session=session, now=now + dt.timedelta(minutes=1))
        assert notify.send_due(session_factory=ctx.session_factory) == 0
    assert hook.received == []
