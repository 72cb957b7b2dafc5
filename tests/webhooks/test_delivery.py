"""Delivery: filters, retries with back-off, a restart in the middle of retries, at most one delivery
per event per webhook, and a slow receiver that holds up nobody else. Receivers are real HTTP servers on
127.0.0.1 that verify signatures."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select, update

from calcifer.outbox import service as outbox
from calcifer.outbox.models import DomainEvent
from calcifer.web.context import AppContext
from calcifer.webhooks import service
from calcifer.webhooks.models import WebhookDelivery
from tests.catalog.helpers import make_work_item
from tests.conftest import Cast
from tests.notify.helpers import add_endpoint, add_service
from tests.webhooks.helpers import add_webhook, assert_valid, deliverer, receiver, wait_for_deliveries


def wait_until_fanned_out(ctx: AppContext) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with ctx.session_factory() as session:
            if outbox.count_pending(session=session) == 0:
                return
        time.sleep(0.02)
    raise AssertionError("the deliverer did not take the outbox's events")


def _deliveries(cast: Cast, webhook_id: int) -> list[dict[str, object]]:
    return list(cast.admin.get(f"/api/v1/webhooks/{webhook_id}/deliveries").json()["items"])


def test_filters_by_event_service_tag_and_category(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        add_service(session, "grafana", tags=["prod"])
        add_service(session, "wiki", tags=["lab"])
        session.commit()
    with receiver() as everything, receiver() as by_service, receiver() as by_tag, receiver() as by_category, \
            receiver() as other_event, deliverer(ctx):
        add_webhook(cast.admin, everything.url, ["work_item.created"])
        add_webhook(cast.admin, by_service.url, ["work_item.created"], services=["grafana"])
        add_webhook(cast.admin, by_tag.url, ["work_item.created"], tags=["lab"])
        add_webhook(cast.admin, by_category.url, ["work_item.created"], categories=["network"])
        add_webhook(cast.admin, other_event.url, ["work_item.merged"])
        make_work_item(cast.editor, title="Grafana upgrade", service="grafana")
        make_work_item(cast.editor, title="Wiki upgrade", service="wiki")
        make_work_item(cast.editor, title="Nothing in particular", category="network")
        everything.wait_for(lambda seen: len(seen) == 3)
        by_service.wait_for(lambda seen: len(seen) == 1)
        by_tag.wait_for(lambda seen: len(seen) == 1)
        by_category.wait_for(lambda seen: len(seen) == 1)

    def titles(hook: object) -> list[str]:
        return [assert_valid(r)["data"]["work_item"]["title"] for r in hook.received]  # type: ignore[attr-defined]

    assert sorted(titles(everything)) == ["Grafana upgrade", "Nothing in particular", "Wiki upgrade"]
    assert titles(by_service) == ["Grafana upgrade"]
    assert titles(by_tag) == ["Wiki upgrade"]
    assert titles(by_category) == ["Nothing in particular"]
    assert other_event.received == []


def test_a_failing_receiver_is_retried_with_back_off_until_it_answers(ctx: AppContext, cast: Cast) -> None:
    with receiver() as hook, deliverer(ctx):
        hook.fail_next = 3
        created = add_webhook(cast.admin, hook.url, ["work_item.created"])
        make_work_item(cast.editor, title="Flaky receiver")
        got = hook.wait_for(lambda seen: len(seen) == 1)
    assert hook.refused == 3
    assert_valid(got[0], event="work_item.created")
    [delivery] = _deliveries(cast, created["id"])
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4 and delivery["response_code"] == 200
    assert delivery["delivery"] == got[0].delivery


def test_a_restart_in_the_middle_of_retries_loses_nothing(ctx: AppContext, cast: Cast) -> None:
    with receiver() as hook:
        hook.fail_next = 1_000_000  # down for now
        created = add_webhook(cast.admin, hook.url, ["work_item.created", "work_item.updated"])
        item = make_work_item(cast.editor, title="During the outage")
        with deliverer(ctx, backoff=0.3):
            cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"title": "During the long outage"})
            tried = wait_for_deliveries(cast.admin, created["id"], lambda items: len(items) == 2 and all(
                d["attempts"] >= 2 and d["status"] == "pending" for d in items))
            assert [d["attempts"] >= 2 for d in tried] == [True, True], tried
        # The deliverer stopped (a restart) with both deliveries waiting for a retry.
        assert {d["status"] for d in _deliveries(cast, created["id"])} == {"pending"}
        assert hook.received == []
        hook.fail_next = 0
        with deliverer(ctx, backoff=0.3):
            got = hook.wait_for(lambda seen: len(seen) == 2)
    assert sorted(assert_valid(r)["event"] for r in got) == ["work_item.created", "work_item.updated"]
    after = _deliveries(cast, created["id"])
    assert {d["status"] for d in after} == {"delivered"} and len(after) == 2
    assert {d["delivery"] for d in after} == {r.delivery for r in got}


def test_an_event_reaches_a_webhook_at_most_once_however_often_it_is_fanned_out(ctx: AppContext,
                                                                                 cast: Cast) -> None:
    created = add_webhook(cast.admin, "http://127.0.0.1:9/unused", ["work_item.created"])
    make_work_item(cast.editor, title="Once only")
    with ctx.session_factory() as session:
        assert service.fan_out(session=session) == 1
        # As if another deliverer read the same events before this one marked them taken.
        session.execute(update(DomainEvent).values(dispatched=False))
        session.commit()
        assert service.fan_out(session=session) == 1
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.webhook_id == created["id"])).all()
    assert len(rows) == 1


def test_a_slow_receiver_holds_up_neither_the_request_nor_the_other_webhooks(ctx: AppContext, cast: Cast) -> None:
    with receiver() as slow, receiver() as healthy, deliverer(ctx, per_webhook=2):
        slow.hold = threading.Event()
        add_webhook(cast.admin, slow.url, ["work_item.created"])
        add_webhook(cast.admin, healthy.url, ["work_item.created"])
        for n in range(6):
            make_work_item(cast.editor, title=f"Item {n}")  # answered while the slow receiver hangs
        healthy.wait_for(lambda seen: len(seen) == 6)
        assert slow.received == []
        slow.hold.set()
        slow.wait_for(lambda seen: len(seen) == 6)
    assert all(r.signature_ok for r in slow.received + healthy.received)


def test_a_disabled_webhook_is_sent_nothing_and_a_deleted_one_takes_its_log_along(ctx: AppContext,
                                                                                  cast: Cast) -> None:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_endpoint(session, "db-tcp", service="db")
        session.commit()
    with receiver() as hook, deliverer(ctx):
        created = add_webhook(cast.admin, hook.url, ["work_item.created"], enabled=False)
        make_work_item(cast.editor, title="Not heard")
        wait_until_fanned_out(ctx)
        cast.admin.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": True})
        make_work_item(cast.editor, title="Heard")
        got = hook.wait_for(lambda seen: len(seen) == 1)
    assert [r.body["data"]["work_item"]["title"] for r in got] == ["Heard"]
    assert cast.admin.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    with ctx.session_factory() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
