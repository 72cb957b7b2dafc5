"""Exactly one scheduler among several processes (flock on SQLite, an advisory lock on PostgreSQL): the
others wait, and one takes over when the holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from calcifer.config import Settings
from calcifer.monitoring.lock import make_lock, wait_for
from calcifer.web.context import AppContext
from tests.monitoring.scheduler_helpers import wait_until

CHILD = """
import os, time
from calcifer.config import Settings
from calcifer.db import make_engine
from calcifer.monitoring.lock import make_lock
settings = Settings(_env_file=None)
lock = make_lock(settings=settings, engine=make_engine(settings.resolved_database_url,
                                                       schema=settings.database_schema))
while not lock.try_acquire():
    time.sleep(0.1)
print("HELD", os.getpid(), flush=True)
while lock.still_held():
    time.sleep(0.2)
print("LOST", os.getpid(), flush=True)
"""


def child_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALCIFER_")}
    env["CALCIFER_DATA_DIR"] = str(settings.resolved_data_dir)
    if settings.database_url:
        env["CALCIFER_DATABASE_URL"] = settings.database_url
    if settings.database_schema:
        env["CALCIFER_DATABASE_SCHEMA"] = settings.database_schema
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return env


class Child:
    def __init__(self, settings: Settings) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", CHILD], env=child_env(settings),
                                        stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    @property
    def holds(self) -> bool:
        return any(line.startswith("HELD") for line in self.lines)


def test_exactly_one_process_holds_the_lock_and_another_takes_over_when_it_dies(ctx: AppContext) -> None:
    children = [Child(ctx.settings) for _ in range(3)]
    try:
        first = wait_until(lambda: [c for c in children if c.holds], timeout=60, what="a holder")
        time.sleep(1.5)  # give the others every chance to (wrongly) take it too
        assert [c for c in children if c.holds] == first and len(first) == 1
        first[0].process.send_signal(signal.SIGKILL)
        first[0].process.wait(10)
        others = [c for c in children if c is not first[0]]
        second = wait_until(lambda: [c for c in others if c.holds], timeout=60, what="a new holder")
        time.sleep(1.5)
        assert [c for c in others if c.holds] == second and len(second) == 1
    finally:
        for child in children:
            if child.process.poll() is None:
                child.process.kill()
            child.process.wait(10)


def test_a_second_lock_in_the_same_process_waits_until_the_first_is_released(ctx: AppContext) -> None:
    first = make_lock(settings=ctx.settings, engine=ctx.engine)
    second = make_lock(settings=ctx.settings, engine=ctx.engine)
    try:
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire()
        assert not wait_for(second, stop=lambda: True)
        first.release()
        assert wait_for(second, stop=lambda: False, poll_seconds=0.1)
        assert second.still_held() and not first.try_acquire()
    finally:
        first.release()
        second.release()
