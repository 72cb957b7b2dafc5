"""Worker leases in one process against PostgreSQL: the shares, the hand-over protocol and fencing.

(The end-to-end behaviour, with real worker processes, is in test_shared_workers.py.)
"""

from __future__ import annotations

import time

import pytest

from calcifer.monitoring.leases import BUCKETS, WorkerLeases, bucket_of, share_of
from calcifer.web.context import AppContext
from tests.conftest import TEST_DATABASE_URL
from tests.monitoring.scheduler_helpers import wait_until

pg_only = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="worker leases exist only on PostgreSQL: set CALCIFER_TEST_DATABASE_URL to a PostgreSQL server "
           "(CI's PostgreSQL pass does); on SQLite one scheduler runs at a time")


def test_shares_add_up_and_differ_by_one_at_most() -> None:
    for workers in range(1, 70):
        shares = [share_of(i, workers) for i in range(workers)]
        assert sum(shares) == BUCKETS and max(shares) - min(shares) <= 1
    assert sorted({bucket_of(eid) for eid in range(1, BUCKETS + 1)}) == list(range(BUCKETS))


def settle(*workers: WorkerLeases, rounds: int = 6) -> None:
    for _ in range(rounds):
        for worker in workers:
            worker.renew()


@pg_only
def test_a_second_worker_gets_half_only_after_the_first_let_go(ctx: AppContext) -> None:
    first = WorkerLeases(ctx.engine, lease_seconds=30, flush_seconds=0)
    second = WorkerLeases(ctx.engine, lease_seconds=30, flush_seconds=0)
    first.renew()
    assert len(first.owned) == BUCKETS
    second.renew()  # nothing is free yet: the first still checks every bucket
    assert second.owned == frozenset()
    first.renew()  # sees two workers: stops checking half, but holds them until they are idle and written
    assert len(first.owned) == BUCKETS // 2 and len(first.releasing) == BUCKETS // 2
    second.renew()
    assert second.owned == frozenset()
    settle(first, second)
    assert len(first.owned) == len(second.owned) == BUCKETS // 2
    assert first.owned.isdisjoint(second.owned)


@pg_only
def test_a_bucket_with_a_check_in_flight_or_unwritten_results_is_not_let_go(ctx: AppContext) -> None:
    first = WorkerLeases(ctx.engine, lease_seconds=30, flush_seconds=0)
    second = WorkerLeases(ctx.engine, lease_seconds=30, flush_seconds=0)
    first.renew()
    second.renew()
    first.renew()
    busy = [bucket for bucket in first.releasing]  # endpoint id == bucket: one endpoint per bucket
    for _ in range(4):
        first.renew(busy=busy, put=10, written=10)  # checks in flight in every bucket given up
        second.renew()
    assert second.owned == frozenset()
    for _ in range(3):
        first.renew(put=10, written=9)  # idle now, but one result is not written yet
        second.renew()
    assert second.owned == frozenset()
    first.renew(put=11, written=10)
    first.renew(put=11, written=10)
    second.renew()
    assert len(second.owned) == BUCKETS // 2


@pg_only
def test_a_dead_workers_buckets_are_claimed_after_its_lease_and_it_fences_itself(ctx: AppContext) -> None:
    dead = WorkerLeases(ctx.engine, lease_seconds=1.0)
    dead.renew()
    survivor = WorkerLeases(ctx.engine, lease_seconds=30)
    survivor.renew()
    assert survivor.owned == frozenset()  # leases still valid: nothing to claim
    # ``dead`` stops renewing. Before the database lets the survivor claim, ``dead`` stops by itself.
    wait_until(lambda: survivor.renew() or len(survivor.owned) == BUCKETS, timeout=30,
               what="the survivor claiming every bucket")
    assert time.monotonic() >= dead.valid_until
    assert dead.fence() and dead.owned == frozenset()


@pg_only
def test_a_worker_that_leaves_hands_its_buckets_over_at_once(ctx: AppContext) -> None:
    leaving = WorkerLeases(ctx.engine, lease_seconds=600)
    staying = WorkerLeases(ctx.engine, lease_seconds=600)
    leaving.renew()
    leaving.leave()
    staying.renew()
    assert len(staying.owned) == BUCKETS
    assert leaving.renew() is False and leaving.owned == frozenset()  # never comes back after leaving
