"""The result store fed directly: batches, status rules in the database, hourly aggregates (exact p95,
also across a writer restart), retention, the storage report and the scheduler status row."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import func, insert, select

from calcifer.config import Settings
from calcifer.monitoring import retention, store
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models.checks import MonitorEvent, MonitorHourly, MonitorResult, MonitorState
from calcifer.monitoring.states import StatusSnapshot, ensure_states, scheduler_status, write_status
from calcifer.monitoring.writer import ResultWriter
from calcifer.web.context import AppContext

HOUR = 3600
T0 = 1_800_000_000 - 1_800_000_000 % HOUR   # the start of a UTC hour


def states(ctx: AppContext, *slugs: str) -> dict[str, int]:
    with ctx.session_factory() as session:
        return ensure_states(session, slugs)


def record(eid: int, at: float, code: ResultCode = ResultCode.UP, latency: float = 10.0, *, slug: str = "web",
           retries: int = 0, maintenance: bool = False, message: str = "") -> store.ResultRecord:
    return store.ResultRecord(endpoint_id=eid, slug=slug, service=None, retries=retries, checked_at=at, code=code,
                              latency_ms=latency, message=message or ("" if code is ResultCode.UP else "refused"),
                              in_maintenance=maintenance, next_due_at=at + 30)


def hourly(ctx: AppContext, eid: int) -> dict[dt.datetime, MonitorHourly]:
    with ctx.session_factory() as session:
        return {h.hour: h for h in session.execute(select(MonitorHourly).where(MonitorHourly.endpoint_id == eid))
                .scalars()}


def nearest_rank_p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def test_batches_write_results_states_and_hourly_aggregates(ctx: AppContext) -> None:
    eid = states(ctx, "web")["web"]
    writer = ResultWriter(ctx.session_factory, settings=ctx.settings, batch_rows=7)
    first_hour = [float(v) for v in range(1, 41)]            # 40 checks, latencies 1..40 ms
    for i, latency in enumerate(first_hour):
        writer.put(record(eid, T0 + i * 60, latency=latency))
    writer.put(record(eid, T0 + 2500, ResultCode.DOWN, latency=500.0))
    writer.put(record(eid, T0 + 2560, ResultCode.DEGRADED, latency=90.0))
    writer.put(record(eid, T0 + 2620, ResultCode.DOWN, latency=7.0, maintenance=True))
    writer.put(record(eid, T0 + HOUR + 5, latency=3.0))       # the next hour
    writer.flush()
    assert writer.stats.written == 44 and writer.stats.batches == 7  # batches of at most 7 rows

    hours = hourly(ctx, eid)
    one = hours[dt.datetime.fromtimestamp(T0, dt.UTC)]
    assert (one.checks, one.failures, one.degraded) == (42, 1, 1)
    assert (one.maintenance_checks, one.maintenance_failures) == (1, 1)
    latencies = [*first_hour, 500.0, 90.0, 7.0]
    assert one.latency_min == 1.0 and one.latency_max == 500.0
    assert abs(one.latency_avg - sum(latencies) / len(latencies)) < 1e-6
    assert one.latency_p95 == nearest_rank_p95(latencies)
    two = hours[dt.datetime.fromtimestamp(T0 + HOUR, dt.UTC)]
    assert (two.checks, two.failures, two.latency_p95) == (1, 0, 3.0)

    # more results for the first hour merge into its row: counts add, p95 stays exact
    writer.put(record(eid, T0 + 3000, latency=1000.0))
    writer.put(record(eid, T0 + 3060, latency=2000.0))
    writer.flush()
    one = hourly(ctx, eid)[dt.datetime.fromtimestamp(T0, dt.UTC)]
    latencies += [1000.0, 2000.0]
    assert one.checks == 44 and one.latency_max == 2000.0
    assert abs(one.latency_avg - sum(latencies) / len(latencies)) < 1e-6
    assert one.latency_p95 == nearest_rank_p95(latencies)
    with ctx.session_factory() as session:
        assert session.execute(select(func.count()).select_from(MonitorResult)).scalar_one() == 46
        messages = session.execute(select(MonitorResult.message).where(MonitorResult.status == 2)).scalars().all()
        assert list(messages) == ["refused", "refused"]   # up results store no message
        state = session.get(MonitorState, eid)
        assert state is not None and state.status == Status.UP and state.latency_ms == 2000.0


def test_quiet_results_are_coalesced_then_stored_like_any_other_time(ctx: AppContext) -> None:
    eid = states(ctx, "web")["web"]
    writer = ResultWriter(ctx.session_factory, settings=ctx.settings, coalesce_seconds=3600)
    writer.put(record(eid, T0, latency=5.0))               # unknown → up: a change, written at once
    writer.flush(force=False)
    for i in range(1, 4):                                  # "checked again, still up": coalesced
        writer.put(record(eid, T0 + i * 30, latency=5.0 + i))
    writer.flush(force=False)
    with ctx.session_factory() as session:
        state = session.get(MonitorState, eid)
        assert state is not None and state.last_checked_at == dt.datetime.fromtimestamp(T0, dt.UTC)

    writer.flush()
    last = dt.datetime.fromtimestamp(T0 + 90, dt.UTC)
    with ctx.session_factory() as session:
        state = session.get(MonitorState, eid)
        assert state is not None and state.status == Status.UP and state.latency_ms == 8.0
        assert state.last_checked_at == last and state.next_due_at == last + dt.timedelta(seconds=30)
        # stored exactly as the ORM stores times: an equality query by the ORM finds the row
        found = session.execute(select(MonitorState.id).where(MonitorState.last_checked_at == last,
                                                              MonitorState.status_since == state.status_since))
        assert found.scalars().all() == [eid]


def test_the_hourly_p95_stays_exact_across_a_writer_restart(ctx: AppContext) -> None:
    eid = states(ctx, "web")["web"]
    now = float(int(dt.datetime.now(dt.UTC).timestamp()) // HOUR * HOUR)
    before = ResultWriter(ctx.session_factory, settings=ctx.settings)
    early = [float(v) for v in range(100, 120)]
    for i, latency in enumerate(early):
        before.put(record(eid, now + i, latency=latency))
    before.flush()
    after = ResultWriter(ctx.session_factory, settings=ctx.settings)  # a restart within the hour
    late = [1.0, 2.0]
    for i, latency in enumerate(late):
        after.put(record(eid, now + 100 + i, latency=latency))
    after.flush()
    row = hourly(ctx, eid)[dt.datetime.fromtimestamp(now, dt.UTC)]
    assert row.checks == 22 and row.latency_p95 == nearest_rank_p95(early + late)


def test_status_moves_by_the_rules_and_events_record_changes_and_failure_streaks(ctx: AppContext) -> None:
    eid = states(ctx, "web")["web"]
    with ctx.session_factory() as session:
        changes = store.write_batch(session, [
            record(eid, T0, retries=1),
            record(eid, T0 + 30, ResultCode.DOWN, retries=1),
            record(eid, T0 + 60, ResultCode.DOWN, retries=1),
            record(eid, T0 + 90, ResultCode.DOWN, retries=1),
            record(eid, T0 + 120, ResultCode.DOWN, retries=1, message="timed out"),
            record(eid, T0 + 150, retries=1),
        ])
        session.commit()
    assert [(c.old, c.new) for c in changes] == [(Status.UNKNOWN, Status.UP), (Status.UP, Status.DOWN),
                                                 (Status.DOWN, Status.UP)]
    with ctx.session_factory() as session:
        events = session.execute(select(MonitorEvent).order_by(MonitorEvent.id)).scalars().all()
    kinds = [(e.kind, e.old_status, e.new_status, e.message) for e in events]
    assert kinds == [
        (EventKind.STATUS_CHANGE, "unknown", "up", ""),
        (EventKind.FAILURE, None, None, "refused"),            # first failure of a streak
        (EventKind.STATUS_CHANGE, "up", "down", "refused"),    # second: retries used up
        (EventKind.FAILURE, None, None, "timed out"),          # a different failure
        (EventKind.STATUS_CHANGE, "down", "up", ""),
    ]


def test_retention_deletes_old_rows_only(ctx: AppContext) -> None:
    settings: Settings = ctx.settings
    eid = states(ctx, "web")["web"]
    now = 1_900_000_000.0
    raw_cut = now - settings.monitor_raw_retention_hours * HOUR
    agg_cut = now - settings.monitor_aggregate_retention_days * 86_400
    with ctx.session_factory() as session:
        session.execute(insert(MonitorResult), [
            {"endpoint_id": eid, "checked_at_ms": int((raw_cut - 10 * i - 1) * 1000), "status": 0,
             "latency_ms": 1.0, "message": None, "in_maintenance": False} for i in range(120)]
            + [{"endpoint_id": eid, "checked_at_ms": int((raw_cut + 10 * i + 1) * 1000), "status": 0,
                "latency_ms": 1.0, "message": None, "in_maintenance": False} for i in range(30)])
        session.execute(insert(MonitorEvent), [
            {"endpoint_id": eid, "at": dt.datetime.fromtimestamp(t, dt.UTC), "kind": "failure", "message": "",
             "in_maintenance": False} for t in (agg_cut - 5, agg_cut - 86_400, agg_cut + 5)])
        session.execute(insert(MonitorHourly), [
            {"endpoint_id": eid, "hour": dt.datetime.fromtimestamp(t, dt.UTC), "checks": 1, "failures": 0,
             "degraded": 0, "maintenance_checks": 0, "maintenance_failures": 0}
            for t in (agg_cut - HOUR, agg_cut - 2 * HOUR, agg_cut + HOUR)])
        session.commit()
    outcome = retention.prune(ctx.session_factory, settings=settings, now=now, chunk=25)
    assert (outcome.results, outcome.events, outcome.hourly, outcome.done) == (120, 2, 2, True)
    with ctx.session_factory() as session:
        kept = session.execute(select(MonitorResult.checked_at_ms)).scalars().all()
        assert len(kept) == 30 and min(kept) > raw_cut * 1000
        assert [e.at.timestamp() for e in session.execute(select(MonitorEvent)).scalars()] == [agg_cut + 5]
        assert [h.hour.timestamp() for h in session.execute(select(MonitorHourly)).scalars()] == [agg_cut + HOUR]
    again = retention.prune(ctx.session_factory, settings=settings, now=now)
    assert (again.results, again.events, again.hourly) == (0, 0, 0)


def test_storage_report_lists_every_table_and_the_cost_of_an_endpoint_year(ctx: AppContext) -> None:
    eid = states(ctx, "web")["web"]
    with ctx.session_factory() as session:
        store.write_batch(session, [record(eid, T0 + i) for i in range(200)])
        session.commit()
        report = retention.storage_report(session=session, settings=ctx.settings)
    assert set(report["tables"]) >= {"monitor_results", "monitor_hourly", "monitor_events", "monitor_states"}
    assert report["tables"]["monitor_results"]["rows"] == 200
    assert report["per_endpoint_year_bytes"] > 0
    assert report["retention"] == {"raw_hours": 48, "aggregate_days": 365}


def test_the_scheduler_status_row(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        assert scheduler_status(session=session) is None
        started = dt.datetime.now(dt.UTC)
        write_status(session, StatusSnapshot(holder="host:1", started_at=started, endpoints=3,
                                             checks_total=10, lag_p50_ms=1.5, lag_p99_ms=9.0))
        write_status(session, StatusSnapshot(holder="host:1", started_at=started, endpoints=4,
                                             checks_total=12))
        session.commit()
        row = scheduler_status(session=session)
    assert row is not None and (row.holder, row.endpoints, row.checks_total) == ("host:1", 4, 12)
    assert row.heartbeat_at is not None
