"""Delivery: the hook queues, the notifier sends to a JSON webhook on 127.0.0.1; one message per event
per channel; reminders while down; retries with back-off; routing; certificate notices."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import select

from calcifer.auth.choices import Role
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models import MonitorState
from calcifer.notify import service as notify
from calcifer.notify.models import Delivery
from calcifer.web.context import AppContext
from tests.conftest import make_user
from tests.notify.helpers import add_endpoint, add_service, change, fire, receiver, user

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _setup(ctx: AppContext, *channels: dict[str, object]) -> dict[str, int]:
    make_user(ctx, "alice", Role.ADMIN)
    with ctx.session_factory() as session:
        add_service(session, "db", tags=["data"])
        add_service(session, "web", tags=["frontend"])
        ids = {"db-tcp": add_endpoint(session, "db-tcp", service="db"),
               "web-http": add_endpoint(session, "web-http", service="web")}
        session.commit()
        for fields in channels:
            notify.create_channel(session=session, actor=user(session, "alice"), **fields)  # type: ignore[arg-type]
    return ids


def _send(ctx: AppContext, now: dt.datetime | None = None) -> int:
    return notify.send_due(session_factory=ctx.session_factory, now=now)


def _deliveries(ctx: AppContext) -> list[Delivery]:
    with ctx.session_factory() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_down_and_recovery_reach_the_webhook_naming_the_endpoint_and_status(ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "ops", "url": hook.url()})
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, T0, service="db",
                         message="connection refused"))
        assert _send(ctx) == 1
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.DOWN, Status.UP, T0 + dt.timedelta(minutes=3), service="db"))
        assert _send(ctx) == 1
        down, up = hook.wait_for(2)
    assert "db-tcp" in down["title"] and "down" in down["title"].lower()
    assert "db-tcp" in down["message"] and "connection refused" in down["message"] and "db" in down["message"]
    assert "db-tcp" in up["title"] and "up" in up["title"].lower() and "was down" in up["message"]
    assert hook.paths == ["/hook/s3cr3t-t0ken"] * 2
    assert [d.status for d in _deliveries(ctx)] == ["sent", "sent"]


def test_webhook_payloads_say_failure_when_down_and_success_when_back_up(ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "ops", "url": hook.url()})
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, T0, service="db"))
        assert _send(ctx) == 1
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.DOWN, Status.UP, T0 + dt.timedelta(minutes=3), service="db"))
        assert _send(ctx) == 1
        down, up = hook.wait_for(2)
    assert (down["type"], up["type"]) == ("failure", "success")


def test_one_message_per_event_per_channel_when_the_hook_fires_twice_and_two_notifiers_run(
        ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "ops", "url": hook.url()})
        down = change(ids["web-http"], "web-http", Status.UP, Status.DOWN, T0, service="web")
        fire(ctx, down)
        fire(ctx, down)
        assert len(_deliveries(ctx)) == 1
        start = threading.Barrier(2)
        counts: list[int] = []

        def notifier() -> None:
            start.wait()
            counts.append(_send(ctx))

        threads = [threading.Thread(target=notifier) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(counts) == [0, 1]
        assert _send(ctx) == 0
        hook.wait_for(1)
    assert len(hook.received) == 1


def test_a_reminder_is_sent_after_each_interval_while_down(ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "ops", "url": hook.url(), "reminder_minutes": 10},
                     {"name": "quiet", "url": hook.url("quiet"), "reminder_minutes": 0})
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, T0, service="db"))
        _send(ctx)
        with ctx.session_factory() as session:
            assert notify.queue_reminders(session=session, now=T0 + dt.timedelta(minutes=9)) == 0
            notify.queue_reminders(session=session, now=T0 + dt.timedelta(minutes=11))
            notify.queue_reminders(session=session, now=T0 + dt.timedelta(minutes=12))  # same reminder: no new one
        _send(ctx)
        assert len(hook.wait_for(3)) == 3
        with ctx.session_factory() as session:
            notify.queue_reminders(session=session, now=T0 + dt.timedelta(minutes=21))
        _send(ctx)
        received = hook.wait_for(4)
    reminders = [r for r in received if "STILL DOWN" in r["title"]]
    assert len(reminders) == 2 and all("db-tcp" in r["message"] for r in reminders)
    assert "11 minutes" in reminders[0]["message"]
    assert [p for p in hook.paths if p == "/quiet"] == ["/quiet"]  # the down alert only


def test_a_failed_delivery_is_retried_with_back_off_and_the_error_kept(ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "ops", "url": hook.url()})
        hook.status = 500
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, T0, service="db"))
        now = dt.datetime.now(dt.UTC)
        assert _send(ctx, now) == 1
        (delivery,) = _deliveries(ctx)
        assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_error
        assert "s3cr3t" not in delivery.last_error
        assert _send(ctx, now + dt.timedelta(seconds=5)) == 0  # backing off
        hook.status = 200
        assert _send(ctx, now + dt.timedelta(minutes=1)) == 1
        hook.wait_for(1)
    (delivery,) = _deliveries(ctx)
    assert delivery.status == "sent" and delivery.attempts == 2 and len(hook.received) == 1


def test_a_delivery_that_keeps_failing_is_marked_failed(ctx: AppContext) -> None:
    failures: list[str] = []

    def broken(url: str, *, title: str, body: str, kind: str) -> notify.SendResult:
        failures.append(title)
        return notify.SendResult(False, "refused")

    ids = _setup(ctx, {"name": "ops", "url": "json://127.0.0.1:9/x"})
    fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, T0, service="db"))
    now = dt.datetime.now(dt.UTC)
    for hours in range(6):
        notify.send_due(session_factory=ctx.session_factory, now=now + dt.timedelta(hours=hours), sender=broken)
    (delivery,) = _deliveries(ctx)
    assert delivery.status == "failed" and delivery.attempts == notify.MAX_ATTEMPTS
    assert len(failures) == notify.MAX_ATTEMPTS


def test_channels_hear_only_the_services_tags_and_endpoints_they_route(ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "by-service", "url": hook.url("svc"), "services": ["db"]},
                     {"name": "by-tag", "url": hook.url("tag"), "tags": ["frontend"]},
                     {"name": "by-endpoint", "url": hook.url("ep"), "endpoints": ["web-http"]},
                     {"name": "recovery-only", "url": hook.url("rec"), "events": ["recovery"]})
        fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, T0, service="db"),
             change(ids["web-http"], "web-http", Status.UP, Status.DOWN, T0, service="web"))
        assert _send(ctx) == 3
        hook.wait_for(3)
    routed = sorted(zip(hook.paths, (r["title"] for r in hook.received), strict=True))
    assert [(p, "db-tcp" in t or "web-http" in t) for p, t in routed] == [("/ep", True), ("/svc", True),
                                                                           ("/tag", True)]
    assert dict(routed)["/svc"].count("db-tcp") == 1 and "web-http" in dict(routed)["/tag"]


def test_a_certificate_under_the_warning_threshold_is_notified_once(ctx: AppContext) -> None:
    with receiver() as hook:
        _setup(ctx, {"name": "ops", "url": hook.url()})
        with ctx.session_factory() as session:
            state = session.scalars(select(MonitorState).where(MonitorState.slug == "web-http")).one()
            state.cert_days_left = 3.2
            state.cert_info = {"serial": "0A1B"}
            session.commit()
            assert notify.queue_certificate_notices(session=session, warn_days=14) == 1
            notify.queue_certificate_notices(session=session, warn_days=14)
        _send(ctx)
        (notice,) = hook.wait_for(1)
        with ctx.session_factory() as session:
            assert notify.queue_certificate_notices(session=session, warn_days=2) == 0
    assert "web-http" in notice["title"] and "expires" in notice["message"]
    assert len(_deliveries(ctx)) == 1


def test_the_notifier_thread_sends_what_the_hook_queued(ctx: AppContext) -> None:
    with receiver() as hook:
        ids = _setup(ctx, {"name": "ops", "url": hook.url()})
        notifier = notify.Notifier(ctx, poll=0.05).start()
        try:
            fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, dt.datetime.now(dt.UTC),
                             service="db"))
            (message,) = hook.wait_for(1)
        finally:
            notifier.stop()
    assert "db-tcp" in message["title"]



def test_the_app_starts_the_notifier_when_it_runs_the_monitor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from calcifer.app import create_app, prepare
    from tests.conftest import drop_schema, make_settings

    settings = make_settings(tmp_path / "data", monitor_in_web=True)
    ctx = prepare(settings)
    try:
        with receiver() as hook, TestClient(create_app(ctx=ctx)):
            ids = _setup(ctx, {"name": "ops", "url": hook.url()})
            fire(ctx, change(ids["db-tcp"], "db-tcp", Status.UP, Status.DOWN, dt.datetime.now(dt.UTC),
                             service="db"))
            (message,) = hook.wait_for(1)
        assert "db-tcp" in message["title"]
    finally:
        ctx.engine.dispose()
        drop_schema(settings)
