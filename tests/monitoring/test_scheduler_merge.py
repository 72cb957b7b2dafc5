"""A merge to main that adds an endpoint starts checking it, without restarting the scheduler."""

from __future__ import annotations

from calcifer.monitoring.choices import Status
from calcifer.monitoring.models.checks import MonitorState
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.scheduler_helpers import running, state_of, targets, wait_until


def test_a_merge_that_adds_an_endpoint_starts_checking_it(ctx: AppContext, cast: Cast) -> None:
    with targets() as net, running(ctx, poll_seconds=1.0) as scheduler:
        assert scheduler.jobs == {}
        spec = {"name": "Probe", "slug": "probe", "type": "tcp", "target": "127.0.0.1", "port": net.banner(),
                "interval": 1, "timeout": 2, "retries": 0, "options": {"expect_banner": "HELLO"}}
        response = cast.editor.post("/api/v1/standard-changes", json={
            "operation": "create", "kind": "endpoint", "slug": "probe", "summary": "Watch the probe", "spec": spec})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "complete"  # merged to main by a real work item
        wait_until(lambda: (state_of(ctx, "probe") or MonitorState()).status == Status.UP, timeout=60,
                   what="the new endpoint's first result")
        assert "probe" in scheduler.jobs
