"""The scheduler against real listeners on 127.0.0.1: isolation of hung targets, retries, start-to-start
intervals, status-change events and hooks, maintenance, catalog changes, pause, check now.

No timing asserts: each test waits (with a generous deadline) for behaviour, then checks what happened.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.errors import NotFound
from calcifer.monitoring import checks, hooks
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models.checks import MonitorEvent, MonitorHourly, MonitorState
from calcifer.monitoring.scheduler import check_now, close_http_session, next_slot, phase
from calcifer.monitoring.store import next_status
from calcifer.web.context import AppContext
from tests.monitoring.scheduler_helpers import (
    endpoint_row,
    events_of,
    free_port,
    put_endpoints,
    remove_endpoints,
    results_of,
    running,
    set_paused,
    state_of,
    targets,
    wait_until,
)

BANNER = {"expect_banner": "HELLO"}


def test_a_hung_target_does_not_delay_the_others(ctx: AppContext) -> None:
    with targets() as net:
        fine = [net.banner() for _ in range(3)]
        hung = net.hung()
        put_endpoints(ctx, [endpoint_row(f"fine-{i}", port=port, options=BANNER) for i, port in enumerate(fine)]
                      + [endpoint_row("hung", port=hung, options=BANNER, timeout=60)])
        with running(ctx):
            wait_until(lambda: net.connections >= 1 and all(len(results_of(ctx, f"fine-{i}")) >= 4
                                                              for i in range(3)),
                       timeout=60, what="the fine targets' results")
            # the hung target was reached and is still being waited for, while the others went on
            assert results_of(ctx, "hung") == []
            assert all(state_of(ctx, f"fine-{i}").status == Status.UP for i in range(3))  # type: ignore[union-attr]


def test_a_hung_check_ends_at_its_timeout_as_down(ctx: AppContext) -> None:
    with targets() as net:
        put_endpoints(ctx, [endpoint_row("hung", port=net.hung(), options=BANNER, timeout=0.5)])
        with running(ctx):
            results = wait_until(lambda: results_of(ctx, "hung"), what="a result")
    assert results[0].status == ResultCode.DOWN and results[0].message


class _NeverAnswers(CheckType):
    """A check that never returns on its own (what a stuck client library looks like)."""

    kind: ClassVar[str] = "never-answers"

    async def check(self, target: Target, options: Any, ctx: CheckContext) -> Outcome:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_a_check_that_never_returns_is_cut_at_the_endpoint_timeout(ctx: AppContext) -> None:
    checks.load()
    checks.register(_NeverAnswers)
    try:
        put_endpoints(ctx, [endpoint_row("stuck", type="never-answers", timeout=0.3, interval=1)])
        with running(ctx):
            results = wait_until(lambda: results_of(ctx, "stuck"), timeout=30, what="a result")
    finally:
        checks.REGISTRY.pop("never-answers", None)
    assert results[0].status == ResultCode.DOWN
    assert results[0].message == "no answer within 0.3 s"
    assert results[0].latency_ms is not None and results[0].latency_ms >= 300


def test_retries_are_tolerated_before_down(ctx: AppContext) -> None:
    put_endpoints(ctx, [endpoint_row("closed", port=free_port(), retries=2)])
    with running(ctx):
        wait_until(lambda: (state_of(ctx, "closed") or MonitorState()).status == Status.DOWN, what="down")
    results = results_of(ctx, "closed")
    changes = [e for e in events_of(ctx, "closed") if e.kind == EventKind.STATUS_CHANGE]
    assert len(results) >= 3 and all(r.status == ResultCode.DOWN for r in results)
    # unknown through the first two failures; the third made it down
    assert [(c.old_status, c.new_status) for c in changes] == [("unknown", "down")]
    assert int(changes[0].at.timestamp() * 1000) == results[2].checked_at_ms


def test_status_rules() -> None:
    up, down = ResultCode.UP, ResultCode.DOWN
    assert next_status(previous=Status.UP, failures=0, paused=False, code=down, permanent=False,
                       retries=0) == (Status.DOWN, 1)
    assert next_status(previous=Status.UP, failures=0, paused=False, code=down, permanent=False,
                       retries=1) == (Status.UP, 1)
    assert next_status(previous=Status.UP, failures=1, paused=False, code=down, permanent=False,
                       retries=1) == (Status.DOWN, 2)
    assert next_status(previous=Status.UP, failures=0, paused=False, code=down, permanent=True,
                       retries=5) == (Status.DOWN, 1)
    assert next_status(previous=Status.DOWN, failures=4, paused=False, code=up, permanent=False,
                       retries=1) == (Status.UP, 0)
    assert next_status(previous=Status.UP, failures=0, paused=False, code=ResultCode.DEGRADED,
                       permanent=False, retries=1) == (Status.DEGRADED, 0)
    assert next_status(previous=Status.PAUSED, failures=0, paused=True, code=up, permanent=False,
                       retries=1) == (Status.PAUSED, 0)


def test_starts_are_kept_start_to_start_not_end_to_start(ctx: AppContext) -> None:
    with targets() as net:
        # the banner comes after 0.6 s: an end-to-start schedule would start every 1.6 s or later
        port = net.slow_banner(0.6)
        put_endpoints(ctx, [endpoint_row("slow", port=port, options=BANNER, interval=1, timeout=5)])
        with running(ctx):
            results = wait_until(lambda: (r := results_of(ctx, "slow")) and len(r) >= 8 and r,
                                 timeout=90, what="eight results")
    assert all(r.status == ResultCode.UP for r in results)
    starts = [r.checked_at_ms for r in results]
    mean_gap = (starts[-1] - starts[0]) / (len(starts) - 1)
    assert mean_gap < 1300, starts


def test_first_runs_are_spread_over_the_interval_by_slug() -> None:
    phases = [phase(f"endpoint-{i}") for i in range(1000)]
    assert all(0 <= p < 1 for p in phases)
    assert sum(1 for p in phases if p < 0.5) in range(400, 600)
    assert phase("grafana") == phase("grafana")
    slot = next_slot("grafana", 30, 1_000_000.0)
    assert 1_000_000.0 <= slot < 1_000_030.0 and next_slot("grafana", 30, slot) == slot
    assert next_slot("grafana", 30, slot + 0.001) == pytest.approx(slot + 30)


def test_a_status_change_is_an_event_and_calls_the_hooks_in_its_transaction(
        ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[hooks.StatusChange, bool]] = []

    def hook(session: Session, changes: list[hooks.StatusChange]) -> None:
        for change in changes:
            # the event row is visible in the hook's session: the same transaction
            visible = session.execute(select(MonitorEvent.id).where(
                MonitorEvent.endpoint_id == change.endpoint_id, MonitorEvent.new_status == change.new.value,
                MonitorEvent.kind == EventKind.STATUS_CHANGE.value)).first() is not None
            seen.append((change, visible))

    monkeypatch.setattr(hooks, "STATUS_CHANGE_HOOKS", [hook])
    with targets() as net:
        port = net.banner()
        put_endpoints(ctx, [endpoint_row("web", port=port, options=BANNER, service="grafana")])
        with running(ctx):
            wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.UP, what="up")
            net.close(port)
            wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.DOWN, what="down")
    changes = [(e.old_status, e.new_status) for e in events_of(ctx, "web") if e.kind == EventKind.STATUS_CHANGE]
    assert changes == [("unknown", "up"), ("up", "down")]
    failures = [e for e in events_of(ctx, "web") if e.kind == EventKind.FAILURE]
    assert len(failures) >= 1 and failures[0].message
    assert [(c.slug, c.service, c.old, c.new) for c, _ in seen] == [
        ("web", "grafana", Status.UNKNOWN, Status.UP), ("web", "grafana", Status.UP, Status.DOWN)]
    assert all(visible for _, visible in seen)
    state = state_of(ctx, "web")
    assert state is not None and state.message and state.consecutive_failures >= 1
    assert state.last_checked_at is not None and state.next_due_at is not None
    assert state.next_due_at > state.last_checked_at


def test_a_failing_hook_does_not_lose_results(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(session: Session, changes: list[hooks.StatusChange]) -> None:
        raise RuntimeError("hook bug")

    monkeypatch.setattr(hooks, "STATUS_CHANGE_HOOKS", [broken])
    with targets() as net:
        put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options=BANNER)])
        with running(ctx):
            wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.UP, what="up")
    assert results_of(ctx, "web")


def test_results_in_maintenance_are_flagged(ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[hooks.StatusChange] = []
    monkeypatch.setattr(hooks, "MAINTENANCE_PROVIDERS", [lambda session, now: {"quiet"}])
    monkeypatch.setattr(hooks, "STATUS_CHANGE_HOOKS", [lambda session, changes: seen.extend(changes)])
    with targets() as net:
        port = net.banner()
        put_endpoints(ctx, [endpoint_row("quiet", port=port, options=BANNER),
                            endpoint_row("loud", port=port, options=BANNER)])
        with running(ctx):
            wait_until(lambda: len(results_of(ctx, "quiet")) >= 2 and results_of(ctx, "loud"), what="results")
    assert all(r.in_maintenance for r in results_of(ctx, "quiet"))
    assert not any(r.in_maintenance for r in results_of(ctx, "loud"))
    assert {c.slug: c.in_maintenance for c in seen} == {"quiet": True, "loud": False}
    state = state_of(ctx, "quiet")
    assert state is not None and state.in_maintenance
    with ctx.session_factory() as session:
        hours = {h.endpoint_id: h for h in session.execute(select(MonitorHourly)).scalars()}
    assert hours[state.id].maintenance_checks >= 2 and hours[state.id].checks == 0


def test_catalog_changes_reach_the_running_schedule(ctx: AppContext) -> None:
    with targets() as net:
        port = net.banner()
        put_endpoints(ctx, [endpoint_row("first", port=port, options=BANNER)])
        with running(ctx) as scheduler:
            wait_until(lambda: results_of(ctx, "first"), what="first's result")
            put_endpoints(ctx, [endpoint_row("second", port=port, options=BANNER)])
            wait_until(lambda: results_of(ctx, "second"), what="second's result")
            remove_endpoints(ctx, ["first"])
            wait_until(lambda: "first" not in scheduler.jobs, what="first unscheduled")
            # a changed endpoint (disabled) stops and shows as paused
            put_endpoints(ctx, [endpoint_row("second", port=port, options=BANNER, enabled=False)])
            wait_until(lambda: (state_of(ctx, "second") or MonitorState()).status == Status.PAUSED,
                       what="second paused")
            wait_until(lambda: "second" not in scheduler.jobs, what="second unscheduled")


def test_pausing_by_hand_stops_checks_and_resuming_starts_them(ctx: AppContext) -> None:
    with targets() as net:
        put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options=BANNER)])
        with running(ctx) as scheduler:
            wait_until(lambda: results_of(ctx, "web"), what="a result")
            set_paused(ctx, "web", True)
            wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.PAUSED, what="paused")
            # the writer process may record the pause before the loop thread drops the job
            wait_until(lambda: "web" not in scheduler.jobs, what="web unscheduled")
            before = len(results_of(ctx, "web"))
            set_paused(ctx, "web", False)
            wait_until(lambda: len(results_of(ctx, "web")) > before + 1, what="checks again")
            wait_until(lambda: (state_of(ctx, "web") or MonitorState()).status == Status.UP, what="up again")
    changes = [(e.old_status, e.new_status) for e in events_of(ctx, "web") if e.kind == EventKind.STATUS_CHANGE]
    assert changes == [("unknown", "up"), ("up", "paused"), ("paused", "unknown"), ("unknown", "up")]


def test_an_endpoint_with_bad_options_is_down_with_the_reason(ctx: AppContext) -> None:
    put_endpoints(ctx, [endpoint_row("odd", port=free_port(), options={"nonsense": 1})])
    with running(ctx):
        state = wait_until(lambda: (s := state_of(ctx, "odd")) and s.status == Status.DOWN and s,
                           what="down")
    assert "invalid options" in state.message


def test_the_scheduler_status_row_is_kept_fresh(ctx: AppContext) -> None:
    from calcifer.monitoring.states import scheduler_status

    with targets() as net:
        put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options=BANNER)])
        with running(ctx):
            def fresh() -> Any:
                with ctx.session_factory() as session:
                    row = scheduler_status(session=session)
                    return row if row is not None and row.checks_total >= 2 else None

            row = wait_until(fresh, what="a status row")
    assert row.endpoints == 1 and ":" in row.holder and row.heartbeat_at is not None


def test_check_now_records_a_result_like_a_scheduled_one(ctx: AppContext) -> None:
    with targets() as net:
        put_endpoints(ctx, [endpoint_row("web", port=net.banner(), options=BANNER, interval=3600)])
        async def now(slug: str) -> MonitorState:
            try:
                return await check_now(ctx=ctx, slug=slug)
            finally:
                await close_http_session()

        state = asyncio.run(now("web"))
        assert state.status == Status.UP and state.last_checked_at is not None
        assert len(results_of(ctx, "web")) == 1
        with pytest.raises(NotFound):
            asyncio.run(now("nothing-here"))


def test_a_restarted_scheduler_catches_up_within_one_interval_of_the_last_check() -> None:
    from calcifer.monitoring.checks.base import Target
    from calcifer.monitoring.scheduler import OVERDUE_SPREAD, Job, first_due

    def job(last: float | None) -> Job:
        return Job(endpoint_id=1, slug="web", service=None, kind="tcp", check=None, options=None,
                   target=Target(slug="web", target="127.0.0.1", port=1, timeout=1), interval=60, timeout=1,
                   retries=0, fingerprint="", last_checked=last)

    now = 1_000_000.0
    slot = next_slot("web", 60, now)
    assert first_due(job(None), now) == slot                        # never checked: its phase slot
    assert now <= first_due(job(now - 600), now) <= now + OVERDUE_SPREAD  # missed while stopped: soon
    assert first_due(job(now - 1), now) == min(slot, now + 59)      # never later than last + interval
