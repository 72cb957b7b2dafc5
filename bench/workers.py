"""Worker fail-over on PostgreSQL: three `calcifer worker` processes share the endpoints; one is killed.

    .venv/bin/python bench/workers.py            # 1,000 endpoints at 30 s, the default 15 s lease, 3 rounds
    .venv/bin/python bench/workers.py --quick    # 128 endpoints at 10 s, a 3 s lease, 1 round (about a minute)

Each round: three real workers (subprocesses) share the endpoints (TCP checks of loopback listeners in this
process); once the shares are balanced and one interval has passed, one worker gets SIGKILL. Measured:
the time from the kill to the moment *every* endpoint of the killed worker has been checked again (by the
others), and when the others claimed its buckets (detection). Then one worker is stopped with SIGTERM (it
frees its buckets on the way out) and the same is measured (hand-over). Between rounds a worker is added.

The target is the interval: fail-over within one interval (ratio fail-over / interval <= 1). Also counted
over the whole run: endpoints checked twice in one slot (two checks less than half an interval apart:
target 0). Needs PostgreSQL: --database-url, else CALCIFER_TEST_DATABASE_URL, else the local server;
a schema of its own is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit_json, machine_load, median, print_table, ratio, rounded  # noqa: E402

QUICK = {"endpoints": 128, "interval": 10, "lease": 3.0, "rounds": 1}
FULL = {"endpoints": 1000, "interval": 30, "lease": 15.0, "rounds": 3}


class Listeners:
    """A few loopback TCP listeners answering with a banner, on a loop in a thread."""

    def __init__(self, count: int) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.ports = [asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10) for _ in range(count)]

    async def _start(self) -> int:
        async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HELLO calcifer\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        return int(server.sockets[0].getsockname()[1])


def put_endpoints(ctx: Any, ports: list[int], count: int, interval: int) -> None:
    from calcifer.catalog.models import CatalogEndpoint, CatalogState

    now = dt.datetime.now(dt.UTC)
    with ctx.session_factory() as session:
        for i in range(count):
            slug = f"bench-{i:05d}"
            port = ports[i % len(ports)]
            spec = {"name": slug, "slug": slug, "type": "tcp", "target": "127.0.0.1", "port": port,
                    "interval": interval, "timeout": 5.0, "retries": 0, "options": {}, "enabled": True}
            session.add(CatalogEndpoint(slug=slug, name=slug, service=None, type="tcp", target="127.0.0.1", port=port,
                                        interval=interval, timeout=5.0, retries=0, enabled=True, options={}, spec=spec,
                                        file=f"catalog/endpoints/{slug}.yaml", line=1, nested=False,
                                        blob_id=uuid.uuid4().hex, commit_id=uuid.uuid4().hex, updated_at=now))
        session.flush()
        state = session.get(CatalogState, 1)
        if state is None:
            session.add(CatalogState(id=1, synced_commit=uuid.uuid4().hex, endpoints=count))
        else:
            state.synced_commit, state.endpoints = uuid.uuid4().hex, count
        session.commit()


class Bench:
    def __init__(self, ctx: Any, env: dict[str, str], interval: int, lease: float) -> None:
        self.ctx = ctx
        self.env = env
        self.interval = interval
        self.lease = lease
        self.workers: list[subprocess.Popen[bytes]] = []

    def start_worker(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "calcifer.cli", "worker"], env=self.env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.workers.append(process)
        return process

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def query(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self.ctx.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def shares(self) -> dict[int, int]:
        return {int(pid): int(n) for pid, n in self.query(
            "SELECT w.pid, count(b.bucket) FROM monitor_workers w LEFT JOIN monitor_buckets b ON b.worker_id = w.id "
            "AND b.expires_at > now() WHERE w.expires_at > now() GROUP BY w.pid")}

    def wait_balanced(self, timeout: float = 300.0) -> None:
        from calcifer.monitoring.leases import share_of

        pids = sorted(w.pid for w in self.alive())
        expected = sorted(share_of(i, len(pids)) for i in range(len(pids)))
        deadline = time.monotonic() + timeout
        while True:
            held = self.shares()
            if sorted(held) == pids and sorted(held.values()) == expected:
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"the shares did not balance: {held}")
            time.sleep(0.2)

    def endpoints_of(self, pid: int) -> list[int]:
        from calcifer.monitoring.leases import BUCKETS

        buckets = {row[0] for row in self.query("SELECT b.bucket FROM monitor_buckets b JOIN monitor_workers w "
                                                "ON b.worker_id = w.id WHERE w.pid = :pid", pid=pid)}
        return [row[0] for row in self.query("SELECT id FROM monitor_states") if row[0] % BUCKETS in buckets]

    def first_checks_after(self, endpoints: list[int], since: float, timeout: float) -> dict[int, float]:
        """endpoint → seconds from ``since`` to its first check after it (waits until all have one)."""
        deadline = time.monotonic() + timeout
        found: dict[int, float] = {}
        while True:
            rows = self.query("SELECT endpoint_id, min(checked_at_ms) FROM monitor_results WHERE checked_at_ms > :ms "
                              "AND endpoint_id = ANY(:ids) GROUP BY endpoint_id", ms=int(since * 1000), ids=endpoints)
            found = {eid: at / 1000 - since for eid, at in rows}
            if len(found) == len(endpoints) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def claimed_after(self, pid_buckets: set[int], since: float, timeout: float) -> float:
        """Seconds from ``since`` until none of ``pid_buckets`` is held by a dead or absent worker."""
        deadline = time.monotonic() + timeout
        live = {w.pid for w in self.alive()}
        while time.monotonic() < deadline:
            rows = self.query("SELECT b.bucket, w.pid FROM monitor_buckets b JOIN monitor_workers w "
                              "ON b.worker_id = w.id WHERE b.bucket = ANY(:b) AND b.expires_at > now()",
                              b=sorted(pid_buckets))
            if len(rows) == len(pid_buckets) and all(pid in live for _b, pid in rows):
                return time.time() - since
            time.sleep(0.1)
        return float("nan")

    def buckets_of(self, pid: int) -> set[int]:
        return {row[0] for row in self.query("SELECT b.bucket FROM monitor_buckets b JOIN monitor_workers w "
                                             "ON b.worker_id = w.id WHERE w.pid = :pid", pid=pid)}

    def stop_one(self, how: signal.Signals) -> dict[str, float]:
        victim = self.alive()[0]
        endpoints = self.endpoints_of(victim.pid)
        buckets = self.buckets_of(victim.pid)
        at = time.time()
        victim.send_signal(how)
        victim.wait(120)
        claimed = self.claimed_after(buckets, at, timeout=6 * self.interval)
        found = self.first_checks_after(endpoints, at, timeout=6 * self.interval)
        delays = sorted(found.values())
        missing = len(endpoints) - len(found)
        return {"endpoints": len(endpoints), "claimed_s": claimed,
                "all_checked_s": delays[-1] if delays else float("nan"), "median_s": median(delays),
                "missing": missing}

    def doubled(self) -> int:
        """Endpoints checked twice in one slot over the whole run (two checks under half an interval apart)."""
        rows = self.query("SELECT count(DISTINCT endpoint_id) FROM (SELECT endpoint_id, "
                          "checked_at_ms - lag(checked_at_ms) OVER (PARTITION BY endpoint_id "
                          "ORDER BY checked_at_ms) AS gap FROM monitor_results) g "
                          "WHERE gap < :half", half=int(self.interval * 500))
        return int(rows[0][0])

    def stop_all(self) -> None:
        for worker in self.alive():
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="128 endpoints at 10 s, a 3 s lease, one round")
    parser.add_argument("--database-url", default=os.environ.get("CALCIFER_TEST_DATABASE_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--endpoints", type=int)
    parser.add_argument("--interval", type=int)
    parser.add_argument("--lease", type=float)
    parser.add_argument("--rounds", type=int)
    args = parser.parse_args(argv)
    preset = dict(QUICK if args.quick else FULL)
    for key in preset:
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key)
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("workers share endpoints only on PostgreSQL: give --database-url postgresql+psycopg://...")

    from sqlalchemy import text

    from calcifer.config import Settings
    from calcifer.db import make_engine
    from calcifer.wiring import prepare

    interval, lease = int(preset["interval"]), float(preset["lease"])
    load_at_start = machine_load()
    schema = "bench_workers_" + uuid.uuid4().hex[:8]
    data_dir = Path(tempfile.mkdtemp(prefix="calcifer-bench-workers-"))
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=args.database_url,  # type: ignore[call-arg]
                        database_schema=schema, monitor_in_web=False)
    ctx = prepare(settings, reconcile=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALCIFER_")}
    env.update({"CALCIFER_DATA_DIR": str(data_dir), "CALCIFER_DATABASE_URL": args.database_url,
                "CALCIFER_DATABASE_SCHEMA": schema, "CALCIFER_MONITOR_WORKER_LEASE_SECONDS": str(lease),
                "CALCIFER_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT / "src")})
    bench = Bench(ctx, env, interval, lease)
    kills: list[dict[str, float]] = []
    handovers: list[dict[str, float]] = []
    mode = "quick" if args.quick else "full"
    print(f"workers ({mode}): {preset['endpoints']} endpoints at {interval} s, lease {lease:g} s "
          f"(renewed every {lease / 3:.2f} s), 3 workers, {preset['rounds']} round(s); load {load_at_start}",
          flush=True)
    try:
        put_endpoints(ctx, Listeners(8).ports, int(preset["endpoints"]), interval)
        for _ in range(3):
            bench.start_worker()
        for round_no in range(int(preset["rounds"])):
            bench.wait_balanced()
            time.sleep(interval)  # a full interval of steady checks before the kill (the thing measured)
            kills.append(bench.stop_one(signal.SIGKILL))
            bench.start_worker()
            bench.wait_balanced()
            time.sleep(interval)
            handovers.append(bench.stop_one(signal.SIGTERM))
            bench.start_worker()
            print(f"  round {round_no + 1}: SIGKILL -> all re-checked in {kills[-1]['all_checked_s']:.2f} s, "
                  f"SIGTERM -> {handovers[-1]['all_checked_s']:.2f} s", flush=True)
        bench.wait_balanced()
        doubled = bench.doubled()
    finally:
        bench.stop_all()
        ctx.engine.dispose()
        engine = make_engine(args.database_url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    def worst(runs: list[dict[str, float]], key: str) -> float:
        return max(run[key] for run in runs)

    kill_worst, handover_worst = worst(kills, "all_checked_s"), worst(handovers, "all_checked_s")
    rows = [
        ["SIGKILL: buckets claimed by the others", f"{worst(kills, 'claimed_s'):.2f}", f"{interval}",
         f"{ratio(worst(kills, 'claimed_s'), interval):.2f}", "-", "-"],
        ["SIGKILL: every endpoint checked again (fail-over)", f"{kill_worst:.2f}", f"{interval}",
         f"{ratio(kill_worst, interval):.2f}", "<= 1", "yes" if ratio(kill_worst, interval) <= 1 else "NO"],
        ["SIGKILL: median endpoint checked again", f"{median([k['median_s'] for k in kills]):.2f}", f"{interval}",
         f"{ratio(median([k['median_s'] for k in kills]), interval):.2f}", "-", "-"],
        ["SIGTERM: every endpoint checked again (hand-over)", f"{handover_worst:.2f}", f"{interval}",
         f"{ratio(handover_worst, interval):.2f}", "<= 1", "yes" if ratio(handover_worst, interval) <= 1 else "NO"],
    ]
    print()
    print_table(["figure (worst of the rounds)", "seconds", "interval s", "ratio", "target", "met"], rows)
    missing = sum(int(k["missing"]) for k in kills + handovers)
    print(f"\nendpoints of a stopped worker never checked again: {missing} (target 0); "
          f"endpoints checked twice in one slot over the run: {doubled} (target 0)")
    load_at_end = machine_load()
    print(f"load: start {load_at_start}, end {load_at_end}")
    emit_json({
        "bench": "workers", "mode": mode, "endpoints": preset["endpoints"], "interval_s": interval, "lease_s": lease,
        "workers": 3, "rounds": preset["rounds"],
        "failover_s": rounded(kill_worst), "failover_ratio": rounded(ratio(kill_worst, interval), 3),
        "failover_median_s": rounded(median([k["median_s"] for k in kills])),
        "claimed_s": rounded(worst(kills, "claimed_s")),
        "handover_s": rounded(handover_worst), "handover_ratio": rounded(ratio(handover_worst, interval), 3),
        "never_rechecked": missing, "double_checked_endpoints": doubled,
        "target": {"failover_ratio_max": 1.0, "handover_ratio_max": 1.0, "never_rechecked": 0,
                   "double_checked_endpoints": 0},
        "load_start": load_at_start, "load_end": load_at_end,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
