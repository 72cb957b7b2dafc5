"""The scheduler inside the web app: started by the lifespan when monitor_in_web is on, in a thread of
its own, and stopped cleanly when the app stops."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from calcifer.app import create_app, prepare
from calcifer.monitoring.choices import Status
from calcifer.monitoring.lock import make_lock
from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.runner import THREAD_NAME
from tests.conftest import drop_schema, make_settings
from tests.monitoring.scheduler_helpers import endpoint_row, put_endpoints, state_of, targets, wait_until


def scheduler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_the_web_app_runs_the_scheduler_in_its_own_thread_and_stops_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", monitor_in_web=True)
    ctx = prepare(settings)
    try:
        with targets() as net:
            put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options={"expect_banner": "HELLO"})])
            with TestClient(create_app(ctx=ctx)) as client:
                assert client.get("/healthz").status_code == 200
                assert len(scheduler_threads()) == 1
                wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.UP, timeout=60,
                           what="a result")
            assert scheduler_threads() == []
        lock = make_lock(settings=settings, engine=ctx.engine)
        assert lock.try_acquire()
        lock.release()
    finally:
        ctx.engine.dispose()
        drop_schema(settings)


def test_the_web_app_leaves_the_scheduler_off_when_told(ctx) -> None:  # type: ignore[no-untyped-def]
    assert ctx.settings.monitor_in_web is False
    with TestClient(create_app(ctx=ctx)):
        assert scheduler_threads() == []
