"""The inbox's background service yields to the requests its process is answering (a merge that
notifies 1,000 watchers finishes before their fan-out starts), but only for a bounded time: under steady
traffic notifications still come."""

from __future__ import annotations

import pytest

from calcifer.inbox import consumer
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.inbox.helpers import run_inbox
from tests.work.helpers import make_work_item


def test_every_answered_request_is_counted_out_again(cast: Cast, ctx: AppContext) -> None:
    assert cast.outsider.get("/api/v1/notifications").status_code == 401
    assert cast.viewer.get("/api/v1/notifications").status_code == 200
    assert cast.editor.post("/api/v1/work-items/999/comments", json={"body": "x"}).status_code == 404
    assert cast.viewer.post("/api/v1/work-items", json={"title": "x"}).status_code == 403
    assert ctx.requests.wait_quiet(0)  # nothing left in flight: the consumer never waits for a ghost


def test_notifications_come_while_a_request_is_in_flight(cast: Cast, ctx: AppContext,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "YIELD_AT_MOST", 0.01)
    make_work_item(cast.editor, title="Move DNS", assignee="vera")
    ctx.requests.enter()  # a request that does not end while the round runs
    try:
        assert not ctx.requests.wait_quiet(0)
        run_inbox(ctx)
    finally:
        ctx.requests.leave()
    assert [n["kind"] for n in cast.viewer.get("/api/v1/notifications").json()["items"]] == ["assigned"]
