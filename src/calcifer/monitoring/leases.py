"""Schedulers that share one location's endpoints (PostgreSQL): worker leases and buckets.

On PostgreSQL every scheduler process (``calcifer worker``, or the one inside the web app) takes part; on
SQLite exactly one scheduler runs (``calcifer.monitoring.lock``) and this module is not used.

- Each process registers a row in ``monitor_workers`` (id, host, pid, ``expires_at``) and renews it every
  third of ``monitor_worker_lease_seconds``. Expiry is always computed by the database (``now()``), never
  from a worker's clock.
- The endpoints are split into ``BUCKETS`` buckets (endpoint id modulo ``BUCKETS``). A ``monitor_buckets``
  row names the worker that checks the bucket and when that lease ends; it is renewed with the worker's.
- Balance: with n live workers ordered by id, the first ``BUCKETS % n`` hold ``BUCKETS // n + 1`` buckets,
  the others ``BUCKETS // n``. A worker holding more than its share stops checking the extra buckets at
  once, and frees them in the database only once their checks in flight are over and their results
  written (its writer has written every result queued after their last check ended). One holding fewer
  claims free or expired buckets with ``FOR UPDATE SKIP LOCKED``: two workers never claim the same bucket.
- Fencing: a worker stops checking all its buckets when its last successful renewal is older than 90 %
  of the lease, measured on its monotonic clock from *before* that renewal began. The database lets
  another worker claim a bucket only after the full lease counted from the renewal's transaction, which
  started later: the old holder has always stopped first.
- A claimed bucket's endpoints are scheduled from their last stored result (``last_checks``): one
  interval after it (the previous holder's cadence, ``scheduler.continue_cadence``), or, when that has
  passed, within ``min(2 s, interval / 4)``. A slot is neither checked twice nor skipped, and a dead
  worker's endpoints are checked again after at most lease + lease / 3 + 2 s (within one interval when
  that is shorter).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from calcifer.monitoring.models.checks import MonitorResult, MonitorState

log = logging.getLogger("calcifer.monitoring")

BUCKETS = 64
FENCE = 0.9  # a worker stops checking once this fraction of its lease has passed without a renewal
CHUNK = 500


def bucket_of(endpoint_id: int, buckets: int = BUCKETS) -> int:
    """The bucket an endpoint belongs to (ids are dense integers: the modulo spreads them evenly)."""
    return endpoint_id % buckets


def share_of(position: int, workers: int, buckets: int = BUCKETS) -> int:
    """How many buckets the worker at ``position`` (in id order) among ``workers`` live ones holds."""
    base, extra = divmod(buckets, max(1, workers))
    return base + (1 if position < extra else 0)


class WorkerLeases:
    """This process's lease and buckets. ``renew`` runs in a worker thread; the rest anywhere."""

    def __init__(self, engine: Engine, *, lease_seconds: float, flush_seconds: float = 1.0,
                 give_up_seconds: float = 60.0, buckets: int = BUCKETS) -> None:
        self.engine = engine
        self.id = uuid.uuid4().hex
        self.host = socket.gethostname()[:200]
        self.pid = os.getpid()
        self.lease = float(lease_seconds)
        self.renew_seconds = self.lease / 3
        self.flush_seconds = flush_seconds      # at least this long between dropping a bucket and freeing it
        self.give_up_seconds = give_up_seconds  # free it anyway after this long (a writer that keeps failing)
        self.buckets = buckets
        self.owned: frozenset[int] = frozenset()  # the buckets this process checks now
        # bucket -> (monotonic time this process stopped checking it, results put when it was first seen
        # idle): freed once the writer has written that many results
        self.releasing: dict[int, tuple[float, int | None]] = {}
        self.valid_until = 0.0                    # monotonic: stop checking everything after this
        self.workers = 0                          # live workers at the last renewal
        self._lock = threading.Lock()     # guards the fields above
        self._db = threading.Lock()       # one database round at a time: ``leave`` never races a renewal
        self._left = False
        self._seeded = False

    def owned_endpoint_ids(self, endpoint_ids: Iterable[int]) -> set[int]:
        """The endpoint ids among ``endpoint_ids`` that this worker checks now."""
        owned, buckets = self.owned, self.buckets
        return {eid for eid in endpoint_ids if eid % buckets in owned}

    def renew(self, *, busy: Iterable[int] = (), put: int = 0, written: int = 0) -> bool:
        """One round: renew the leases, free given-up buckets whose endpoints are idle (not in ``busy``,
        the endpoint ids with a check in flight) and whose results are written (``written``, the writer's
        count, has reached ``put``, the results queued, as of when they were idle), give up or claim
        buckets to hold this worker's share. True when the buckets this process checks changed."""
        with self._db:
            if self._left:
                return False
            return self._renew(busy=busy, put=put, written=written)

    def _renew(self, *, busy: Iterable[int], put: int, written: int) -> bool:
        started = time.monotonic()
        busy_buckets = {eid % self.buckets for eid in busy}
        me = {"me": self.id, "lease": self.lease}
        with self.engine.begin() as conn:
            if not self._seeded:
                conn.execute(text("INSERT INTO monitor_buckets (bucket) SELECT g FROM generate_series(0, :n - 1) "
                                  "AS g ON CONFLICT DO NOTHING"), {"n": self.buckets})
            conn.execute(text(
                "INSERT INTO monitor_workers (id, host, pid, started_at, expires_at) "
                "VALUES (:me, :host, :pid, now(), now() + make_interval(secs => :lease)) "
                "ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at"),
                {**me, "host": self.host, "pid": self.pid})
            conn.execute(text("DELETE FROM monitor_workers WHERE expires_at < now() - make_interval(secs => :keep)"),
                         {"keep": max(300.0, 4 * self.lease)})
            live = list(conn.execute(text("SELECT id FROM monitor_workers WHERE expires_at > now() ORDER BY id"))
                        .scalars())
            held = set(conn.execute(text(
                "UPDATE monitor_buckets SET expires_at = now() + make_interval(secs => :lease) "
                "WHERE worker_id = :me RETURNING bucket"), me).scalars())
            releasing: dict[int, tuple[float, int | None]] = {}
            ready = []
            for bucket, (at, mark) in self.releasing.items():
                if bucket not in held:
                    continue
                if bucket in busy_buckets:
                    mark = None
                elif mark is None:
                    mark = put
                elif started - at >= self.flush_seconds and written >= mark or started - at >= self.give_up_seconds:
                    ready.append(bucket)
                releasing[bucket] = (at, mark)
            if ready:
                conn.execute(text("UPDATE monitor_buckets SET worker_id = NULL, expires_at = now() "
                                  "WHERE worker_id = :me AND bucket = ANY(:ready)"), {**me, "ready": ready})
                for bucket in ready:
                    held.discard(bucket)
                    releasing.pop(bucket)
            share = share_of(live.index(self.id) if self.id in live else len(live), len(live), self.buckets)
            active = held - set(releasing)
            while len(active) < share and releasing:  # still ours: check them again rather than claim others
                bucket = max(releasing)
                releasing.pop(bucket)
                active.add(bucket)
            if len(active) > share:
                for bucket in sorted(active, reverse=True)[:len(active) - share]:
                    releasing[bucket] = (started, None)
                    active.discard(bucket)
            elif len(active) < share:
                active |= set(conn.execute(text(
                    "UPDATE monitor_buckets SET worker_id = :me, expires_at = now() + make_interval(secs => :lease) "
                    "WHERE bucket IN (SELECT bucket FROM monitor_buckets "
                    "WHERE worker_id IS NULL OR expires_at < now() ORDER BY bucket LIMIT :want "
                    "FOR UPDATE SKIP LOCKED) RETURNING bucket"), {**me, "want": share - len(active)}).scalars())
        self._seeded = True
        with self._lock:
            before = self.owned
            self.owned = frozenset(active)
            self.releasing = releasing
            self.valid_until = started + self.lease * FENCE
            self.workers = len(live)
        if self.owned != before:
            log.info("worker %s: %d of %d bucket(s) among %d worker(s)", self.id[:8], len(self.owned),
                     self.buckets, len(live))
        return self.owned != before

    def fence(self) -> bool:
        """Stop checking every bucket when the lease may have run out (renewals failing or too slow);
        True when that changed what this process checks."""
        with self._lock:
            if not self.owned or time.monotonic() < self.valid_until:
                return False
            self.owned = frozenset()
            self.releasing = {}
        log.error("worker %s: the lease was not renewed in time; checking nothing until it is", self.id[:8])
        return True

    def leave(self) -> None:
        """Free this worker's buckets and remove its row (after its scheduler stopped and wrote its results):
        the others take its share at their next renewal instead of waiting for the lease to expire."""
        with self._lock:
            self.owned = frozenset()
            self.releasing = {}
        try:
            with self._db, self.engine.begin() as conn:
                self._left = True
                conn.execute(text("UPDATE monitor_buckets SET worker_id = NULL, expires_at = now() "
                                  "WHERE worker_id = :me"), {"me": self.id})
                conn.execute(text("DELETE FROM monitor_workers WHERE id = :me"), {"me": self.id})
        except Exception:
            log.warning("worker %s: freeing its buckets failed; they are taken over when the lease expires",
                        self.id[:8], exc_info=True)


def last_checks(session: Session, endpoint_ids: Iterable[int]) -> dict[int, float]:
    """endpoint id → its newest check (epoch seconds), from the results (written within a second; the
    state row may be coalesced for a few seconds) and the state (when the results were pruned)."""
    ids = sorted(set(endpoint_ids))
    last: dict[int, float] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        for eid, at_ms in session.execute(select(MonitorResult.endpoint_id, func.max(MonitorResult.checked_at_ms))
                                          .where(MonitorResult.endpoint_id.in_(chunk))
                                          .group_by(MonitorResult.endpoint_id)):
            if at_ms is not None:
                last[eid] = at_ms / 1000
        for eid, at in session.execute(select(MonitorState.id, MonitorState.last_checked_at)
                                       .where(MonitorState.id.in_(chunk), MonitorState.last_checked_at.is_not(None))):
            if at is not None:
                last[eid] = max(last.get(eid, 0.0), at.timestamp())
    return last


class SharingScheduler(Protocol):
    def in_flight_endpoint_ids(self) -> set[int]: ...

    def results_put_and_written(self) -> tuple[int, int]: ...

    async def refresh(self, *, force: bool = False, initial: bool = False) -> None: ...


async def keep(leases: WorkerLeases, scheduler: SharingScheduler, stop: asyncio.Event) -> None:
    """Renew the leases every third of the lease until ``stop``; re-plan the schedule when the buckets
    change. A renewal that hangs or fails never keeps the worker checking past its fence."""
    pending: asyncio.Future[bool] | None = None
    while not stop.is_set():
        wait = min(leases.renew_seconds, max(0.05, leases.valid_until - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()
        if stop.is_set():
            break
        changed = False
        if pending is None:
            put, written = scheduler.results_put_and_written()
            pending = asyncio.ensure_future(asyncio.to_thread(leases.renew, busy=scheduler.in_flight_endpoint_ids(),
                                                              put=put, written=written))
        try:
            changed = await asyncio.wait_for(asyncio.shield(pending),
                                             timeout=max(0.05, leases.valid_until - time.monotonic()))
            pending = None
        except TimeoutError:
            pass  # still running: awaited again next round
        except Exception:
            pending = None
            log.exception("renewing the worker lease failed; trying again")
        if leases.fence():
            changed = True
        if changed:
            await scheduler.refresh(force=True)
    if pending is not None:
        with contextlib.suppress(Exception):
            await pending
