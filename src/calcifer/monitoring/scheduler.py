"""The scheduler: one asyncio loop runs every enabled endpoint on main.

How it keeps 10,000 endpoints on time (see docs/monitoring/scheduler.md for the figures):

- One timer heap, one armed ``loop.call_at`` handle. The dispatch callback pops every due endpoint and
  starts one task per check, so nothing awaits a check in the dispatch path: a hung target holds one
  task (and one of ``monitor_concurrency`` slots) until its timeout, never the others.
- Each endpoint has a fixed phase inside its interval, from a hash of its slug: starts are spread (no
  thundering herd) and a restart checks everything again within one interval, at the same moments.
- Start to start: the next start is the previous *scheduled* start + interval, never + duration. When
  far behind (a suspended machine), it skips ahead to the next slot instead of bursting. A check still
  running at its next slot is skipped for that slot (counted), never run twice at once.
- Every check runs under ``asyncio.timeout(endpoint.timeout)``; the scheduler measures latency when the
  check does not; exceptions become a down result, never a dead scheduler.
- Results go to ``writer.ProcessWriter`` (a child process with its own connection; ``writer="thread"``
  keeps it in-process): the loop never waits for the database, nor for the GIL held by database work.
  Catalog, pause, push-heartbeat and maintenance lookups run in worker threads.
- The catalog index is polled every ~2 s (commit, count, newest update): a merge reaches the schedule
  within seconds, only changed endpoints are re-planned. Works across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import json
import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from calcifer.catalog.models import CatalogEndpoint, CatalogState
from calcifer.errors import NotFound
from calcifer.instance import AppContext
from calcifer.monitoring import checks, hooks, leases, locations, states, store
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, PushSeen, Target
from calcifer.monitoring.choices import ResultCode, Status
from calcifer.monitoring.lock import SchedulerLock, make_lock
from calcifer.monitoring.models.checks import MonitorState
from calcifer.monitoring.timers import TimerQueue
from calcifer.monitoring.writer import ProcessWriter, ResultWriter

log = logging.getLogger("calcifer.monitoring")

LAG_WINDOW_SECONDS = 60.0
LAG_SAMPLE = 5000
TIMER_SLACK = 0.0015
SWEEP_SECONDS = 0.05
SWITCH_INTERVAL = 0.001
# Collector thresholds while a scheduler runs. With the default (700, 10, 10), a young collection runs
# every few checks, while hundreds of connections are open: their objects (transport, protocol, futures,
# reference cycles all) survive into the older generations, and full collections keep walking them.
# Collecting the youngest every 20,000 allocations lets most of a check's objects die young (saturated
# bench: ~10,000 → ~12,800 checks/s on 2 cores). Both settings are process-wide, so they are applied only
# where the scheduler has its process (``calcifer worker``: ``tune_interpreter=True``) and put back when
# it stops; a scheduler inside the web app leaves the web process's interpreter as it was.
GC_THRESHOLDS = (20_000, 20, 100)
# Endpoints added or changed while running are first checked within this many seconds (spread).
NEW_ENDPOINT_SPREAD = 2.0
# Endpoints whose check was due while no scheduler ran are checked within this many seconds of a start.
OVERDUE_SPREAD = 5.0


def phase(slug: str) -> float:
    """A stable fraction in [0, 1) for the slug: where in its interval the endpoint is checked."""
    digest = hashlib.blake2b(slug.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def next_slot(slug: str, interval: float, after: float) -> float:
    """The first wall-clock time >= ``after`` at the endpoint's phase of its interval."""
    offset = phase(slug) * interval
    return math.ceil((after - offset) / interval) * interval + offset


def first_due(job: Job, now: float) -> float:
    """When a (re)started scheduler first checks ``job`` (wall clock): at its phase slot, but never more
    than one interval after its last check; one whose check fell due while no scheduler ran (a restart,
    a takeover) is checked within a few seconds, spread by phase."""
    slot = next_slot(job.slug, job.interval, now)
    if job.last_checked is None:
        return slot
    latest = job.last_checked + job.interval
    if latest <= now:
        return now + phase(job.slug) * min(job.interval, OVERDUE_SPREAD)
    return min(slot, latest)


def continue_cadence(job: Job, now: float) -> float:
    """When a worker that takes ``job`` over (a bucket from another worker, ``job.last_checked`` set)
    first checks it: one interval after its last check, whoever made it — never sooner, so the slot is
    not checked twice even when that schedule had drifted off the phase — or, when that time has passed
    (the holder died), within ``min(2 s, interval / 4)``, spread by phase."""
    assert job.last_checked is not None
    following = job.last_checked + job.interval
    if following > now:
        return following
    return now + phase(job.slug) * min(NEW_ENDPOINT_SPREAD, job.interval / 4)


# -- HTTP client shared by every check of a scheduler -------------------------------------------------


def make_http_session() -> Any:
    """The shared aiohttp session (the HTTP check type's factory when it exists)."""
    try:
        from calcifer.monitoring.checks.http import make_http_session as factory
    except ImportError:
        pass
    else:
        return factory()
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 headers={"User-Agent": "Calcifer monitor"})


# -- jobs ---------------------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Job:
    """One scheduled endpoint. Built in a worker thread; afterwards touched only by the loop."""

    endpoint_id: int
    slug: str
    service: str | None
    kind: str
    check: CheckType | None
    options: Any
    target: Target
    interval: float
    timeout: float
    retries: int
    fingerprint: str
    problem: str | None = None    # why it cannot be checked (unknown type, invalid options)
    last_checked: float | None = None  # last check (epoch seconds): from the database when loaded, then each start
    due: float = 0.0              # loop time of the next scheduled start
    gen: int = 0
    running: bool = False
    active: bool = True
    timed_out: bool = False       # set by the deadline sweeper when it cancels the running check
    location: str | None = None   # "local" for an endpoint checked from several locations (locations.py)


def _fingerprint(row: Any) -> str:
    return json.dumps([row.service, row.type, row.target, row.port, row.interval, row.timeout, row.retries,
                       row.options, locations.locations_of(row.spec)], sort_keys=True, default=str)


def _build_job(row: Any, endpoint_id: int, fingerprint: str) -> Job:
    check = checks.get(row.type)
    options: Any = None
    problem: str | None = None
    if check is None:
        problem = f"no check type {row.type!r} is installed"
    else:
        try:
            options = check.parse_options(dict(row.options or {}))
        except Exception as exc:  # pydantic.ValidationError, or a plugin's own
            problem = f"invalid options: {exc}".replace("\n", " ")[:300]
    timeout = float(row.timeout)
    return Job(endpoint_id=endpoint_id, slug=row.slug, service=row.service, kind=row.type, check=check,
               options=options, target=Target(slug=row.slug, target=row.target, port=row.port, timeout=timeout,
                                              interval=int(row.interval)),
               interval=float(row.interval), timeout=timeout, retries=int(row.retries), fingerprint=fingerprint,
               problem=problem, location=locations.LOCAL if locations.multi_location(row.spec) else None)


_ENDPOINT_COLUMNS = (CatalogEndpoint.slug, CatalogEndpoint.service, CatalogEndpoint.type, CatalogEndpoint.target,
                     CatalogEndpoint.port, CatalogEndpoint.interval, CatalogEndpoint.timeout,
                     CatalogEndpoint.retries, CatalogEndpoint.enabled, CatalogEndpoint.options, CatalogEndpoint.spec)


def checked_here(rows: Sequence[Any], location: str = locations.LOCAL) -> list[Any]:
    """The catalog rows of endpoints whose ``locations`` include ``location`` (the server's own
    scheduler: ``local``); the others are checked by remote probes only."""
    return [row for row in rows if location in locations.locations_of(row.spec)]


def catalog_signature(session: Session) -> tuple[Any, ...]:
    """Cheap: changes whenever main's indexed endpoints may have changed."""
    commit = session.execute(select(CatalogState.synced_commit)).scalar()
    count, newest = session.execute(select(func.count(), func.max(CatalogEndpoint.updated_at))).one()
    return (commit, count, newest)


@dataclass
class Plan:
    """What changed in the catalog and pause flags since the schedule was last built."""

    add: list[Job] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    signature: tuple[Any, ...] = ()
    paused: set[int] = field(default_factory=set)


def plan_changes(session: Session, *, current: dict[str, str], signature: tuple[Any, ...] | None = None,
                 share: leases.WorkerLeases | None = None) -> Plan:
    """Compare the catalog (enabled endpoints) and the pause flags with ``current`` (slug → fingerprint of
    the scheduled endpoints): jobs to add (new or changed) and slugs to remove (gone, disabled, paused,
    changed). Creates state rows for new slugs and marks stopped ones paused. With ``share`` (workers
    sharing the endpoints on PostgreSQL), only the endpoints in this worker's buckets are planned."""
    signature = signature or catalog_signature(session)
    rows = checked_here(session.execute(select(*_ENDPOINT_COLUMNS)).all())
    ids = states.ensure_states(session, [row.slug for row in rows])
    paused = states.paused_ids(session)
    plan = Plan(signature=signature, paused=paused)
    wanted: dict[str, tuple[Any, str]] = {}
    stopped: dict[int, tuple[str, str | None]] = {}
    running: dict[int, tuple[str, str | None]] = {}
    owned = share.owned_endpoint_ids(ids.values()) if share is not None else None
    for row in rows:
        eid = ids[row.slug]
        if owned is not None and eid not in owned:
            continue  # another worker's share
        if not row.enabled or eid in paused:
            stopped[eid] = (row.slug, row.service)
            continue
        running[eid] = (row.slug, row.service)
        wanted[row.slug] = (row, _fingerprint(row))
    for slug, fingerprint in current.items():
        if slug not in wanted or wanted[slug][1] != fingerprint:
            plan.remove.append(slug)
    for slug, (row, fingerprint) in wanted.items():
        if current.get(slug) != fingerprint:
            plan.add.append(_build_job(row, ids[slug], fingerprint))
    if share is not None:  # a start or a bucket taken over: when was each endpoint checked last?
        arrived = [job for job in plan.add if job.slug not in current]
        last_seen = leases.last_checks(session, [job.endpoint_id for job in arrived])
        for job in arrived:
            job.last_checked = last_seen.get(job.endpoint_id)
    elif not current and plan.add:  # a (re)start: when was each endpoint checked last?
        last = states.last_checked(session)
        for job in plan.add:
            stored = last.get(job.endpoint_id)
            job.last_checked = stored.timestamp() if stored is not None else None
    # Only endpoints whose scheduling changed need their paused/unknown status looked at.
    touched = set(plan.remove) | {job.slug for job in plan.add}
    states.sync_paused(session, stopped={k: v for k, v in stopped.items() if v[0] in touched or not current},
                       running={k: v for k, v in running.items() if v[0] in touched})
    return plan


# -- running one check --------------------------------------------------------------------------------


async def run_check(job: Job, ctx: CheckContext, loop: asyncio.AbstractEventLoop, *,
                    timed: bool = True) -> tuple[Outcome, float]:
    """Run the job's check under its hard timeout; (outcome, latency ms). Never raises but on cancel."""
    started = loop.time()
    if job.problem is not None or job.check is None:
        outcome = Outcome(Status.DOWN, job.problem or "no check type", permanent=True)
    else:
        try:
            if not timed:  # the caller enforces the deadline (the scheduler's sweeper)
                outcome = await job.check.check(job.target, job.options, ctx)
            else:
                async with asyncio.timeout(job.timeout) as cm:
                    outcome = await job.check.check(job.target, job.options, ctx)
        except TimeoutError:
            if timed and cm.expired():
                outcome = Outcome(Status.DOWN, f"no answer within {job.timeout:g} s")
            else:
                outcome = Outcome(Status.DOWN, "timed out")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The exception's text is logged, not shown: it can quote what the target sent.
            log.warning("check %s raised", job.slug, exc_info=True)
            outcome = Outcome(Status.DOWN, f"check failed: {type(exc).__name__}")
    latency = outcome.latency_ms
    if latency is None:
        latency = (loop.time() - started) * 1000
    return outcome, latency


_CODES = {Status.UP: ResultCode.UP, Status.DEGRADED: ResultCode.DEGRADED, Status.DOWN: ResultCode.DOWN}


def to_record(job: Job, outcome: Outcome, latency: float, *, checked_at: float, in_maintenance: bool,
              next_due_at: float | None) -> store.ResultRecord:
    # a check returning paused/unknown has a bug: count it as down
    code = _CODES.get(outcome.status, ResultCode.DOWN)
    record = store.ResultRecord(
        endpoint_id=job.endpoint_id, slug=job.slug, service=job.service, retries=job.retries,
        checked_at=checked_at, code=code, latency_ms=latency, message=outcome.message or "",
        permanent=outcome.permanent, in_maintenance=in_maintenance, next_due_at=next_due_at, location=job.location)
    if outcome.cert is not None:
        record.cert = outcome.cert.as_json()
        record.cert_days_left = round(outcome.cert.days_left(dt.datetime.fromtimestamp(checked_at, dt.UTC)), 3)
        record.cert_expires_at = outcome.cert.not_after.timestamp()
    return record


# -- the scheduler ------------------------------------------------------------------------------------


class Scheduler:
    """Runs until ``stop`` is set (or the lock is lost). Use one per process that holds the lock."""

    def __init__(self, *, app: AppContext, concurrency: int | None = None, poll_seconds: float = 2.0,
                 maintenance_seconds: float = 5.0, push_seconds: float = 2.0, status_seconds: float = 3.0,
                 batch_seconds: float = 0.5, lock: SchedulerLock | None = None,
                 http_session: Any = None, writer: str = "process", tune_interpreter: bool = False,
                 share: leases.WorkerLeases | None = None) -> None:
        self.app = app
        self.share = share
        self.tune_interpreter = tune_interpreter
        self.settings = app.settings
        self.limit = concurrency or self.settings.monitor_concurrency
        self.poll_seconds = poll_seconds
        self.maintenance_seconds = maintenance_seconds
        self.push_seconds = push_seconds
        self.lock = lock
        self.holder = store.holder_name()
        self.started_at = dt.datetime.now(dt.UTC)
        self.writer: ResultWriter | ProcessWriter
        if writer == "process":
            self.writer = ProcessWriter(self.settings, batch_seconds=batch_seconds,
                                        status_every=status_seconds, wire=app.wire)
        else:
            self.writer = ResultWriter(app.session_factory, settings=self.settings,
                                       batch_seconds=batch_seconds, status_every=status_seconds)
        self.writer.snapshot = self.snapshot
        self.jobs: dict[str, Job] = {}
        # Kept beside ``jobs`` by ``_apply`` (the loop), read by the DB threads: rebuilding them from
        # ``jobs`` every poll walked 40,000 jobs in the loop every 2 s.
        self._fingerprints: dict[str, str] = {}
        self._push_slugs: frozenset[str] = frozenset()
        self.checks_total = 0
        self.skipped = 0
        self.in_flight = 0
        # (loop time, lag seconds) of recent starts; the bench reads it for its own percentiles.
        self.lags: deque[tuple[float, float]] = deque(maxlen=200_000)
        self.ready = asyncio.Event()
        self._due: TimerQueue[tuple[Job, int]] = TimerQueue()  # (job, its generation when queued)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = math.inf
        self._blocked = False
        # Checks run in long-lived worker tasks (at most ``limit``), fed through ``_ready``: a task per
        # check (create, register, done callback) was ~15 % of the loop's time at 40,000 checks/s.
        # ``in_flight`` counts what is in ``_ready`` and what runs.
        self._ready: deque[tuple[Job, float]] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._idle: deque[asyncio.Future[None]] = deque()
        # Worker -> (loop-time deadline, job) of the check it runs. One sweeper timer enforces every
        # deadline: an asyncio.timeout per check arms and cancels a loop timer each, ~28 % of the loop's
        # time at 11,000 checks/s (measured with py-spy in the saturated bench phase).
        self._running: dict[asyncio.Task[None], tuple[float, Job]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._refreshing = asyncio.Lock()  # one refresh at a time: ``_load`` reads ``_fingerprints``
        self._maintenance: frozenset[str] = frozenset()
        self._push: dict[str, PushSeen] = {}
        self._signature: tuple[Any, ...] | None = None
        self._paused: set[int] = set()
        # Shared workers: endpoint id -> last check of the jobs this scheduler dropped (a bucket given up,
        # or all of them when fenced). Taken back, they continue from there even before those results
        # are written.
        self._dropped: dict[int, float] = {}
        self._http_session = http_session
        self._own_http = http_session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ctx = CheckContext(cert_warn_days=self.settings.monitor_cert_warn_days,
                                push_seen=self._push.get)

    # -- figures --------------------------------------------------------------------------------------

    def lag_percentiles(self, window: float = LAG_WINDOW_SECONDS) -> tuple[float, float]:
        """Scheduling lag (start - scheduled start) p50 and p99 in ms over the last ``window`` seconds."""
        if self._loop is None or not self.lags:
            return 0.0, 0.0
        since = self._loop.time() - window
        # the newest LAG_SAMPLE starts at most: bounded work in the loop however many checks run
        values = sorted(lag for at, lag in itertools.islice(reversed(self.lags), LAG_SAMPLE) if at >= since)
        if not values:
            return 0.0, 0.0

        def pick(pct: float) -> float:
            return values[min(len(values), max(1, math.ceil(pct * len(values)))) - 1] * 1000

        return round(pick(0.50), 3), round(pick(0.99), 3)

    def in_flight_endpoint_ids(self) -> set[int]:
        """Endpoints with a check started or about to start (a worker frees a bucket only when idle)."""
        return ({job.endpoint_id for _deadline, job in self._running.values()}
                | {job.endpoint_id for job, _due in self._ready})

    def results_put_and_written(self) -> tuple[int, int]:
        """Results handed to the writer, and results it wrote (or dropped): equal when all are stored."""
        stats = self.writer.stats
        return self.checks_total, stats.written + stats.dropped

    def queue_length(self) -> int:
        """Endpoints due now but not started (waiting for a concurrency slot)."""
        if self._loop is None:
            return 0
        now = self._loop.time()
        return self._due.count_due(now, lambda entry: entry[1] == entry[0].gen)

    def snapshot(self) -> states.StatusSnapshot:
        # Called from the writer thread: read plain attributes only (the lag list is copied by the loop).
        p50, p99 = self._lag_cache
        return states.StatusSnapshot(holder=self.holder, started_at=self.started_at, endpoints=len(self.jobs),
                                     checks_total=self.checks_total, lag_p50_ms=p50, lag_p99_ms=p99,
                                     queue=self._queue_cache, in_flight=self.in_flight)

    _lag_cache: tuple[float, float] = (0.0, 0.0)
    _queue_cache: int = 0

    # -- the timer queue ------------------------------------------------------------------------------

    def _push_job(self, job: Job, due: float) -> None:
        job.due = due
        self._due.push(due, (job, job.gen))

    def _arm(self) -> None:
        loop = self._loop
        when = self._due.first_due()
        if loop is None or when is None or self._blocked:
            return
        if self._timer is not None:
            if self._timer_when <= when:
                return
            self._timer.cancel()
        self._timer_when = when
        self._timer = loop.call_at(when, self._dispatch)

    def _dispatch(self) -> None:
        self._timer = None
        self._timer_when = math.inf
        loop = self._loop
        assert loop is not None
        queue = self._due
        now = loop.time()
        # uvloop's timers have 1 ms resolution and may fire up to 1 ms early: treat what is due within
        # that as due, or the timer would be re-armed for "now" and spin until the millisecond passes.
        horizon = now + TIMER_SLACK
        while (entry := queue.peek(horizon)) is not None:
            due, (job, gen) = entry
            if gen != job.gen or not job.active:
                queue.pop()
                continue
            if job.running:
                # still checking from its previous slot: skip this slot rather than overlap
                self.skipped += 1
            elif self.in_flight >= self.limit:
                self._blocked = True  # resumed when a check finishes
                return
            else:
                self.in_flight += 1
                job.running = True
                job.timed_out = False
                self._ready.append((job, due))
                self._wake_worker()
            following = due + job.interval
            if following <= now:  # far behind (suspended machine, long stall): skip ahead, no burst
                self.skipped += int((now - due) // job.interval)
                following = due + (math.floor((now - due) / job.interval) + 1) * job.interval
            queue.pop()
            self._push_job(job, following)
        self._arm()

    def _wake_worker(self) -> None:
        while self._idle:
            parked = self._idle.popleft()
            if not parked.done():
                parked.set_result(None)
                return
        if len(self._workers) < self.limit:
            assert self._loop is not None
            worker = self._loop.create_task(self._work())
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        # else every worker is busy and takes from ``_ready`` before it parks again

    async def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        me = asyncio.current_task()
        assert me is not None
        ready, running = self._ready, self._running
        while True:
            if not ready:
                parked = loop.create_future()
                self._idle.append(parked)
                await parked
                continue
            job, due = ready.popleft()
            running[me] = (loop.time() + job.timeout, job)
            try:
                await self._run(job, due)
            finally:
                running.pop(me, None)
            if job.timed_out:
                # The sweeper's cancel is spent (caught by ``_run``, or swallowed by the check): clear its
                # count, or the next check's own asyncio.timeout in this worker would misread it.
                while me.cancelling():
                    me.uncancel()

    def _sweep(self) -> None:
        """Cancel the checks past their deadline (every SWEEP_SECONDS; a check's timeout is kept to that)."""
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for task, (deadline, job) in list(self._running.items()):
            if deadline <= now and not job.timed_out:
                job.timed_out = True
                task.cancel()
        self._sweeper = loop.call_later(SWEEP_SECONDS, self._sweep)

    async def _run(self, job: Job, due: float) -> None:
        loop = self._loop
        assert loop is not None
        started = loop.time()
        self.lags.append((started, started - due))
        wall = time.time()
        job.last_checked = wall
        try:
            try:
                outcome, latency = await run_check(job, self.ctx, loop, timed=False)
            except asyncio.CancelledError:
                if not job.timed_out:  # shutting down
                    raise
                outcome = Outcome(Status.DOWN, f"no answer within {job.timeout:g} s")
                latency = (loop.time() - started) * 1000
            # job.due already holds the following slot (set when this one was dispatched)
            next_due = wall + (job.due - started) if job.active else None
            self.writer.put(to_record(job, outcome, latency, checked_at=wall,
                                      in_maintenance=job.slug in self._maintenance, next_due_at=next_due))
            self.checks_total += 1
        finally:
            job.running = False
            self.in_flight -= 1
            if self._blocked:  # refill ``_ready`` now: this worker takes the next check at once
                self._blocked = False
                self._dispatch()

    # -- applying catalog changes ---------------------------------------------------------------------

    def _apply(self, plan: Plan, *, initial: bool) -> None:
        loop = self._loop
        assert loop is not None
        for slug in plan.remove:
            job = self.jobs.pop(slug, None)
            self._fingerprints.pop(slug, None)
            if job is not None:
                job.active = False
                job.gen += 1
                if self.share is not None and job.last_checked is not None:
                    self._dropped[job.endpoint_id] = job.last_checked
        now_wall, now_loop = time.time(), loop.time()
        for job in plan.add:
            old = self.jobs.get(job.slug)
            if old is not None:
                old.active = False
                old.gen += 1
            self.jobs[job.slug] = job
            self._fingerprints[job.slug] = job.fingerprint
            if self.share is not None and job.last_checked is not None:
                wall_due = continue_cadence(job, now_wall)  # taken over from another worker (or restarted)
            elif initial:
                wall_due = first_due(job, now_wall)
            else:
                wall_due = now_wall + phase(job.slug) * min(job.interval, NEW_ENDPOINT_SPREAD)
            self._push_job(job, now_loop + (wall_due - now_wall))
        self._signature = plan.signature
        self._paused = plan.paused
        if plan.add or plan.remove:
            self._push_slugs = frozenset(slug for slug, job in self.jobs.items() if job.kind == "push")
        if len(self._due) > 4 * max(1, len(self.jobs)) + 1000:  # drop stale entries now and then
            self._due.retain(lambda entry: entry[1] == entry[0].gen and entry[0].active)
        if not initial and len(plan.add) > 100:
            gc.freeze()
        if plan.add or plan.remove:
            log.info("schedule: %d endpoint(s), %d added or changed, %d removed", len(self.jobs),
                     len(plan.add), len(plan.remove) - sum(1 for j in plan.add if j.slug in plan.remove))
        self._arm()

    def _load(self, force: bool) -> Plan | None:
        with self.app.session_factory() as session:
            signature = catalog_signature(session)
            paused = states.paused_ids(session)
            if not force and signature == self._signature and paused == self._paused:
                return None
            # safe to read from this thread: only ``_apply`` changes it, after this returns
            plan = plan_changes(session, current=self._fingerprints, signature=signature, share=self.share)
        for job in plan.add:
            mine = self._dropped.pop(job.endpoint_id, None) if self._dropped else None
            if mine is not None and (job.last_checked is None or mine > job.last_checked):
                job.last_checked = mine
        return plan

    async def refresh(self, *, force: bool = False, initial: bool = False) -> None:
        """Bring the schedule in line with the catalog index and pause flags (DB work in a thread)."""
        async with self._refreshing:
            plan = await asyncio.to_thread(self._load, force)
            if plan is not None:
                self._apply(plan, initial=initial)

    def _read_push(self) -> dict[str, PushSeen]:
        slugs = sorted(self._push_slugs)
        if not slugs:
            return {}
        seen: dict[str, PushSeen] = {}
        with self.app.session_factory() as session:
            for slug, (at, reported, message) in states.push_heartbeats(session, slugs).items():
                try:
                    status = Status(reported)
                except ValueError:
                    status = Status.DOWN
                seen[slug] = PushSeen(at=at, reported_status=status, message=message)
        return seen

    def _read_maintenance(self) -> frozenset[str]:
        if not hooks.MAINTENANCE_PROVIDERS:
            return frozenset()
        with self.app.session_factory() as session:
            return frozenset(hooks.endpoints_in_maintenance(session=session, now=dt.datetime.now(dt.UTC)))

    async def _every(self, seconds: float, work: Callable[[], Any], what: str) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = work()
                if asyncio.iscoroutine(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler: %s failed; trying again", what)

    async def _refresh_push(self) -> None:
        fresh = await asyncio.to_thread(self._read_push)
        self._push.clear()
        self._push.update(fresh)

    async def _refresh_maintenance(self) -> None:
        self._maintenance = await asyncio.to_thread(self._read_maintenance)

    def _refresh_figures(self) -> None:
        self._lag_cache = self.lag_percentiles()
        self._queue_cache = self.queue_length()

    async def _watch_lock(self, stop: asyncio.Event) -> None:
        assert self.lock is not None
        while not stop.is_set():
            await asyncio.sleep(self.poll_seconds)
            if not await asyncio.to_thread(self.lock.still_held):
                log.error("scheduler lock lost: stopping this scheduler")
                stop.set()

    # -- run ------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        if self._http_session is None:
            self._http_session = make_http_session()
        self.ctx.http = self._http_session
        await asyncio.to_thread(self.writer.start)
        helpers: list[asyncio.Task[Any]] = []
        gc_before = gc.get_threshold()
        switch_before = sys.getswitchinterval()
        try:
            self._maintenance = await asyncio.to_thread(self._read_maintenance)
            await self.refresh(force=True, initial=True)
            await self._refresh_push()
            # A full collection walks every object of the process: with 10,000 endpoints (and a web app)
            # that stalls the loop 300-500 ms. Collect once now, then move what lives on (jobs, options,
            # the app) out of the collector's sight; later collections only scan what is new.
            gc.collect()
            gc.freeze()
            # Threads that hold the GIL (page rendering, the result writer) make the loop wait up to the
            # switch interval each time it wakes; 5 ms by default is too coarse for a lag p99 under 50 ms.
            if self.tune_interpreter:
                if switch_before > SWITCH_INTERVAL:
                    sys.setswitchinterval(SWITCH_INTERVAL)
                if gc_before[0] < GC_THRESHOLDS[0]:
                    gc.set_threshold(*GC_THRESHOLDS)
            self._sweeper = self._loop.call_later(SWEEP_SECONDS, self._sweep)
            self.ready.set()
            log.info("scheduler running (%s): %d endpoint(s), concurrency %d", self.holder, len(self.jobs),
                     self.limit)
            helpers = [asyncio.create_task(self._every(self.poll_seconds, self.refresh, "catalog refresh")),
                       asyncio.create_task(self._every(self.push_seconds, self._refresh_push, "push heartbeats")),
                       asyncio.create_task(self._every(self.maintenance_seconds, self._refresh_maintenance,
                                                       "maintenance windows")),
                       asyncio.create_task(self._every(2.0, self._refresh_figures, "figures"))]
            if self.lock is not None:
                helpers.append(asyncio.create_task(self._watch_lock(stop)))
            if self.share is not None:
                helpers.append(asyncio.create_task(leases.keep(self.share, self, stop)))
            await stop.wait()
        finally:
            for helper in helpers:
                helper.cancel()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._sweeper is not None:
                self._sweeper.cancel()
                self._sweeper = None
            for job in self.jobs.values():
                job.active = False
            # Checks not started are dropped; running ones get a moment to finish (their results are
            # kept), then every worker is cancelled.
            while self._ready:
                job, _due = self._ready.popleft()
                job.running = False
                self.in_flight -= 1
            grace = self._loop.time() + 2.0
            while self._running and self._loop.time() < grace:
                await asyncio.sleep(0.02)
            for worker in list(self._workers):
                worker.cancel()
            if self._workers:
                await asyncio.wait(list(self._workers), timeout=2.0)
            for helper in helpers:
                with contextlib.suppress(BaseException):
                    await helper
            self._refresh_figures()
            if self.tune_interpreter:
                gc.set_threshold(*gc_before)
                sys.setswitchinterval(switch_before)
            await asyncio.to_thread(self.writer.stop)
            if self._own_http and self._http_session is not None:
                with contextlib.suppress(Exception):
                    await self._http_session.close()
            log.info("scheduler stopped after %d check(s)", self.checks_total)


async def serve(app: AppContext, stop: asyncio.Event, *, lock_poll_seconds: float = 2.0,
                on_scheduler: Callable[[Scheduler], None] | None = None, **options: Any) -> None:
    """Wait for the scheduler lock, run the scheduler while holding it, give it up when stopped.

    When the lock is lost, the scheduler stops and this waits for the lock again. Returns when ``stop``
    is set. On PostgreSQL there is no single lock: every scheduler shares the endpoints (``serve_shared``).
    """
    if app.engine.dialect.name == "postgresql":
        await serve_shared(app, stop, on_scheduler=on_scheduler, **options)
        return
    lock = make_lock(settings=app.settings, engine=app.engine)
    waiting_logged = False
    try:
        while not stop.is_set():
            try:
                got = await asyncio.to_thread(lock.try_acquire)
            except Exception:
                log.exception("taking the scheduler lock failed; trying again")
                got = False
            if not got:
                if not waiting_logged:
                    log.info("another process runs the scheduler; waiting to take over (on SQLite one "
                             "scheduler runs at a time; PostgreSQL lets several workers share the endpoints)")
                    waiting_logged = True
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(lock_poll_seconds):
                        await stop.wait()
                continue
            waiting_logged = False
            lost = asyncio.Event()

            async def relay(lost: asyncio.Event = lost) -> None:
                await stop.wait()
                lost.set()

            relay_task = asyncio.create_task(relay())
            scheduler = Scheduler(app=app, lock=lock, **options)
            if on_scheduler is not None:
                on_scheduler(scheduler)
            try:
                await scheduler.run(lost)
            finally:
                relay_task.cancel()
                await asyncio.to_thread(lock.release)
    finally:
        await asyncio.to_thread(lock.release)


async def serve_shared(app: AppContext, stop: asyncio.Event, *,
                       on_scheduler: Callable[[Scheduler], None] | None = None, **options: Any) -> None:
    """PostgreSQL: run a scheduler that checks this worker's share of the endpoints (``leases``), until
    ``stop``; then free the share so the other workers take it over at once."""
    share = leases.WorkerLeases(app.engine, lease_seconds=app.settings.monitor_worker_lease_seconds)
    try:
        while not stop.is_set():  # the first renewal (register, claim a share) before the first plan
            try:
                await asyncio.to_thread(share.renew)
                break
            except Exception:
                log.exception("registering this worker failed; trying again")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(share.renew_seconds):
                        await stop.wait()
        if stop.is_set():
            return
        scheduler = Scheduler(app=app, share=share, **options)
        if on_scheduler is not None:
            on_scheduler(scheduler)
        await scheduler.run(stop)
    finally:
        await asyncio.to_thread(share.leave)


# -- check now ----------------------------------------------------------------------------------------

async def close_http_session() -> None:
    """Kept for callers of an earlier version: check-now sessions are closed by ``check_now`` itself."""


def _prepare_now(app: AppContext, slug: str) -> tuple[Job, bool, PushSeen | None]:
    with app.session_factory() as session:
        row = session.execute(select(*_ENDPOINT_COLUMNS).where(CatalogEndpoint.slug == slug)).first()
        if row is None:
            raise NotFound(f"no endpoint {slug!r} on main")
        endpoint_id = states.ensure_states(session, [slug])[slug]
        job = _build_job(row, endpoint_id, _fingerprint(row))
        in_maintenance = False
        if hooks.MAINTENANCE_PROVIDERS:
            in_maintenance = slug in hooks.endpoints_in_maintenance(session=session, now=dt.datetime.now(dt.UTC))
        seen = None
        if row.type == "push":
            heartbeat = states.push_heartbeats(session, [slug]).get(slug)
            if heartbeat is not None:
                try:
                    status = Status(heartbeat[1])
                except ValueError:
                    status = Status.DOWN
                seen = PushSeen(at=heartbeat[0], reported_status=status, message=heartbeat[2])
    return job, in_maintenance, seen


def _record_now(app: AppContext, record: store.ResultRecord) -> MonitorState:
    with app.session_factory() as session:
        if record.location is not None:
            locations.record_located(session, [record])
        else:
            store.write_batch(session, [record])
        session.commit()
        state = session.get(MonitorState, record.endpoint_id, populate_existing=True)
        assert state is not None
        session.expunge(state)
        return state


async def check_now(*, ctx: AppContext, slug: str) -> MonitorState:
    """Run the endpoint's check once now and record it like a scheduled one (result, state, events,
    hooks, aggregates); returns the refreshed state. Works in any process (the scheduler may run in
    another one). Raises NotFound for a slug not on main. A paused endpoint is checked and recorded but
    stays paused."""
    job, in_maintenance, seen = await asyncio.to_thread(_prepare_now, ctx, slug)
    # A session of its own, closed after: a web worker's requests may each run on a loop of their own
    # (a session is bound to one). What is costly to build, the TLS context, is shared by the process
    # (checks.http.ssl_context is cached).
    http = make_http_session()
    try:
        check_ctx = CheckContext(cert_warn_days=ctx.settings.monitor_cert_warn_days, http=http,
                                 push_seen=lambda s: seen if s == slug else None)
        wall = time.time()
        outcome, latency = await run_check(job, check_ctx, asyncio.get_running_loop())
    finally:
        await http.close()
    record = to_record(job, outcome, latency, checked_at=wall, in_maintenance=in_maintenance, next_due_at=None)
    return await asyncio.to_thread(_record_now, ctx, record)
