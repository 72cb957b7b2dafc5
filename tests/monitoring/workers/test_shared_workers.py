"""Several `calcifer worker` processes sharing the endpoints on PostgreSQL (real subprocesses, real
loopback listeners): every endpoint is checked once per slot, a SIGKILLed worker's endpoints are checked
again within one interval, a worker that joins gets its share.

PostgreSQL only (leases with database time, row locks): CI runs this file in its PostgreSQL pass.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from calcifer.monitoring.leases import BUCKETS, bucket_of, share_of
from calcifer.monitoring.models.checks import MonitorResult, MonitorState
from calcifer.web.context import AppContext
from tests.conftest import TEST_DATABASE_URL
from tests.monitoring.scheduler_helpers import endpoint_row, put_endpoints, targets, wait_until
from tests.monitoring.test_lock import child_env

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="workers share endpoints only on PostgreSQL: set CALCIFER_TEST_DATABASE_URL to a PostgreSQL "
           "server (CI's PostgreSQL pass does); on SQLite one scheduler runs at a time (tests/monitoring/test_lock.py)")

INTERVAL = 6  # seconds: every endpoint's interval
LEASE = 2.0   # seconds: fail-over after at most LEASE + LEASE / 3 + min(2, INTERVAL / 4) < INTERVAL
ENDPOINTS = BUCKETS  # one endpoint per bucket, so every worker has endpoints


class Fleet:
    """`calcifer worker` subprocesses with a short lease."""

    def __init__(self, ctx: AppContext) -> None:
        self.env = child_env(ctx.settings) | {"CALCIFER_MONITOR_WORKER_LEASE_SECONDS": str(LEASE)}
        self.processes: list[subprocess.Popen[str]] = []

    def start(self) -> subprocess.Popen[str]:
        process = subprocess.Popen([sys.executable, "-m", "calcifer.cli", "worker"], env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=10)


@pytest.fixture
def fleet(ctx: AppContext) -> Iterator[Fleet]:
    value = Fleet(ctx)
    try:
        yield value
    finally:
        value.stop()


def shares(ctx: AppContext) -> dict[int, int]:
    """pid → how many buckets that live worker holds (unexpired leases, database time)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT w.pid, count(b.bucket) FROM monitor_workers w LEFT JOIN monitor_buckets b "
            "ON b.worker_id = w.id AND b.expires_at > now() WHERE w.expires_at > now() GROUP BY w.pid"))
        return {int(pid): int(count) for pid, count in rows}


def buckets_of(ctx: AppContext, pid: int) -> set[int]:
    with ctx.engine.connect() as conn:
        return set(conn.execute(text("SELECT b.bucket FROM monitor_buckets b JOIN monitor_workers w "
                                     "ON b.worker_id = w.id WHERE w.pid = :pid"), {"pid": pid}).scalars())


def balanced(ctx: AppContext, pids: list[int]) -> bool:
    held = shares(ctx)
    expected = sorted(share_of(i, len(pids)) for i in range(len(pids)))
    return sorted(held) == sorted(pids) and sorted(held.values()) == expected


def results(ctx: AppContext) -> dict[int, list[float]]:
    """endpoint id → the times (epoch seconds) it was checked, oldest first."""
    by_endpoint: dict[int, list[float]] = {}
    with ctx.session_factory() as session:
        for eid, at_ms in session.execute(select(MonitorResult.endpoint_id, MonitorResult.checked_at_ms)
                                          .order_by(MonitorResult.checked_at_ms)):
            by_endpoint.setdefault(eid, []).append(at_ms / 1000)
    return by_endpoint


def gaps(checks: list[float], start: float, end: float) -> list[float]:
    """Seconds between consecutive checks, over ``[start, end]`` (from the last check before ``start``
    to the first after ``end``). Once per slot means every gap is about one interval: a gap under half
    an interval is a slot checked twice, over one and a half a slot skipped."""
    before = [at for at in checks if at < start][-1:]
    after = [at for at in checks if at > end][:1]
    span = before + [at for at in checks if start <= at <= end] + after
    return [round(b - a, 3) for a, b in zip(span, span[1:], strict=False)]


def once_per_slot(seen: dict[int, list[float]], endpoints: set[int], start: float,
                  end: float) -> dict[int, list[float]]:
    """The endpoints not checked once per slot over the window (with their gaps)."""
    wrong: dict[int, list[float]] = {}
    for eid in endpoints:
        spaced = gaps(seen.get(eid, []), start, end)
        if len(spaced) < 2 or not all(INTERVAL / 2 <= gap <= INTERVAL * 1.5 for gap in spaced):
            wrong[eid] = spaced
    return wrong


def test_three_workers_share_the_endpoints_survive_a_kill_and_rebalance_on_join(
        ctx: AppContext, fleet: Fleet) -> None:
    with targets() as net:
        ports = [net.banner() for _ in range(4)]
        put_endpoints(ctx, [endpoint_row(f"svc-{i:02d}", port=ports[i % 4], interval=INTERVAL, timeout=2.0)
                            for i in range(ENDPOINTS)])
        began = time.time()
        workers = [fleet.start() for _ in range(3)]
        pids = [w.pid for w in workers]
        wait_until(lambda: balanced(ctx, pids) or any(w.poll() is not None for w in workers), timeout=120,
                   what="three workers holding 22, 21 and 21 buckets")
        assert all(w.poll() is None for w in workers), [w.communicate()[1] for w in workers]
        with ctx.session_factory() as session:
            endpoints = list(session.execute(select(MonitorState.id)).scalars())
        assert len(endpoints) == ENDPOINTS
        assert {bucket_of(eid) for eid in endpoints} == set(range(BUCKETS))

        # Steady state: every endpoint exactly once in every slot of a window after the shares settled.
        start = time.time() + INTERVAL
        end = start + 2 * INTERVAL
        wait_until(lambda: time.time() > end + 2, timeout=4 * INTERVAL, what="two intervals of checks")
        assert once_per_slot(results(ctx), set(endpoints), start, end) == {}

        # SIGKILL one worker: each of its endpoints is checked again within one interval, by the others.
        victim = workers[0]
        lost = {eid for eid in endpoints if bucket_of(eid) in buckets_of(ctx, victim.pid)}
        assert lost
        killed_at = time.time()
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)

        def first_checks_after_kill() -> dict[int, float] | None:
            seen = results(ctx)
            after = {eid: next((at for at in seen.get(eid, []) if at > killed_at), None) for eid in lost}
            return None if any(at is None for at in after.values()) else {k: v for k, v in after.items() if v}

        again = wait_until(first_checks_after_kill, timeout=4 * INTERVAL, what="the killed worker's endpoints checked")
        # An endpoint the killed worker checked just before the kill is next due exactly one interval after
        # that check (the survivors continue its cadence): its start lag (milliseconds) may land it a hair
        # after kill + interval. Half a second is that margin; a missed slot would be a whole interval late.
        late = {eid: round(at - killed_at, 2) for eid, at in again.items() if at - killed_at > INTERVAL + 0.5}
        assert late == {}, f"checked again later than one interval ({INTERVAL} s) after the kill: {late}"
        survivors = [w.pid for w in workers[1:]]
        wait_until(lambda: balanced(ctx, survivors), timeout=10 * LEASE, what="two workers holding 32 buckets each")

        # A fourth process joins: the shares rebalance to 22/21/21 and the newcomer checks its share.
        joined_at = time.time()
        newcomer = fleet.start()
        joined = [*survivors, newcomer.pid]
        wait_until(lambda: balanced(ctx, joined) or newcomer.poll() is not None, timeout=120,
                   what="the newcomer holding its share")
        assert newcomer.poll() is None, newcomer.communicate()[1]
        mine = {eid for eid in endpoints if bucket_of(eid) in buckets_of(ctx, newcomer.pid)}
        assert len(mine) >= BUCKETS // 3
        settled = time.time()
        start, end = settled + INTERVAL, settled + 3 * INTERVAL
        wait_until(lambda: time.time() > end + 2, timeout=5 * INTERVAL, what="two intervals after the rebalance")
        seen = results(ctx)
        assert once_per_slot(seen, set(endpoints), start, end) == {}
        # never twice in one slot, from the first check to the last (start, kill, rebalance)
        doubled = {eid: [(round(b - began, 2), round(b - a, 2)) for a, b in zip(seen[eid], seen[eid][1:], strict=False)
                         if b - a < INTERVAL / 2] for eid in endpoints}
        assert {eid: short for eid, short in doubled.items() if short} == {}, (
            f"checked twice in one slot (seconds since the start, gap); killed at {killed_at - began:.2f}, "
            f"joined at {joined_at - began:.2f}")
        assert all(any(at > settled for at in seen[eid]) for eid in mine)
        assert os.getpid() not in shares(ctx)  # the test process itself never took part
