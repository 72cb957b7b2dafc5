"""The result writers: ``ResultWriter`` (a thread) and ``ProcessWriter`` (a child process running one),
which write the scheduler's results in batches through ``store.write_batch``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from calcifer.config import Settings
from calcifer.monitoring.locations import record_located, split_located
from calcifer.monitoring.retention import PruneResult, prune
from calcifer.monitoring.states import StatusSnapshot, write_status
from calcifer.monitoring.store import Pending, ResultRecord, _record_fields, _Samples, log, write_batch

# -- the writer thread --------------------------------------------------------------------------------


@dataclass
class WriterStats:
    written: int = 0
    batches: int = 0
    failed_batches: int = 0
    dropped: int = 0
    last_batch_ms: float = 0.0
    busy_seconds: float = 0.0
    changes: int = 0
    pruned: dict[str, int] = field(default_factory=lambda: {"results": 0, "events": 0, "hourly": 0})


class ResultWriter:
    """A thread that writes queued results in batches with its own session (see the module docstring).

    ``put`` is called from the scheduler's event loop and never blocks. ``stop`` writes what is queued
    and waits for the thread.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, settings: Settings,
                 batch_seconds: float = 0.5, batch_rows: int = 2000, max_queue: int = 500_000,
                 status_every: float = 3.0, prune_every: float = 600.0, coalesce_seconds: float = 5.0) -> None:
        self.session_factory = session_factory
        self.coalesce_seconds = coalesce_seconds
        self._pending = Pending()
        self._last_pending = time.monotonic()
        self.settings = settings
        self.batch_seconds = batch_seconds
        self.batch_rows = batch_rows
        self.max_queue = max_queue
        self.status_every = status_every
        self.prune_every = prune_every
        self.stats = WriterStats()
        self.snapshot: Callable[[], StatusSnapshot] | None = None
        self._queue: deque[ResultRecord] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flushed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._samples = _Samples(time.time())
        self._last_status = 0.0
        self._last_prune = time.monotonic()

    # called from any thread
    def put(self, record: ResultRecord) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.stats.dropped += 1
            return
        queue.append(record)
        if len(queue) == self.batch_rows:
            self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="calcifer-result-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def flush(self, *, force: bool = True) -> None:
        """Write everything queued now, in the caller's thread (tests, stop, and the writer's own loop).

        Coalesced state rows and hourly deltas are written too when ``force`` or when they have waited
        ``coalesce_seconds``.
        """
        queue = self._queue
        while queue:
            batch: list[ResultRecord] = []
            while queue and len(batch) < self.batch_rows:
                batch.append(queue.popleft())
            self._write(batch, force=force and not queue)
        if self._pending and (force or self._pending_due()):
            self._write([], force=True)

    def _pending_due(self) -> bool:
        return time.monotonic() - self._last_pending >= self.coalesce_seconds

    def _write(self, batch: list[ResultRecord], *, force: bool) -> None:
        started = time.perf_counter()
        write_now = force or self._pending_due()
        batch, located = split_located(batch)
        for attempt in range(3):
            try:
                with self.session_factory() as session:
                    changes = write_batch(session, batch, samples=self._samples, pending=self._pending,
                                          write_pending_now=write_now)
                    if located:
                        changes += record_located(session, located)
                    session.commit()
                self.stats.written += len(batch) + len(located)
                self.stats.batches += 1 if batch else 0
                self.stats.changes += len(changes)
                if write_now:
                    self._last_pending = time.monotonic()
                break
            except Exception:
                log.exception("writing %d check results failed (attempt %d)", len(batch), attempt + 1)
                self.stats.failed_batches += 1
                if self._stopping.is_set():
                    break
                time.sleep(1.0)
        elapsed = time.perf_counter() - started
        self.stats.last_batch_ms = elapsed * 1000
        self.stats.busy_seconds += elapsed

    def write_status_now(self) -> None:
        if self.snapshot is None:
            return
        try:
            with self.session_factory() as session:
                write_status(session, self.snapshot())
                session.commit()
        except Exception:
            log.exception("the scheduler status row could not be written")
        self._last_status = time.monotonic()

    def prune_now(self) -> PruneResult:
        result = prune(self.session_factory, settings=self.settings, budget_seconds=1.0,
                       pause=lambda: self.flush(force=False) if len(self._queue) >= self.batch_rows else None)
        for name in ("results", "events", "hourly"):
            self.stats.pruned[name] += getattr(result, name)
        # Not finished within its budget: come back in a minute rather than in prune_every.
        self._last_prune = time.monotonic() - (0 if result.done else max(0.0, self.prune_every - 60))
        return result

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                self._wake.wait(self.batch_seconds)
                self._wake.clear()
            try:
                self.flush(force=stopping)
                now = time.monotonic()
                if self.snapshot is not None and now - self._last_status >= self.status_every:
                    self.write_status_now()
                if not stopping and now - self._last_prune >= self.prune_every:
                    self.prune_now()
            except Exception:
                log.exception("the result writer hit an error; it keeps going")
            if stopping:
                self.flush()
                if self.snapshot is not None:
                    self.write_status_now()
                return


# -- the writer in a process of its own ---------------------------------------------------------------


def _writer_process_main(settings_values: dict[str, Any], conn: Any, counters: Any, batch_rows: int,
                         status_every: float, prune_every: float, wire: Callable[[], object] | None = None) -> None:
    """The child: a ``ResultWriter`` fed by batches received on ``conn`` (see ``ProcessWriter``)."""
    import signal

    from calcifer.db import make_engine, make_session_factory
    from calcifer.logging import configure

    # The parent decides when to stop (Ctrl-C, or a SIGTERM sent to the whole group, reaches both): it
    # sends what is queued, then "stop". If the parent dies, the pipe ends and this writes and exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    configure(fmt=settings.log_format.value, level=settings.log_level)
    if wire is not None:
        try:
            wire()  # the parent's composition root: the same status-change subscribers run here
        except Exception:  # results must still be written when a hook module is broken
            log.exception("the status-change hooks could not be wired; writing results without them")
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    writer = ResultWriter(make_session_factory(engine), settings=settings, batch_rows=batch_rows,
                          status_every=status_every, prune_every=prune_every)
    latest: list[StatusSnapshot] = []
    writer.snapshot = lambda: latest[-1]

    def publish() -> None:  # the parent reads its writer stats from these
        counters[0], counters[1], counters[2] = (writer.stats.written, writer.stats.batches,
                                                 writer.stats.failed_batches)

    try:
        while True:
            if conn.poll(1.0):
                kind, payload = conn.recv()
                if kind == "results":
                    writer._queue.extend(ResultRecord(*row) for row in payload)
                    writer.flush(force=False)
                elif kind == "status":
                    latest[:] = [payload]
                elif kind == "stop":
                    writer.flush()
                    if latest:
                        writer.write_status_now()
                    return
            writer.flush(force=False)  # coalesced rows that waited long enough
            now = time.monotonic()
            if latest and now - writer._last_status >= status_every:
                writer.write_status_now()
            if now - writer._last_prune >= prune_every:
                writer.prune_now()
            publish()
    except (EOFError, KeyboardInterrupt):  # the parent went away
        writer.flush()
    finally:
        publish()
        engine.dispose()


class ProcessWriter:
    """``ResultWriter``'s work in a child process, so the database work never competes with the
    scheduler's event loop for the GIL (measured: a writer thread cut the saturated engine's throughput
    from ~8,000 to ~2,500 checks/s on 2 cores).

    ``put`` appends to a deque (from the loop); a sender thread wakes every ``batch_seconds``, pickles
    what is queued and sends it through a pipe. The child writes batches (one transaction each), the
    scheduler status row and retention, exactly as the thread writer does, with the same hooks.
    """

    def __init__(self, settings: Settings, *, batch_seconds: float = 0.5, batch_rows: int = 2000,
                 max_queue: int = 500_000, status_every: float = 3.0, prune_every: float = 600.0,
                 wire: Callable[[], object] | None = None) -> None:
        import multiprocessing

        self.settings = settings
        self.batch_seconds = batch_seconds
        self.batch_rows = batch_rows
        self.max_queue = max_queue
        self.status_every = status_every
        self.prune_every = prune_every
        self.wire = wire  # called first in the child (pickled by name: a module-level function)
        self.snapshot: Callable[[], StatusSnapshot] | None = None
        self._mp = multiprocessing.get_context("spawn")  # never fork a process with threads
        self._counters = self._mp.Array("q", 3, lock=False)
        self._dropped = 0
        self._queue: deque[ResultRecord] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._process: Any = None
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        self._last_status = 0.0

    @property
    def stats(self) -> WriterStats:
        return WriterStats(written=int(self._counters[0]), batches=int(self._counters[1]),
                           failed_batches=int(self._counters[2]), dropped=self._dropped)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def put(self, record: ResultRecord) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._dropped += 1
            return
        queue.append(record)
        if len(queue) == self.batch_rows:
            self._wake.set()

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._send_loop, name="calcifer-result-sender", daemon=True)
        self._thread.start()

    def _send_pending(self) -> None:
        queue = self._queue
        while queue:
            batch: list[tuple[Any, ...]] = []
            while queue and len(batch) < self.batch_rows:
                batch.append(_record_fields(queue.popleft()))
            self._conn.send(("results", batch))
        now = time.monotonic()
        if self.snapshot is not None and now - self._last_status >= self.status_every / 2:
            self._conn.send(("status", self.snapshot()))
            self._last_status = now

    def _send_loop(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                self._wake.wait(self.batch_seconds)
                self._wake.clear()
            try:
                self._send_pending()
                if stopping:
                    if self.snapshot is not None:
                        self._conn.send(("status", self.snapshot()))
                    self._conn.send(("stop", None))
                    return
            except (OSError, EOFError, ValueError):
                if not self._process.is_alive():
                    log.error("the result writer process died (exit code %s); restarting it",
                              self._process.exitcode)
                    self._spawn()
                else:
                    log.exception("sending results to the writer process failed")
                    time.sleep(1.0)
                if stopping:
                    return

    def _spawn(self) -> None:
        """Start the child (again, after it died) with a new pipe."""
        parent, child = self._mp.Pipe()
        values = self.settings.model_dump(mode="python")
        self._process = self._mp.Process(target=_writer_process_main, name="calcifer-result-writer",
                                         args=(values, child, self._counters, self.batch_rows,
                                               self.status_every, self.prune_every, self.wire), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                log.error("the result writer process did not stop; terminating it")
                self._process.terminate()
                self._process.join(5)
        if self._conn is not None:
            self._conn.close()
