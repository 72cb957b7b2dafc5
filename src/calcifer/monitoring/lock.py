"""Exactly one scheduler, however many processes run Calcifer.

- SQLite: an exclusive ``flock`` on ``<data dir>/scheduler.lock``. The kernel drops it when the process
  dies (even by SIGKILL), so a waiting process takes over at its next try.
- PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection kept open (autocommit, so no transaction
  stays open). The server drops it when that connection ends; the key is derived from the schema name,
  so separate installations (or test schemas) sharing a server do not exclude each other.

A process that does not get the lock tries again every few seconds (``wait_for``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text

from calcifer.config import Settings
from calcifer.monitoring.store import holder_name

log = logging.getLogger("calcifer.monitoring")

LOCK_FILE = "scheduler.lock"


class SchedulerLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if free; True when this process holds it (also when it held it already)."""

    def still_held(self) -> bool:
        """False when the lock was lost (e.g. the PostgreSQL connection broke): stop scheduling."""

    def release(self) -> None: ...


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, (holder_name() + "\n").encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def advisory_key(schema: str | None) -> int:
    """A signed 64-bit key, stable per installation (schema)."""
    digest = hashlib.blake2b(f"calcifer-scheduler:{schema or ''}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLock:
    def __init__(self, engine: Engine, key: int) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return self.still_held()
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.execute(text("SELECT 1"))
            return True
        except Exception:
            log.warning("the scheduler lock's database connection broke; the lock is lost")
            self._drop()
            return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
            with contextlib.suppress(Exception):
                conn.close()

    def release(self) -> None:
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._conn = None
        with contextlib.suppress(Exception):
            conn.close()


def make_lock(*, settings: Settings, engine: Engine) -> SchedulerLock:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, advisory_key(settings.database_schema))
    return FileLock(settings.resolved_data_dir / LOCK_FILE)


def wait_for(lock: SchedulerLock, *, stop: Callable[[], bool], poll_seconds: float = 2.0) -> bool:
    """Block until the lock is taken (True) or ``stop()`` says give up (False)."""
    while not stop():
        try:
            if lock.try_acquire():
                return True
        except Exception:
            log.exception("taking the scheduler lock failed; trying again")
        deadline = time.monotonic() + poll_seconds
        while time.monotonic() < deadline and not stop():
            time.sleep(min(0.1, poll_seconds))
    return False
