"""The deliverer: a background service that fans outbox events out to webhooks and sends deliveries.

One thread runs an asyncio loop with ONE shared aiohttp session. Each round (every ``poll`` seconds,
or as soon as a send finishes) it records finished attempts, fans out new events and claims due
deliveries, at most ``per_webhook`` in flight per webhook: a slow or dead receiver fills only its own
slots, healthy ones keep theirs. Database work runs in worker threads (``asyncio.to_thread``) so
sends in flight are never held up by it. Requests that cause events only write the outbox row; they
never wait for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import aiohttp

from calcifer.db import utcnow
from calcifer.instance import AppContext
from calcifer.webhooks import service, transport

log = logging.getLogger("calcifer.webhooks")

PRUNE_EVERY_S = 3600.0
KEEP = dt.timedelta(days=30)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return None
    return uvloop.new_event_loop


class Deliverer:
    """``backoff``/``backoff_cap`` (seconds) shape the retries: backoff, 2×, 4×... up to the cap, for 24 h."""

    def __init__(self, ctx: AppContext, *, poll: float = 0.2, pace: float = 0.1, per_webhook: int = 16,
                 timeout: float = 10.0, backoff: float = 10.0, backoff_cap: float = 3600.0, batch: int = 500) -> None:
        self.ctx = ctx
        self.poll = poll
        self.pace = min(pace, poll)
        self.per_webhook = per_webhook
        self.timeout = timeout
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.batch = batch
        self.lease = dt.timedelta(seconds=timeout + 30)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calcifer-webhooks", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._in_flight: dict[int, int] = defaultdict(int)
        # A webhook whose last attempt failed is paused (in memory) for the back-off that failure earned,
        # then probed with one delivery at a time until one succeeds: a dead receiver costs one attempt
        # per back-off, not one per queued delivery.
        self._failures: dict[int, int] = defaultdict(int)
        self._paused_until: dict[int, float] = {}
        self._outcomes: list[service.Outcome] = []
        self._outcomes_lock = threading.Lock()  # appended in the loop's thread, taken in a worker thread
        self._next_prune = 0.0

    def start(self) -> Deliverer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop ended already
                loop.call_soon_threadsafe(wake.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._main())
        except Exception:  # noqa: BLE001 - logged; what was not sent is still in the database
            log.exception("the webhook deliverer stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        async with transport.new_session() as http:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    jobs = await asyncio.to_thread(self._database_round)
                except Exception:  # noqa: BLE001 - the next round retries
                    log.exception("webhook delivery round failed")
                    jobs = []
                for job in jobs:
                    self._in_flight[job.webhook_id] += 1
                    task = asyncio.create_task(self._send(http, job))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                # Rounds are paced so that finished sends are recorded, and due ones claimed, in batches
                # (each round is a few statements: fewer rounds leave the database to the requests).
                await asyncio.sleep(self.pace)
                if not jobs and not self._outcomes:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll - self.pace)
            # Stopping: give sends in flight a moment, then record what they did. Anything unfinished
            # stays claimed and is due again when its lease runs out (sent again: at least once).
            if tasks:
                await asyncio.wait(tasks, timeout=min(5.0, self.timeout))
                for task in list(tasks):
                    task.cancel()
            await asyncio.to_thread(self._record)

    async def _send(self, http: aiohttp.ClientSession, job: service.Job) -> None:
        try:
            attempt = await transport.post(http, url=job.url, secret=job.secret, event=job.event, delivery=job.uid,
                                           body=job.body, timeout=self.timeout)
            with self._outcomes_lock:
                self._outcomes.append(service.Outcome(job=job, attempt=attempt, at=utcnow()))
            if attempt.ok:
                self._failures.pop(job.webhook_id, None)
                self._paused_until.pop(job.webhook_id, None)
            else:
                self._failures[job.webhook_id] += 1
                wait = service.backoff(self._failures[job.webhook_id], base=self.backoff, cap=self.backoff_cap)
                self._paused_until[job.webhook_id] = time.monotonic() + wait.total_seconds()
        finally:
            self._in_flight[job.webhook_id] -= 1
            if self._wake is not None:
                self._wake.set()

    def _free_slots(self, webhook_id: int) -> int:
        in_flight = self._in_flight.get(webhook_id, 0)
        if self._failures.get(webhook_id):
            if time.monotonic() < self._paused_until.get(webhook_id, 0.0):
                return 0
            return 1 - in_flight  # probing: one at a time until the receiver answers again
        return self.per_webhook - in_flight

    def _take_outcomes(self) -> list[service.Outcome]:
        with self._outcomes_lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def _record(self) -> None:
        outcomes = self._take_outcomes()
        if outcomes:
            with self.ctx.session_factory() as session:
                service.record_outcomes(session=session, outcomes=outcomes, base=self.backoff, cap=self.backoff_cap)

    def _database_round(self) -> list[service.Job]:
        """Record finished attempts, fan out new events and claim what is due, in one transaction."""
        with self.ctx.session_factory() as session:
            clock = time.monotonic()
            if clock >= self._next_prune:
                self._next_prune = clock + PRUNE_EVERY_S
                service.expire(session=session)
                service.prune(session=session, delivered_before=utcnow() - KEEP)
            outcomes = self._take_outcomes()
            try:
                service.record_outcomes(session=session, outcomes=outcomes, base=self.backoff, cap=self.backoff_cap,
                                        commit=False)
                while service.fan_out(session=session, limit=self.batch, commit=False) >= self.batch:
                    session.commit()
                return service.claim_due(session=session, secret_key=self.ctx.secret_key,
                                         free_slots=self._free_slots, lease=self.lease)  # commits
            except BaseException:
                with self._outcomes_lock:  # not written: recorded with the next round
                    self._outcomes[:0] = outcomes
                raise


def start(ctx: AppContext) -> Callable[[], None]:
    """The background service (``calcifer.wiring.BACKGROUND_SERVICES``): runs in every web process;
    several deliverers are safe (fan-out is idempotent, each delivery is claimed by one)."""
    deliverer = Deliverer(ctx).start()
    return deliverer.stop
