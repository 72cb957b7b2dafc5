"""Remote probes: the server's ingest of probe results, and a probe's backlog after an outage.

    .venv/bin/python bench/probes.py            # 10,000 endpoints x 3 probes; a 1 h backlog at 1,000 endpoints
    .venv/bin/python bench/probes.py --quick    # 1,000 endpoints x 3 probes; a 10 min backlog at 1,000 endpoints

Ingest. 3 simulated probes (locations p1, p2, p3) each check the same N endpoints (``locations: [p1, p2,
p3]``) at a 30 s interval: 3 x N results every 30 s. The server (``calcifer serve`` in a child process,
SQLite, or PostgreSQL with ``--database-url``) receives each probe's results in uploads of 1,000, the 3
probes at once, for 30 simulated seconds of results (every endpoint once per probe), as fast as it takes
them. Figures: results/s accepted and stored (wall time of the whole run; every result stored, checked
after), the server process's CPU per 1,000 results (utime + stime of the child, all threads), p99 latency of
an upload. The CPU window holds the writing of the rows the server coalesces for the measured results
(``locations.LocationPending``) exactly once, as the burst writer's holds its final flush: it opens when
the warm-up's were written and closes at the server's exit, which writes what it still holds (without
this, whether the server's 5 s flush fell inside the window moved the figure by a third). The exit itself
costs the server ~35 ms (its services stopping), counted against the ingest.
Baseline: the local scheduler's own writer (``writer.ResultWriter``, the path every result of the server's
own checks takes) writing the same number of single-location results in batches of 1,000 in this
process (its CPU by ``time.process_time``). Ratio = ingest CPU per result / writer CPU per result.
The writer gets no HTTP, JSON or validation to do; the ingest also keeps per-location state and verdicts.

Backlog. A probe that was offline for an hour at 1,000 endpoints (30 s interval) has 120,000 results on
disk (``probe_agent.Buffer``, segments of 2,000). It reconnects: ``probe_agent.Uploader.round`` runs in a
loop (live results first, then one backlog segment), while the live checks go on adding 1,000/30 s.
Figures: seconds until the backlog is uploaded, and live results' lag (added on the probe to stored on
the server acknowledgement) p50/p99/max meanwhile.

Targets: ingest CPU per result <= the local writer's (ratio <= 1.0); backlog caught up < 60 s while live
results stay < 5 s late. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import emit_json, machine_load, median, percentile, print_table, ratio, rounded  # noqa: E402

INTERVAL = 30
BATCH = 1000
PROBES = ("p1", "p2", "p3")
TARGET_RATIO = 1.0
TARGET_CATCH_UP_S = 60.0
TARGET_LIVE_LAG_S = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


RUN = uuid.uuid4().hex[:8]
SCHEMAS: list[str] = []


def _schema(data_dir: Path) -> str:
    """On PostgreSQL each instance (ingest, writers, backlog) works in a schema of its own, dropped at the end."""
    name = f"bench_probes_{data_dir.name.replace('-', '_')}_{RUN}"
    if name not in SCHEMAS:
        SCHEMAS.append(name)
    return name


def _drop_schemas(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        for name in SCHEMAS:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def _env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {**os.environ, "CALCIFER_DATA_DIR": str(data_dir), "CALCIFER_MONITOR_IN_WEB": "false",
           "CALCIFER_LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    if database_url:
        env["CALCIFER_DATABASE_URL"] = database_url
        env["CALCIFER_DATABASE_SCHEMA"] = _schema(data_dir)
    return env


def instance(data_dir: Path, database_url: str | None) -> Any:
    from calcifer.config import Settings
    from calcifer.wiring import prepare as prepare_instance

    values: dict[str, Any] = {"data_dir": data_dir, "monitor_in_web": False}
    if database_url:
        values["database_url"] = database_url
        values["database_schema"] = _schema(data_dir)
    return prepare_instance(Settings(_env_file=None, **values), reconcile=False)  # type: ignore[call-arg]


def prepare(data_dir: Path, database_url: str | None, n: int, locations: list[str],
            ctx: Any = None) -> tuple[Any, dict[str, str]]:
    """``n`` endpoints located ``locations`` in the catalog index, and a probe per location. Written after the
    server started: its start re-reads the catalog index from the (empty) managed repository."""
    from sqlalchemy import insert

    from calcifer.catalog.models import CatalogEndpoint
    from calcifer.monitoring import probes

    ctx = ctx or instance(data_dir, database_url)
    rows = []
    for i in range(n):
        slug = f"ep-{i:05d}"
        rows.append({"slug": slug, "name": slug, "service": None, "type": "tcp", "target": "127.0.0.1", "port": 9,
                     "interval": INTERVAL, "timeout": 5.0, "retries": 1, "enabled": True, "options": {},
                     "spec": {"name": slug, "slug": slug, "type": "tcp", "locations": locations},
                     "file": f"catalog/endpoints/{slug}.yaml", "line": 1, "nested": False, "blob_id": "0" * 40,
                     "commit_id": "0" * 40, "updated_at": dt.datetime.now(dt.UTC)})
    tokens = {}
    with ctx.session_factory() as session:
        for start in range(0, len(rows), 1000):
            session.execute(insert(CatalogEndpoint), rows[start:start + 1000])
        session.commit()
        for location in locations:
            if location != "local":
                _, tokens[location] = probes.create_probe(session, name=f"probe-{location}", location=location)
    return ctx, tokens


class ServerProcess:
    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "calcifer.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=_env(data_dir, database_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def cpu(self) -> float:
        # uvicorn without --workers serves in this very process
        return _cpu_seconds(self.process.pid)

    def stop(self) -> float | None:
        """Stop the server (it writes what it still coalesces as it stops); its total CPU seconds, all
        threads, from its exit status (None if it had to be killed)."""
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                self.process.returncode = os.waitstatus_to_exitcode(status)
                return usage.ru_utime + usage.ru_stime
            time.sleep(0.02)
        self.process.kill()
        self.process.wait()
        return None


def _wait_counted(ctx: Any, results: int, timeout: float = 30.0) -> None:
    """Wait until the server's hourly counts hold ``results`` results: the rows it coalesces
    (``locations.LocationPending``, written every few seconds) for them are written."""
    from sqlalchemy import func, select

    from calcifer.monitoring.models.probes import LocationHourly
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.session_factory() as session:
            if int(session.execute(select(func.coalesce(func.sum(LocationHourly.checks), 0))).scalar_one()) >= results:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not write its coalesced rows")


def _results(slugs: list[str], seq0: int, at: float) -> list[dict[str, Any]]:
    rnd = random.Random(seq0)
    return [{"seq": seq0 + i, "slug": slug, "checked_at": at + (i % INTERVAL),
             "status": "down" if rnd.random() < 0.01 else "up", "latency_ms": round(rnd.uniform(1, 40), 2)}
            for i, slug in enumerate(slugs)]


def bench_ingest(n: int, base: Path, database_url: str | None, rounds: int) -> dict[str, Any]:
    data_dir = base / "ingest"
    ctx = instance(data_dir, database_url)
    server = ServerProcess(data_dir, database_url)
    ctx, tokens = prepare(data_dir, database_url, n, list(PROBES), ctx)
    slugs = [f"ep-{i:05d}" for i in range(n)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def uploads(location: str, intervals: range, at: float) -> list[tuple[bytes, int]]:
        """The JSON bodies a probe sends, built before they are sent: in production the probes run elsewhere,
        here their work would take CPU from the measured server on the same 2 cores."""
        out = []
        for k in intervals:
            for start in range(0, n, BATCH):
                results = _results(slugs[start:start + BATCH], k * n + start + 1, at + k * INTERVAL)
                out.append((json.dumps({"location": location, "results": results}).encode(), len(results)))
        return out

    def probe(location: str, bodies: list[tuple[bytes, int]], measured: bool) -> None:
        with httpx.Client(base_url=server.url, timeout=120,
                          headers={"Authorization": f"Probe {tokens[location]}",
                                   "Content-Type": "application/json"}) as client:
            for content, count in bodies:
                began = time.perf_counter()
                response = client.post("/api/v1/probes/results", content=content)
                took = time.perf_counter() - began
                with lock:
                    if measured:
                        latencies.append(took)
                    if response.status_code != 200 or response.json()["stored"] != count:
                        errors.append(response.text[:200])

    start_at = time.time() - (1 + rounds) * INTERVAL
    try:
        # warm-up: one interval of results per probe, not counted (the first uploads build the plan, caches)
        warm = [threading.Thread(target=probe, args=(loc, uploads(loc, range(0, 1), start_at), False))
                for loc in PROBES]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        # The window holds the writing of the measured results' coalesced rows once, as the burst writer's
        # does (its last flush): it opens once the warm-up's were written, and closes when the server,
        # stopping, has written what it still held for the measured ones (read from its exit status).
        # (the measured results' times move on by that wait: they stand where they stood without it to the
        # server's clock, which decides what counts in the verdicts)
        began_waiting = time.time()
        _wait_counted(ctx, n * len(PROBES))
        measured = {loc: uploads(loc, range(1, 1 + rounds), start_at + time.time() - began_waiting) for loc in PROBES}
        cpu0, wall0 = server.cpu(), time.perf_counter()
        threads = [threading.Thread(target=probe, args=(loc, measured[loc], True)) for loc in PROBES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - wall0
    finally:
        at_exit = server.stop()
    if at_exit is None:
        raise RuntimeError("the server did not stop")
    cpu = at_exit - cpu0
    from sqlalchemy import func, select

    from calcifer.monitoring.models.probes import LocationResult
    with ctx.session_factory() as session:
        stored = int(session.execute(select(func.count()).select_from(LocationResult)).scalar_one()) - n * len(PROBES)
    total = n * len(PROBES) * rounds

    # baseline: the local scheduler's writer, the same number of results in batches of 1,000
    from calcifer.monitoring import states
    from calcifer.monitoring.choices import ResultCode
    from calcifer.monitoring.store import ResultRecord
    from calcifer.monitoring.writer import ResultWriter
    rnd = random.Random(1)

    def writer_run(paced: bool) -> tuple[float, float]:
        """(wall, CPU) of the writer on ``total`` results. Burst: its coalesced state rows and hourly deltas
        are written once, at the end (the whole run takes less than its 5 s). Paced: they are written every
        5 s of check time, as in production (at 30 s intervals that is about once per result)."""
        base_ctx, _ = prepare(base / ("writer-paced" if paced else "writer"), _other_schema(database_url), n, ["local"])
        with base_ctx.session_factory() as session:
            ids = states.ensure_states(session, slugs)
        writer = ResultWriter(base_ctx.session_factory, settings=base_ctx.settings, batch_rows=BATCH)
        records = [ResultRecord(endpoint_id=ids[slugs[i % n]], slug=slugs[i % n], service=None, retries=1,
                                checked_at=start_at + (i // n) * INTERVAL + (i % n) * INTERVAL / n,
                                code=ResultCode.DOWN if rnd.random() < 0.01 else ResultCode.UP,
                                latency_ms=round(rnd.uniform(1, 40), 2), message="") for i in range(total)]
        last_write = records[0].checked_at
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for start in range(0, total, BATCH):
            for record in records[start:start + BATCH]:
                writer.put(record)
            checked = records[min(start + BATCH, total) - 1].checked_at
            due = paced and checked - last_write >= writer.coalesce_seconds
            if due:
                last_write = checked
            writer.flush(force=due or start + BATCH >= total)
        result = time.perf_counter() - wall0, time.process_time() - cpu0
        base_ctx.engine.dispose()
        return result

    wall_w, cpu_w = writer_run(paced=False)
    wall_p, cpu_p = writer_run(paced=True)
    ctx.engine.dispose()
    return {"results": total, "stored": stored, "errors": len(errors), "first_error": errors[0] if errors else None,
            "ingest_results_per_s": total / wall, "ingest_cpu_ms_per_1000": cpu / total * 1000 * 1000,
            "upload_p50_ms": median(latencies) * 1000, "upload_p99_ms": percentile(latencies, 99) * 1000,
            "writer_results_per_s": total / wall_w, "writer_cpu_ms_per_1000": cpu_w / total * 1000 * 1000,
            "paced_writer_results_per_s": total / wall_p, "paced_writer_cpu_ms_per_1000": cpu_p / total * 1000 * 1000}


def _other_schema(database_url: str | None) -> str | None:
    return database_url  # PostgreSQL: a schema of its own (``_schema``); SQLite: a file of its own


def bench_backlog(minutes: float, base: Path, database_url: str | None, endpoints: int = 1000) -> dict[str, Any]:
    from calcifer.monitoring.probe_agent import Uploader

    data_dir = base / "backlog"
    ctx = instance(data_dir, database_url)
    server = ServerProcess(data_dir, database_url)
    ctx, tokens = prepare(data_dir, database_url, endpoints, ["fra"], ctx)
    slugs = [f"ep-{i:05d}" for i in range(endpoints)]
    backlog = int(endpoints * minutes * 60 / INTERVAL)
    lags: list[float] = []
    result: dict[str, Any] = {}

    async def main() -> None:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            uploader = Uploader(server=server.url, token=tokens["fra"], data_dir=base / "probe-data", session=session,
                                max_bytes=1 << 30, max_age=2 * 3600)
            started = time.time() - minutes * 60
            items = []
            for i in range(backlog):
                item = {"seq": uploader.seq.take(), "slug": slugs[i % endpoints],
                        "checked_at": started + (i // endpoints) * INTERVAL + (i % endpoints) * INTERVAL / endpoints,
                        "status": "up", "latency_ms": 5.0, "message": "", "permanent": False}
                items.append(item)
            uploader.buffer.add(items)
            added: dict[int, float] = {}
            live_rate = endpoints / INTERVAL
            next_live = time.monotonic()
            live_i = 0
            t0 = time.monotonic()
            caught_up = None
            while True:
                now = time.monotonic()
                while next_live <= now:  # the live checks go on: 1,000 endpoints every 30 s
                    uploader.add({"slug": slugs[live_i % endpoints], "checked_at": time.time(), "status": "up",
                                  "latency_ms": 5.0, "message": "", "permanent": False})
                    added[uploader.seq.next - 1] = time.monotonic()
                    live_i += 1
                    next_live += 1 / live_rate
                pending = [item["seq"] for item in uploader.live]
                await uploader.round()
                done = time.monotonic()
                for seq in pending:
                    if seq in added:
                        lags.append(done - added.pop(seq))
                if caught_up is None and uploader.buffer.count == 0:
                    caught_up = done - t0
                    break
                if done - t0 > 600:
                    break
                await asyncio.sleep(0.05)
            result.update(backlog=backlog, caught_up_s=caught_up, live_results=len(lags),
                          dropped=uploader.buffer.dropped)

    try:
        asyncio.run(main())
    finally:
        server.stop()
    from sqlalchemy import func, select

    from calcifer.monitoring.models.probes import LocationResult
    with ctx.session_factory() as session:
        result["stored"] = int(session.execute(select(func.count()).select_from(LocationResult)).scalar_one())
    ctx.engine.dispose()
    result.update(live_lag_p50_s=median(lags), live_lag_p99_s=percentile(lags, 99),
                  live_lag_max_s=max(lags) if lags else float("nan"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 endpoints; a 10 minute backlog")
    parser.add_argument("--endpoints", type=int, help="endpoints each probe checks (ingest)")
    parser.add_argument("--backlog-minutes", type=float, help="how long the probe was offline")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: SQLite in a temporary folder)")
    args = parser.parse_args(argv)
    n = args.endpoints or (1000 if args.quick else 10_000)
    minutes = args.backlog_minutes or (10.0 if args.quick else 60.0)
    logging.disable(logging.WARNING)
    load_at_start = machine_load()
    base = Path(tempfile.mkdtemp(prefix="calcifer-bench-probes-"))
    try:
        print(f"probes bench ({'quick' if args.quick else 'full'}): ingest of 3 probes x {n:,} endpoints; "
              f"backlog of {minutes:g} min at 1,000 endpoints; load {load_at_start}", flush=True)
        ingest = bench_ingest(n, base, args.database_url, rounds=3 if args.quick else 1)
        backlog = bench_backlog(minutes, base, args.database_url)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if args.database_url:
            _drop_schemas(args.database_url)
    load_at_end = machine_load()
    cpu_ratio = ratio(ingest["ingest_cpu_ms_per_1000"], ingest["writer_cpu_ms_per_1000"])
    paced_ratio = ratio(ingest["ingest_cpu_ms_per_1000"], ingest["paced_writer_cpu_ms_per_1000"])
    print()
    print(f"Ingest: {ingest['results']:,} results (3 probes x {n:,} endpoints, after one uncounted interval), "
          f"uploads of {BATCH:,}; stored "
          f"{ingest['stored']:,}, errors {ingest['errors']}")
    print_table(["path", "results/s", "CPU ms / 1,000 results", "upload p50 ms", "upload p99 ms"], [
        ["probe ingest (HTTP, server process)", f"{ingest['ingest_results_per_s']:,.0f}",
         f"{ingest['ingest_cpu_ms_per_1000']:.0f}", f"{ingest['upload_p50_ms']:.0f}", f"{ingest['upload_p99_ms']:.0f}"],
        ["local writer, burst (baseline, in process)", f"{ingest['writer_results_per_s']:,.0f}",
         f"{ingest['writer_cpu_ms_per_1000']:.0f}", "-", "-"],
        ["local writer, paced (coalesced rows every 5 s)", f"{ingest['paced_writer_results_per_s']:,.0f}",
         f"{ingest['paced_writer_cpu_ms_per_1000']:.0f}", "-", "-"],
        ["ratio ingest / burst writer (CPU per result)", "", f"{cpu_ratio:.2f}", "", ""],
        ["ratio ingest / paced writer (CPU per result)", "", f"{paced_ratio:.2f}", "", ""],
    ])
    needed = 3 * n / INTERVAL
    print(f"needed at a {INTERVAL} s interval: {needed:,.0f} results/s; target: CPU ratio <= {TARGET_RATIO}")
    print()
    print(f"Backlog: {backlog['backlog']:,} results ({minutes:g} min offline at 1,000 endpoints), "
          f"{backlog['live_results']:,} live results meanwhile; stored {backlog['stored']:,}")
    print_table(["figure", "value", "target"], [
        ["caught up after (s)", f"{backlog['caught_up_s']:.1f}" if backlog["caught_up_s"] else "not", "< 60"],
        ["live lag p50 (s)", f"{backlog['live_lag_p50_s']:.2f}", ""],
        ["live lag p99 (s)", f"{backlog['live_lag_p99_s']:.2f}", "< 5"],
        ["live lag max (s)", f"{backlog['live_lag_max_s']:.2f}", ""],
    ])
    print(f"load at start {load_at_start}, at end {load_at_end}")
    emit_json({"bench": "probes", "mode": "quick" if args.quick else "full", "endpoints": n,
               "load_at_start": load_at_start, "load_at_end": load_at_end,
               "ingest": {k: rounded(v, 2) if isinstance(v, float) else v for k, v in ingest.items()},
               "ingest_cpu_ratio": rounded(cpu_ratio, 2), "ingest_cpu_ratio_paced": rounded(paced_ratio, 2),
               "ingest_target_ratio": TARGET_RATIO,
               "ingest_meets_target": cpu_ratio <= TARGET_RATIO,
               "backlog": {k: rounded(v, 2) if isinstance(v, float) else v for k, v in backlog.items()},
               "backlog_target_s": TARGET_CATCH_UP_S, "live_lag_target_s": TARGET_LIVE_LAG_S,
               "backlog_meets_target": bool(backlog["caught_up_s"] and backlog["caught_up_s"] < TARGET_CATCH_UP_S
                                            and backlog["live_lag_p99_s"] < TARGET_LIVE_LAG_S)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
