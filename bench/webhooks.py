"""Webhooks: what the outbox and the deliverer cost the requests that cause events, and how fast a
delivery reaches healthy receivers while one receiver is slow and one is down.

    .venv/bin/python bench/webhooks.py            # 10,000 events to 5 webhooks (several minutes)
    .venv/bin/python bench/webhooks.py --quick    # 1,000 events (under a minute or two)

The app runs as `calcifer serve` builds it (uvicorn, one worker, SQLite, its lifespan starting the
deliverer) in a child process; receivers run in another child process (aiohttp on 127.0.0.1): three
healthy ones, one that answers after 1 s ("slow"), and a URL where nothing listens ("down").

The request that causes each event is `PATCH /api/v1/work-items/{id}` (a new title: one
`work_item.updated` event in the outbox, written in the request's transaction), sent one at a time by
one client in this process.

    baseline  N requests with the 5 webhooks disabled (the deliverer runs, fans out to no webhook and
              claims nothing: as if none were configured)
    webhooks  N requests with the 5 webhooks enabled, subscribed to work_item.updated

The two phases alternate in blocks of 250 requests, so the load other jobs put on the machine moves
both alike; the slow and down webhooks' backlog waits while they are disabled.
Figures: request latency p50/p99 in both phases and their ratio (target <= 1.1: the outbox row and
the deliverer beside the requests make them at most 10 % slower); the delay from the event (its
`occurred_at`, stamped in the request) to its arrival at each healthy receiver, p50/p99 (target p99
< 2 s while the slow and the down receiver have deliveries pending); deliveries/s to the healthy
receivers (healthy arrivals over the time from the first webhooks block to the last healthy arrival,
baseline blocks included); and what the slow and
down webhooks' deliveries were doing at the end (from the database).
Bench scripts print figures; they are never part of the test suite. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit_json, machine_load, median, percentile, print_table, ratio, rounded

FULL = {"events": 10_000}
QUICK = {"events": 1_000}
TARGET_RATIO = 1.1
TARGET_DELAY_P99_S = 2.0
SLOW_S = 1.0
ITEMS = 4  # work items the PATCHes rotate over
BLOCK = 250  # events per block; the phases alternate block by block


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- child processes ---------------------------------------------------------------------------------------

def serve(data_dir: Path, port: int) -> None:
    """Child process: the app as `calcifer serve` builds it, on 127.0.0.1:port."""
    import uvicorn

    from calcifer.app import create_app, prepare
    from calcifer.config import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, monitor_in_web=False)  # type: ignore[call-arg]
    app = create_app(ctx=prepare(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def receive(port: int) -> None:
    """Child process: the receivers. /h/<n> answer at once, /slow after SLOW_S; each records the delay
    from the event's occurred_at to its arrival. GET /stats answers what was recorded."""
    from aiohttp import web

    delays: dict[str, list[float]] = {}

    async def hook(request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.json()
        if request.match_info.get("name") == "slow":
            await asyncio.sleep(SLOW_S)
        name = request.match_info["name"]
        occurred = dt.datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00")).timestamp()
        delays.setdefault(name, []).append(arrived - occurred)
        return web.Response(status=204)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({name: {"count": len(values), "delays": values, "last": time.time()}
                                  for name, values in delays.items()})

    app = web.Application()
    app.router.add_post("/{name}", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def start(args: list[str], health: str) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            httpx.get(health, timeout=2)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
    proc.kill()
    raise SystemExit(f"{args[0]} did not start: {err[-2000:]}")


# -- the run -------------------------------------------------------------------------------------------------

def prepare_instance(data_dir: Path) -> str:
    """An instance with an admin and a token; returns the token."""
    from calcifer.auth import service as auth_service
    from calcifer.auth.choices import Role
    from calcifer.auth.schemas import UserCreate
    from calcifer.config import Settings
    from calcifer.wiring import prepare

    settings = Settings(_env_file=None, data_dir=data_dir, monitor_in_web=False)  # type: ignore[call-arg]
    ctx = prepare(settings)
    with ctx.session_factory() as session:
        admin = auth_service.create_user(session=session, actor=None, data=UserCreate(
            username="bench-admin", password="bench password long enough", role=Role.ADMIN))
        _, token = auth_service.create_token(session=session, actor=admin, owner=admin, name="bench")
    ctx.engine.dispose()
    return token


def patch_round(client: Any, ids: list[int], count: int, label: str) -> tuple[list[float], float, float]:
    """``count`` PATCHes one after the other; returns their latencies (ms), start and end (wall clock)."""
    latencies = []
    started = time.time()
    for n in range(count):
        item = ids[n % len(ids)]
        t0 = time.perf_counter()
        response = client.patch(f"/api/v1/work-items/{item}", json={"title": f"{label} {n}"})
        latencies.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"PATCH answered {response.status_code}: {response.text[:300]}")
    return latencies, started, time.time()


def delivery_states(data_dir: Path) -> dict[str, dict[str, int]]:
    import sqlite3

    found: dict[str, dict[str, int]] = {}
    with sqlite3.connect(data_dir / "calcifer.db") as db:
        rows = db.execute("SELECT w.name, d.status, count(*) FROM webhook_deliveries d JOIN webhooks w "
                          "ON w.id = d.webhook_id GROUP BY w.name, d.status").fetchall()
    for name, status, count in rows:
        found.setdefault(name, {})[status] = count
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 events instead of 10,000")
    parser.add_argument("--events", type=int, help="events per phase (overrides the mode)")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--receive", metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return 0
    if args.receive:
        receive(int(args.receive))
        return 0

    import httpx

    mode = "quick" if args.quick else "full"
    events = args.events or (QUICK if args.quick else FULL)["events"]
    load_at_start = machine_load()
    print(f"webhooks bench ({mode}): {events} events a phase, 5 webhooks (3 healthy, 1 slow {SLOW_S:g} s, 1 down)")
    workdir = Path(tempfile.mkdtemp(prefix="calcifer-bench-webhooks-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data_dir = workdir / "data"
        token = prepare_instance(data_dir)
        receiver_port, app_port, down_port = free_port(), free_port(), free_port()
        hooks = f"http://127.0.0.1:{receiver_port}"
        procs.append(start(["--receive", str(receiver_port)], f"{hooks}/stats"))
        base = f"http://127.0.0.1:{app_port}"
        procs.append(start(["--serve", str(data_dir), str(app_port)], f"{base}/healthz"))
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            ids = []
            for n in range(ITEMS):
                made = client.post("/api/v1/work-items", json={"title": f"Bench item {n}", "category": "service",
                                                               "action": "change"})
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            patch_round(client, ids, min(200, events), "warm-up")
            targets = {"healthy-1": f"{hooks}/h1", "healthy-2": f"{hooks}/h2", "healthy-3": f"{hooks}/h3",
                       "slow": f"{hooks}/slow", "down": f"http://127.0.0.1:{down_port}/"}
            webhook_ids = []
            for name, url in targets.items():
                created = client.post("/api/v1/webhooks", json={"url": url, "events": ["work_item.updated"],
                                                                 "secret": "bench secret", "name": name,
                                                                 "enabled": False})
                assert created.status_code == 201, created.text
                webhook_ids.append(created.json()["id"])

            def switch(enabled: bool) -> None:
                # Each block's events are fanned out under the state they happened in: wait until the
                # deliverer took every outbox event before switching (reading the SQLite file beside it).
                import sqlite3

                with sqlite3.connect(data_dir / "calcifer.db", timeout=30) as db:
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline and db.execute(
                            "SELECT count(*) FROM domain_events WHERE NOT dispatched").fetchone()[0]:
                        time.sleep(0.05)
                for webhook_id in webhook_ids:
                    answer = client.patch(f"/api/v1/webhooks/{webhook_id}", json={"enabled": enabled})
                    assert answer.status_code == 200, answer.text

            # Blocks of BLOCK events alternate between the two phases (so a change in the machine's load
            # moves both alike); in a baseline block the five webhooks are disabled: no fan-out to them,
            # nothing claimed for them (their backlog waits), as if none were configured.
            print(f"  {events} events a phase in blocks of {BLOCK}, alternating ...", flush=True)
            baseline, loaded = [], []
            started = ended = 0.0
            for block in range(0, events, BLOCK):
                size = min(BLOCK, events - block)
                switch(False)
                baseline += patch_round(client, ids, size, "baseline")[0]
                switch(True)
                times, block_start, ended = patch_round(client, ids, size, "webhooks")
                loaded += times
                started = started or block_start
            deadline = time.monotonic() + 300
            stats: dict[str, Any] = {}
            while time.monotonic() < deadline:
                stats = httpx.get(f"{hooks}/stats", timeout=30).json()
                if all(stats.get(name, {}).get("count", 0) >= events for name in ("h1", "h2", "h3")):
                    break
                time.sleep(0.5)
            drained = time.time()
        procs[-1].terminate()
        procs[-1].wait(30)
        states = delivery_states(data_dir)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)

    healthy_delays = [d for name in ("h1", "h2", "h3") for d in stats.get(name, {}).get("delays", [])]
    healthy_count = len(healthy_delays)
    last_arrival = max((started + max(0.0, d) for d in healthy_delays), default=drained)
    rate = healthy_count / max(1e-9, min(drained, max(last_arrival, ended)) - started)
    b50, b99, l50, l99 = (median(baseline), percentile(baseline, 99), median(loaded), percentile(loaded, 99))
    r50, r99 = ratio(l50, b50), ratio(l99, b99)
    d50, d99 = median(healthy_delays), percentile(healthy_delays, 99)
    slow_got = stats.get("slow", {}).get("count", 0)
    rows = [
        ["request latency p50 (ms)", f"{l50:.2f}", f"{b50:.2f}", f"{r50:.2f}", f"<= {TARGET_RATIO}",
         r50 <= TARGET_RATIO],
        ["request latency p99 (ms)", f"{l99:.2f}", f"{b99:.2f}", f"{r99:.2f}", "", ""],
        ["healthy delay p50 (s)", f"{d50:.3f}", "", "", "", ""],
        ["healthy delay p99 (s)", f"{d99:.3f}", "", "", f"< {TARGET_DELAY_P99_S}", d99 < TARGET_DELAY_P99_S],
        ["healthy deliveries/s", f"{rate:.0f}", "", "", "", ""],
        ["healthy deliveries", f"{healthy_count}/{3 * events}", "", "", "", ""],
        ["slow receiver got", f"{slow_got}", "", "", "", ""],
    ]
    print()
    print_table(["figure", "with 5 webhooks", "no webhooks", "ratio", "target", "met"], rows)
    print()
    print("deliveries at the end, by webhook and status:", "; ".join(
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(s.items())) for name, s in sorted(states.items())))
    load_at_end = machine_load()
    print(f"machine: {load_at_start['cores']} cores; load average (1 min / 5 min) "
          f"{load_at_start['load_1m']} / {load_at_start['load_5m']} at the start, "
          f"{load_at_end['load_1m']} / {load_at_end['load_5m']} at the end")
    emit_json({
        "bench": "webhooks", "mode": mode, "events": events,
        "machine": {"at_start": load_at_start, "at_end": load_at_end},
        "request_ms": {"with_webhooks": {"p50": rounded(l50), "p99": rounded(l99)},
                       "no_webhooks": {"p50": rounded(b50), "p99": rounded(b99)},
                       "ratio_p50": rounded(r50), "ratio_p99": rounded(r99)},
        "healthy_delay_s": {"p50": rounded(d50, 3), "p99": rounded(d99, 3)},
        "healthy_deliveries": healthy_count, "healthy_deliveries_per_s": rounded(rate, 1),
        "slow_received": slow_got, "deliveries_by_webhook": states,
        "target": {"ratio_p50_max": TARGET_RATIO, "healthy_delay_p99_s_max": TARGET_DELAY_P99_S},
        "met": {"ratio": r50 <= TARGET_RATIO, "healthy_delay": d99 < TARGET_DELAY_P99_S},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
