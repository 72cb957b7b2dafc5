"""``calcifer probe``: check endpoints from another place and send the results to the server.

No database: the probe fetches its assignments (``GET /api/v1/probes/assignments``, conditional on the
ETag), runs them with the same check registry and scheduler core as the server (``scheduler.Scheduler``,
whose catalog reads and result writer are replaced here), and uploads results in batches with its own
sequence numbers (``POST /api/v1/probes/results``). Only outgoing requests (works behind NAT); the
usual HTTP(S)_PROXY variables are honoured; ``--ca-file`` trusts a private CA.

While the server cannot be reached, results go to a buffer on disk (``<data dir>/buffer/*.jsonl``),
bounded by age and size (oldest segments dropped first, counted). When it is back, each round sends the
live results first, then one segment of the backlog, oldest first: the backlog never starves live results.
A segment is deleted only once the server acknowledged it; a replayed upload is stored once by the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from calcifer import __version__
from calcifer.instance import AppContext
from calcifer.monitoring.checks.base import PushSeen
from calcifer.monitoring.scheduler import Plan, Scheduler, _build_job
from calcifer.monitoring.store import ResultRecord

log = logging.getLogger("calcifer.probe")

SEQ_RESERVE = 10_000
SEGMENT_RESULTS = 2000
_STATUS = {0: "up", 1: "degraded", 2: "down"}


@dataclass
class Segment:
    path: Path
    count: int
    size: int
    oldest: float


class Buffer:
    """Results waiting for the server, on disk: JSON-lines segments named by their first sequence number."""

    def __init__(self, directory: Path, *, max_bytes: int, max_age: float) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.dropped = 0
        self.segments: deque[Segment] = deque()
        for path in sorted(self.directory.glob("*.jsonl")):
            items = self._read(path)
            if not items:
                path.unlink(missing_ok=True)
                continue
            self.segments.append(Segment(path, len(items), path.stat().st_size, min(i["checked_at"] for i in items)))

    @staticmethod
    def _read(path: Path) -> list[dict[str, Any]]:
        items = []
        with contextlib.suppress(FileNotFoundError):
            for line in path.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    items.append(json.loads(line))  # a line cut short by a crash is skipped
        return items

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)

    def add(self, items: list[dict[str, Any]]) -> None:
        while items:
            last = self.segments[-1] if self.segments else None
            if last is None or last.count >= SEGMENT_RESULTS:
                last = Segment(self.directory / f"{items[0]['seq']:020d}.jsonl", 0, 0,
                               min(i["checked_at"] for i in items))
                self.segments.append(last)
            room = SEGMENT_RESULTS - last.count
            chunk, items = items[:room], items[room:]
            text = "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in chunk)
            with last.path.open("a") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            last.count += len(chunk)
            last.size += len(text)
        self.enforce()

    def enforce(self, now: float | None = None) -> None:
        """Drop the oldest segments beyond the size bound or older than the age bound (counted)."""
        now = now or time.time()
        while self.segments and (sum(s.size for s in self.segments) > self.max_bytes
                                 or self.segments[0].oldest < now - self.max_age):
            gone = self.segments.popleft()
            gone.path.unlink(missing_ok=True)
            self.dropped += gone.count
            log.warning("buffer full or too old: dropped %d result(s) (%d in all)", gone.count, self.dropped)

    def oldest(self) -> tuple[Segment, list[dict[str, Any]]] | None:
        if not self.segments:
            return None
        segment = self.segments[0]
        return segment, self._read(segment.path)

    def done(self, segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)
        if self.segments and self.segments[0] is segment:
            self.segments.popleft()


class Sequence:
    """The probe's sequence numbers, never reused across restarts (blocks reserved in a file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.next = int(json.loads(path.read_text())["reserved"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            self.next = 1
        self.reserved = self.next
        self._reserve()

    def _reserve(self) -> None:
        self.reserved = self.next + SEQ_RESERVE
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"reserved": self.reserved}))
        os.replace(tmp, self.path)

    def take(self) -> int:
        if self.next >= self.reserved:
            self._reserve()
        value = self.next
        self.next += 1
        return value


class ServerError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"server answered {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class Uploader:
    """Sends results (live first, then one backlog segment per round) and heartbeats."""

    server: str
    token: str
    data_dir: Path
    session: Any = None                  # aiohttp.ClientSession
    batch_max: int = 2000
    max_bytes: int = 100 * 1024 * 1024
    max_age: float = 24 * 3600.0
    live: deque[dict[str, Any]] = field(default_factory=deque)
    checks_per_second: float = 0.0
    reachable: bool = True
    sent: int = 0

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.buffer = Buffer(self.data_dir / "buffer", max_bytes=self.max_bytes, max_age=self.max_age)
        self.seq = Sequence(self.data_dir / "sequence.json")

    def add(self, result: dict[str, Any]) -> None:
        result["seq"] = self.seq.take()
        self.live.append(result)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Probe {self.token}", "User-Agent": f"calcifer-probe/{__version__}"}

    def status(self) -> dict[str, Any]:
        return {"version": __version__, "clock": time.time(), "queue_length": self.buffer.count + len(self.live),
                "checks_per_second": round(self.checks_per_second, 3), "dropped": self.buffer.dropped}

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.session.post(self.server + path, json=body, headers=self._headers()) as response:
            data = await response.json(content_type=None)
            if response.status >= 400:
                raise ServerError(response.status, data)
            return data

    async def send(self, items: list[dict[str, Any]]) -> None:
        """Upload ``items``; results the server refuses as not assigned (the schedule changed) are dropped.
        A batch the server finds too large (413: long messages) is sent in halves; a single result it
        still refuses can never be stored and is dropped (counted)."""
        while items:
            try:
                await self.post("/api/v1/probes/results", {**self.status(), "results": items})
                self.sent += len(items)
                return
            except ServerError as exc:
                if exc.status == 413:
                    if len(items) == 1:
                        self.buffer.dropped += 1
                        log.warning("server refused a result as too large; dropped it")
                        return
                    half = len(items) // 2
                    await self.send(items[:half])
                    await self.send(items[half:])
                    return
                details = (exc.body or {}).get("error", {}).get("details") if isinstance(exc.body, dict) else None
                if exc.status == 422 and isinstance(details, list) and details:
                    bad = {d.get("index") for d in details if isinstance(d, dict)}
                    kept = [item for i, item in enumerate(items) if i not in bad]
                    self.buffer.dropped += len(items) - len(kept)
                    log.warning("server refused %d result(s): %s", len(items) - len(kept), details[0])
                    if len(kept) == len(items):
                        raise
                    items = kept
                    continue
                raise

    async def round(self) -> None:
        """One round: live results (all of them, in batches), then one segment of the backlog."""
        live = self.live
        while live:
            batch = [live.popleft() for _ in range(min(self.batch_max, len(live)))]
            if not self.reachable:
                self.buffer.add(batch)
                continue
            try:
                await self.send(batch)
            except Exception as exc:
                self._unreachable(exc)
                self.buffer.add(batch)
        if not self.reachable:
            return
        oldest = self.buffer.oldest()
        if oldest is not None:
            segment, items = oldest
            try:
                await self.send(items)
            except Exception as exc:
                self._unreachable(exc)
                return
            self.buffer.done(segment)

    def _unreachable(self, exc: Exception) -> None:
        if self.reachable:
            log.warning("server not reachable (%s): buffering results on disk", exc)
        self.reachable = False

    async def heartbeat(self) -> bool:
        try:
            await self.post("/api/v1/probes/heartbeat", self.status())
        except Exception as exc:
            self._unreachable(exc)
            return False
        if not self.reachable:
            log.info("server reachable again: uploading %d buffered result(s)", self.buffer.count)
        self.reachable = True
        return True


class _Sink:
    """Takes the scheduler's ``ResultRecord``s in place of the database writer."""

    def __init__(self, uploader: Uploader) -> None:
        self.uploader = uploader
        self.snapshot: Any = None
        self.count = 0

    def put(self, record: ResultRecord) -> None:
        self.count += 1
        self.uploader.add({"slug": record.slug, "checked_at": record.checked_at,
                           "status": _STATUS.get(int(record.code), "down"), "latency_ms": record.latency_ms,
                           "message": (record.message or "")[:2000], "permanent": record.permanent})

    def start(self) -> None: ...

    def stop(self) -> None: ...


def plan_from(items: list[dict[str, Any]], current: dict[str, str], ids: dict[str, int]) -> Plan:
    """What changed between the scheduled jobs (slug → fingerprint) and the assignments."""
    plan = Plan()
    wanted: dict[str, tuple[Any, str]] = {}
    for item in items:
        row = SimpleNamespace(**{**item, "spec": {}, "enabled": True})
        fingerprint = json.dumps(item, sort_keys=True, default=str)
        wanted[item["slug"]] = (row, fingerprint)
    for slug, fingerprint in current.items():
        if slug not in wanted or wanted[slug][1] != fingerprint:
            plan.remove.append(slug)
    for slug, (row, fingerprint) in wanted.items():
        if current.get(slug) != fingerprint:
            eid = ids.setdefault(slug, len(ids) + 1)
            plan.add.append(_build_job(row, eid, fingerprint))
    return plan


class ProbeScheduler(Scheduler):
    """The server's scheduler core, fed by the assignments API and writing to the uploader."""

    def __init__(self, *, uploader: Uploader, concurrency: int = 200, poll_seconds: float = 30.0,
                 cert_warn_days: int = 14) -> None:
        settings = SimpleNamespace(monitor_concurrency=concurrency, monitor_cert_warn_days=cert_warn_days)
        app = cast(AppContext, SimpleNamespace(settings=settings, session_factory=None, wire=None))
        super().__init__(app=app, concurrency=concurrency, poll_seconds=poll_seconds, writer="thread",
                         maintenance_seconds=3600.0, push_seconds=3600.0)
        self.uploader = uploader
        self.sink = _Sink(uploader)
        self.writer = cast(Any, self.sink)
        self.etag: str | None = None
        self._ids: dict[str, int] = {}

    async def refresh(self, *, force: bool = False, initial: bool = False) -> None:
        async with self._refreshing:
            headers = self.uploader._headers()
            if self.etag and not force:
                headers["If-None-Match"] = f'"{self.etag}"'
            try:
                async with self.uploader.session.get(self.uploader.server + "/api/v1/probes/assignments",
                                                     headers=headers) as response:
                    if response.status == 304:
                        return
                    data = await response.json(content_type=None)
                    if response.status >= 400:
                        raise ServerError(response.status, data)
            except Exception as exc:
                self.uploader._unreachable(exc)
                return
            self.etag = data.get("etag")
            plan = plan_from(list(data.get("endpoints") or []), self._fingerprints, self._ids)
            log.info("assignments: %d endpoint(s) for location %s", len(data.get("endpoints") or []),
                     data.get("location"))
            self._apply(plan, initial=initial)

    def _read_push(self) -> dict[str, PushSeen]:
        return {}

    def _read_maintenance(self) -> frozenset[str]:
        return frozenset()


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


async def run(*, server: str, token: str, data_dir: Path, ca_file: str | None, stop: asyncio.Event,
              batch_seconds: float = 1.0, poll_seconds: float = 30.0, heartbeat_seconds: float = 10.0,
              concurrency: int = 200, max_bytes: int = 100 * 1024 * 1024, max_age: float = 24 * 3600.0) -> None:
    import aiohttp

    server = server.rstrip("/")
    connector = aiohttp.TCPConnector(ssl=ssl_context(ca_file) if server.startswith("https:") else False)
    # trust_env: HTTP_PROXY / HTTPS_PROXY / NO_PROXY as usual
    async with aiohttp.ClientSession(connector=connector, trust_env=True,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        uploader = Uploader(server=server, token=token, data_dir=data_dir, session=session, max_bytes=max_bytes,
                            max_age=max_age)
        scheduler = ProbeScheduler(uploader=uploader, concurrency=concurrency, poll_seconds=poll_seconds)
        await uploader.heartbeat()
        task = asyncio.create_task(scheduler.run(stop))
        last_beat = time.monotonic()
        last_count, last_at = 0, time.monotonic()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(batch_seconds):
                        await stop.wait()
                now = time.monotonic()
                if now - last_at >= 5:
                    uploader.checks_per_second = (scheduler.sink.count - last_count) / (now - last_at)
                    last_count, last_at = scheduler.sink.count, now
                if not uploader.reachable or now - last_beat >= heartbeat_seconds:
                    last_beat = now
                    if await uploader.heartbeat() and scheduler.etag is None:
                        await scheduler.refresh(force=True)
                await uploader.round()
        finally:
            stop.set()
            with contextlib.suppress(BaseException):
                await task
            uploader.reachable = uploader.reachable and True
            with contextlib.suppress(Exception):
                await uploader.round()
            if uploader.live:
                uploader.buffer.add(list(uploader.live))
                uploader.live.clear()
