"""Notifications for each person: one merge that notifies 1,000 watchers, and what it costs the request.

    .venv/bin/python bench/notifications.py            # 9 rounds
    .venv/bin/python bench/notifications.py --quick    # 3 rounds (a minute or two)

The app runs as `calcifer serve` builds it (uvicorn, one worker, SQLite, its lifespan starting the inbox
consumer) in a child process; a local SMTP server (aiosmtpd on 127.0.0.1) runs in another child and
appends one line to a file per mail handed to it. 1,000 users with e-mail addresses watch one work item.

After one unmeasured warm-up merge, each round merges two ready work items, one after the other (which goes
first alternates by round), through `POST /api/v1/work-items/{id}/merge`:
    baseline  a work item nobody watches (its creator only, who has no e-mail address)
    watched   a work item 1,000 users watch
Figures: each merge request's latency and their ratio (target <= 1.1: the request writes one outbox row
either way; the fan-out happens after it is answered, in the inbox's background service), and for the
watched merge the time from its answer until all 1,000 in-app notifications exist and until all 1,000
mails were handed to the SMTP server (target < 10 s). Bench scripts print figures; the last line is JSON.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emit_json, machine_load, median, print_table, ratio, rounded

WATCHERS = 1_000
TARGET_RATIO = 1.1
TARGET_FANOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(data_dir: Path, port: int) -> None:
    """Child process: the app as `calcifer serve` builds it, on 127.0.0.1:port."""
    import uvicorn

    from calcifer.app import create_app, prepare
    from calcifer.config import Settings

    settings = Settings(_env_file=None, data_dir=data_dir, monitor_in_web=False)  # type: ignore[call-arg]
    app = create_app(ctx=prepare(settings))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def smtp(port: int, log_path: Path) -> None:
    """Child process: an SMTP server that appends one line per mail it is handed."""
    from aiosmtpd.controller import Controller

    log = log_path.open("a", buffering=1)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            log.write(f"{envelope.rcpt_tos[0]}\n")
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


def start(args: list[str], ready: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            return proc
        time.sleep(0.1)
    err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else ""
    proc.kill()
    raise SystemExit(f"{args[0]} did not start: {err[-2000:]}")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def prepare_instance(data_dir: Path, smtp_port: int) -> str:
    """An admin with a token, WATCHERS users with e-mail addresses, the SMTP settings; returns the token."""
    from sqlalchemy import insert

    from calcifer.auth import service as auth_service
    from calcifer.auth.choices import Role
    from calcifer.auth.models import User
    from calcifer.auth.schemas import UserCreate
    from calcifer.config import Settings
    from calcifer.inbox import service as inbox
    from calcifer.inbox.schemas import SmtpUpdate
    from calcifer.wiring import prepare

    settings = Settings(_env_file=None, data_dir=data_dir, monitor_in_web=False)  # type: ignore[call-arg]
    ctx = prepare(settings)
    with ctx.session_factory() as session:
        admin = auth_service.create_user(session=session, actor=None, data=UserCreate(
            username="bench-admin", password="bench password long enough", role=Role.ADMIN))
        _, token = auth_service.create_token(session=session, actor=admin, owner=admin, name="bench")
        # One hash for all: hashing 1,000 passwords would only time argon2.
        session.execute(insert(User), [{"username": f"watcher{n:04d}", "email": f"watcher{n:04d}@example.org",
                                        "password_hash": admin.password_hash, "role": Role.VIEWER.value,
                                        "is_active": True, "display_name": ""} for n in range(WATCHERS)])
        session.commit()
        inbox.set_smtp(session=session, actor=admin, secret_key=ctx.secret_key, data=SmtpUpdate(
            host="127.0.0.1", port=smtp_port, sender="calcifer@example.org", base_url="http://calcifer.test",
            digest_minutes=0))  # every round's merge mails at once (with a window, later rounds wait as digests)
    ctx.engine.dispose()
    return token


def watch_all(data_dir: Path, item_id: int) -> None:
    from calcifer.config import Settings
    from calcifer.db import make_engine, make_session_factory
    from calcifer.discussion import service as discussion
    from calcifer.discussion.choices import TargetKind, WatchReason
    from calcifer.wiring import wire

    wire()
    settings = Settings(_env_file=None, data_dir=data_dir, monitor_in_web=False)  # type: ignore[call-arg]
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        ids = [row[0] for row in session.execute(
            __import__("sqlalchemy").text("SELECT id FROM users WHERE username LIKE 'watcher%'"))]
        discussion.auto_watch(session=session, kind=TargetKind.WORK_ITEM, key=str(item_id), user_ids=ids,
                              reason=WatchReason.MANUAL)
        session.commit()
    engine.dispose()


def ready_item(client: Any, title: str) -> int:
    made = client.post("/api/v1/work-items", json={"title": title, "category": "service", "action": "new"})
    made.raise_for_status()
    item = made.json()
    path = f"catalog/bench-{item['id']}.txt"
    client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": "x\n"}).raise_for_status()
    client.post(f"/api/v1/work-items/{item['id']}/commits", json={
        "message": "bench", "changelog": {"type": "Added", "text": title}}).raise_for_status()
    for index in range(len(item["checklist"])):
        client.put(f"/api/v1/work-items/{item['id']}/checklist/{index}", json={"done": True}).raise_for_status()
    client.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "bench"}).raise_for_status()
    return int(item["id"])


def merged_notifications(data_dir: Path, item_id: int) -> int:
    with sqlite3.connect(data_dir / "calcifer.db") as db:
        return int(db.execute("SELECT count(*) FROM inbox_notifications WHERE kind = 'merged' AND url = ?",
                              (f"/work/{item_id}",)).fetchone()[0])


def mails(log_path: Path) -> int:
    try:
        return log_path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def settle(data_dir: Path, log_path: Path, timeout: float = 60.0) -> None:
    """Wait until the inbox has nothing pending (no unread outbox events for it, no mail pending)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(data_dir / "calcifer.db") as db:
            last = db.execute("SELECT COALESCE(MAX(id), 0) FROM domain_events").fetchone()[0]
            cursor = db.execute("SELECT last_id FROM domain_event_cursors WHERE name = 'inbox'").fetchone()
            pending = db.execute("SELECT count(*) FROM inbox_notifications WHERE mail_state IN "
                                 "('pending', 'claimed')").fetchone()[0]
        if cursor and cursor[0] >= last and not pending:
            return
        time.sleep(0.05)


def timed_merge(client: Any, data_dir: Path, log_path: Path, item_id: int) -> float:
    """The latency (ms) of merging a work item nobody watches, once the inbox is idle."""
    settle(data_dir, log_path)
    t0 = time.perf_counter()
    client.post(f"/api/v1/work-items/{item_id}/merge").raise_for_status()
    return (time.perf_counter() - t0) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--smtp", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return 0
    if args.smtp:
        smtp(int(args.smtp[0]), Path(args.smtp[1]))
        return 0

    import httpx

    rounds = 3 if args.quick else 9
    load_at_start = machine_load()
    print(f"notifications bench ({'quick' if args.quick else 'full'}): {WATCHERS} watchers, {rounds} round(s); "
          f"load {load_at_start}")
    workdir = Path(tempfile.mkdtemp(prefix="calcifer-bench-notifications-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data_dir = workdir / "data"
        log_path = workdir / "mails.log"
        smtp_port, app_port = free_port(), free_port()
        token = prepare_instance(data_dir, smtp_port)
        procs.append(start(["--smtp", str(smtp_port), str(log_path)], lambda: listening(smtp_port)))
        procs.append(start(["--serve", str(data_dir), str(app_port)], lambda: listening(app_port)))
        base = f"http://127.0.0.1:{app_port}"
        baseline_ms: list[float] = []
        watched_ms: list[float] = []
        in_app_s: list[float] = []
        mail_s: list[float] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            client.post(f"/api/v1/work-items/{ready_item(client, 'Warm-up')}/merge").raise_for_status()
            for n in range(rounds):
                plain = ready_item(client, f"Bench plain {n}")
                watched = ready_item(client, f"Bench watched {n}")
                watch_all(data_dir, watched)
                if n % 2 == 0:
                    baseline_ms.append(timed_merge(client, data_dir, log_path, plain))
                settle(data_dir, log_path)
                mails_before = mails(log_path)
                t0 = time.perf_counter()
                client.post(f"/api/v1/work-items/{watched}/merge").raise_for_status()
                answered = time.perf_counter()
                watched_ms.append((answered - t0) * 1000)
                deadline = answered + 120
                got_in_app = got_mail = None
                while time.perf_counter() < deadline and (got_in_app is None or got_mail is None):
                    if got_in_app is None and merged_notifications(data_dir, watched) >= WATCHERS:
                        got_in_app = time.perf_counter() - answered
                    if got_mail is None and mails(log_path) - mails_before >= WATCHERS:
                        got_mail = time.perf_counter() - answered
                    time.sleep(0.02)
                in_app_s.append(got_in_app if got_in_app is not None else float("inf"))
                mail_s.append(got_mail if got_mail is not None else float("inf"))
                if n % 2 == 1:
                    baseline_ms.append(timed_merge(client, data_dir, log_path, plain))
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    load_at_end = machine_load()
    merge_ratio = ratio(median(watched_ms), median(baseline_ms))
    print_table(["figure", "value", "target"], [
        ("merge latency, nobody watching (ms, median)", rounded(median(baseline_ms), 1), ""),
        ("merge latency, 1,000 watching (ms, median)", rounded(median(watched_ms), 1), ""),
        ("ratio watched / baseline", rounded(merge_ratio), f"<= {TARGET_RATIO}"),
        ("answer -> 1,000 in-app notifications (s, worst)", rounded(max(in_app_s)), f"< {TARGET_FANOUT_S:g}"),
        ("answer -> 1,000 mails at the SMTP server (s, worst)", rounded(max(mail_s)), f"< {TARGET_FANOUT_S:g}"),
    ])
    print(f"load at start {load_at_start}, at end {load_at_end}")
    emit_json({"bench": "notifications", "mode": "quick" if args.quick else "full", "watchers": WATCHERS,
               "baseline_ms": [rounded(v, 1) for v in baseline_ms], "watched_ms": [rounded(v, 1) for v in watched_ms],
               "ratio": rounded(merge_ratio), "target_ratio": TARGET_RATIO,
               "in_app_s": [rounded(v) for v in in_app_s], "mail_s": [rounded(v) for v in mail_s],
               "target_fanout_s": TARGET_FANOUT_S, "load_start": load_at_start, "load_end": load_at_end})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
