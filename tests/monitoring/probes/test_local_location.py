"""The server's own scheduler runs only endpoints whose locations include `local`; for an endpoint checked
from several locations its results are kept as the `local` location's and its status is the verdict."""

from __future__ import annotations

import time

from sqlalchemy import select

from calcifer.monitoring import scheduler
from calcifer.monitoring.choices import ResultCode
from calcifer.monitoring.models.checks import MonitorResult, MonitorState
from calcifer.monitoring.models.probes import LocationResult
from calcifer.monitoring.store import ResultRecord
from calcifer.monitoring.writer import ResultWriter
from calcifer.web.context import AppContext
from tests.monitoring.probes.helpers import add_endpoint


def test_the_local_scheduler_plans_only_endpoints_located_local(ctx: AppContext) -> None:
    add_endpoint(ctx, "plain", ["local"])
    add_endpoint(ctx, "both", ["local", "fra-vps"])
    add_endpoint(ctx, "remote", ["fra-vps"])
    with ctx.session_factory() as session:
        plan = scheduler.plan_changes(session, current={})
    jobs = {job.slug: job for job in plan.add}
    assert set(jobs) == {"plain", "both"}
    assert jobs["plain"].location is None and jobs["both"].location == "local"


def test_local_results_of_a_multi_location_endpoint_are_the_local_locations(ctx: AppContext) -> None:
    add_endpoint(ctx, "both", ["local", "fra-vps"], retries=0)
    add_endpoint(ctx, "plain", ["local"], retries=0)
    with ctx.session_factory() as session:
        plan = scheduler.plan_changes(session, current={})
    ids = {job.slug: job.endpoint_id for job in plan.add}
    writer = ResultWriter(ctx.session_factory, settings=ctx.settings)
    now = time.time()
    writer.put(ResultRecord(endpoint_id=ids["both"], slug="both", service=None, retries=0, checked_at=now,
                            code=ResultCode.DOWN, latency_ms=3.0, message="refused", location="local"))
    writer.put(ResultRecord(endpoint_id=ids["plain"], slug="plain", service=None, retries=0, checked_at=now,
                            code=ResultCode.UP, latency_ms=2.0))
    writer.flush()
    with ctx.session_factory() as session:
        located = session.execute(select(LocationResult.endpoint_id, LocationResult.location)).all()
        plain = session.execute(select(MonitorResult.endpoint_id)).scalars().all()
        states = dict(session.execute(select(MonitorState.slug, MonitorState.status)).all())
        message = session.execute(select(MonitorState.message).where(MonitorState.slug == "both")).scalar_one()
    assert located == [(ids["both"], "local")] and plain == [ids["plain"]]
    # only local reported so far: one of one sees it down
    assert states == {"both": "down", "plain": "up"} and "down from local" in message


def test_retention_prunes_old_per_location_results(ctx: AppContext) -> None:
    from calcifer.monitoring import locations
    from calcifer.monitoring.retention import prune

    add_endpoint(ctx, "both", ["local", "fra-vps"])
    with ctx.session_factory() as session:
        plan = locations.current_plan(session)
        eid = plan.endpoints["both"].endpoint_id
        old = time.time() - 3 * 24 * 3600
        locations.record(session, [
            locations.LocationRecord(endpoint_id=eid, location="fra-vps", checked_at=old, code=ResultCode.UP,
                                     latency_ms=1.0, probe_id=1, seq=1),
            locations.LocationRecord(endpoint_id=eid, location="fra-vps", checked_at=time.time(), code=ResultCode.UP,
                                     latency_ms=1.0, probe_id=1, seq=2)], plan=plan)
        session.commit()
    outcome = prune(ctx.session_factory, settings=ctx.settings)
    with ctx.session_factory() as session:
        left = session.execute(select(LocationResult.seq)).scalars().all()
    assert left == [2] and outcome.results >= 1
