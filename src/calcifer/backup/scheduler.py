"""Scheduled backups: a background service of the web app (``calcifer.background``).

It wakes every few seconds, and when the cron slot after the last one it saw has come (schedule and
retention are preferences admins change on the Settings page), it writes a backup. With several web
workers each runs this loop: the folder lock lets one write at a time, and a scheduled run already
recorded for the same slot makes the others skip it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from sqlalchemy import select

from calcifer.backup import service
from calcifer.backup.choices import Trigger
from calcifer.backup.models import BackupRun
from calcifer.errors import Conflict, DomainError
from calcifer.instance import AppContext

log = logging.getLogger("calcifer.backup")

POLL_SECONDS = 20.0


def due_slot(*, cron: str, last_seen: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The latest cron slot in (last_seen, now], or None when none fell in it (or the cron is invalid)."""
    slot = service.next_run(cron, last_seen)
    if slot is None or slot > now:
        return None
    while True:
        following = service.next_run(cron, slot)
        if following is None or following > now:
            return slot
        slot = following


def run_due(ctx: AppContext, *, last_seen: dt.datetime, now: dt.datetime) -> bool:
    """Write a backup when a slot fell in (last_seen, now] and no scheduled run covers it yet."""
    with ctx.session_factory() as session:
        cron = service.schedule(session=session)
        slot = due_slot(cron=cron, last_seen=last_seen, now=now)
        if slot is None:
            return False
        taken = session.scalar(select(BackupRun.id).where(BackupRun.trigger == Trigger.SCHEDULED.value,
                                                          BackupRun.started_at >= slot).limit(1))
    if taken is not None:
        return False
    try:
        service.backup(ctx=ctx, trigger=Trigger.SCHEDULED)
    except Conflict:
        log.info("scheduled backup skipped: another backup is running")
        return False
    except DomainError as exc:  # e.g. an upload to a target failed: recorded on the run, shown on the page
        log.error("scheduled backup failed: %s", exc.message)
    except Exception:  # noqa: BLE001 - recorded on the run; the page shows it loudly
        log.exception("scheduled backup failed")
    return True


def start(ctx: AppContext) -> Callable[[], None]:
    stopping = threading.Event()

    def loop() -> None:
        last_seen = dt.datetime.now(dt.UTC)
        while not stopping.wait(POLL_SECONDS):
            now = dt.datetime.now(dt.UTC)
            try:
                run_due(ctx, last_seen=last_seen, now=now)
            except Exception:  # noqa: BLE001 - keep the loop alive
                log.exception("backup scheduler step failed")
            last_seen = now

    thread = threading.Thread(target=loop, name="calcifer-backups", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=10)

    return stop
