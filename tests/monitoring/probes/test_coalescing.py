"""The ingest coalesces what the local writer coalesces (hourly counts, rows whose only news is a newer last
check) and skips verdicts that provably stand: nothing acknowledged is lost, verdicts stay right."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import func, select

from calcifer.auth.models import User
from calcifer.monitoring import locations, probes, service
from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.models.probes import LocationHourly, LocationState, MonitorProbe
from calcifer.web.context import AppContext
from tests.monitoring.probes.helpers import add_endpoint, add_probe, result, stored


def _ingest(ctx: AppContext, name: str, items: list[dict], at: float) -> None:
    """One batch of probe ``name``, as the route hands it over (with the process's coalescing buffer)."""
    with ctx.session_factory() as session:
        probe = session.execute(select(MonitorProbe).where(MonitorProbe.name == name)).scalar_one()
        probes.ingest(session, probe, results=items, location=None, beat=probes.Heartbeat(),
                      now=dt.datetime.fromtimestamp(at, dt.UTC), pending=locations.pending_for(session))


def _state(ctx: AppContext, slug: str) -> MonitorState:
    with ctx.session_factory() as session:
        return session.execute(select(MonitorState).where(MonitorState.slug == slug)).scalar_one()


def test_coalesced_counts_and_last_checks_are_written_when_the_server_stops(ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["fra-vps"])
    add_probe(ctx, "fra-1", "fra-vps")
    t0 = time.time() - 30
    _ingest(ctx, "fra-1", [result(1, "web", checked_at=t0)], t0)
    _ingest(ctx, "fra-1", [result(2, "web", checked_at=t0 + 10, latency_ms=30.0)], t0 + 10)
    assert stored(ctx) == 2  # the raw results are committed before the batch is acknowledged
    stop = probes.start_watch(ctx)
    assert stop is not None
    stop()  # the web app's shutdown: the coalesced rows are written
    with ctx.session_factory() as session:
        assert session.execute(select(func.sum(LocationHourly.checks))).scalar_one() == 2
        row = session.execute(select(LocationState)).scalar_one()
        assert row.last_checked_at is not None and abs(row.last_checked_at.timestamp() - (t0 + 10)) < 0.01
        assert row.latency_ms == 30.0
    state = _state(ctx, "web")
    assert state.status == "up"
    assert state.last_checked_at is not None and abs(state.last_checked_at.timestamp() - (t0 + 10)) < 0.01


def test_a_location_that_stops_reporting_drops_out_while_another_keeps_reporting_the_same(ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["a", "b"], interval=60)
    add_probe(ctx, "pa", "a")
    add_probe(ctx, "pb", "b")
    t0 = time.time() - 600
    _ingest(ctx, "pa", [result(1, "web", checked_at=t0)], t0)
    _ingest(ctx, "pb", [result(1, "web", "down", checked_at=t0)], t0)
    assert _state(ctx, "web").status == "down"  # one of two down: down by the default rule
    _ingest(ctx, "pa", [result(2, "web", checked_at=t0 + 60)], t0 + 60)  # nothing new from a
    assert _state(ctx, "web").status == "down"
    # b has not reported for more than two intervals (its probe is still online): it no longer counts
    _ingest(ctx, "pa", [result(3, "web", checked_at=t0 + 130)], t0 + 130)
    state = _state(ctx, "web")
    assert state.status == "up" and "from b" not in state.message


def test_a_resumed_endpoint_takes_its_verdict_from_the_next_batch_that_brings_nothing_new(ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["a"])
    add_probe(ctx, "pa", "a")
    t0 = time.time() - 60
    _ingest(ctx, "pa", [result(1, "web", checked_at=t0)], t0)
    assert _state(ctx, "web").status == "up"
    with ctx.session_factory() as session:
        admin = User(username="root", display_name="root", role="admin", password_hash="x")
        session.add(admin)
        session.commit()
        service.set_paused(session=session, actor=admin, slug="web", paused=True)
        service.set_paused(session=session, actor=admin, slug="web", paused=False)
        session.commit()
    assert _state(ctx, "web").status == "unknown"
    _ingest(ctx, "pa", [result(2, "web", checked_at=t0 + 10)], t0 + 10)
    assert _state(ctx, "web").status == "up"
