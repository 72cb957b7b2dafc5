"""Backups survive being killed midway, keep exactly N archives, and migrate archives of an older schema."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from calcifer.app import prepare
from calcifer.backup import archive, service, snapshot
from calcifer.backup.choices import RunStatus
from calcifer.db import current_revision, make_engine
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.context import AppContext
from tests.backup.helpers import ROOT, env_for, members_of, plain, write_tar
from tests.conftest import Cast, drop_schema, make_settings

PAUSING_BACKUP = """
import pathlib, sys, time
from calcifer.backup import service

def pause(stage, percent):
    if stage == "writing archive" and percent > 40:
        pathlib.Path(sys.argv[1]).write_text("paused")
        time.sleep(600)

service.PROGRESS_HOOKS.append(pause)
from calcifer.cli import app
app(["backup", "--to", sys.argv[2]])
"""


def test_a_backup_killed_midway_leaves_no_archive_and_the_next_one_succeeds(ctx: AppContext, cast: Cast,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    marker = tmp_path / "paused"
    process = subprocess.Popen([sys.executable, "-c", PAUSING_BACKUP, str(marker), str(folder)],
                               env=env_for(ctx.settings), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the backup never reached the archive stage"
            time.sleep(0.1)
        assert any(p.name.endswith(".partial") for p in folder.iterdir()), "it was writing the archive"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert service.list_backups(directory=folder) == []
    assert not [p for p in folder.iterdir() if p.name.startswith("calcifer-backup-")], "nothing looks like a backup"
    with ctx.session_factory() as session:
        assert service.current_run(session=session) is not None  # the killed run's row is still "running"

    result = service.backup(ctx=ctx, target_dir=folder)
    assert [f.name for f in service.list_backups(directory=folder)] == [result.path.name]
    assert not [p for p in folder.iterdir() if p.name.startswith(service.TEMP_PREFIX) and p.name != service.LOCK_NAME]
    archive.verify(result.path)
    with ctx.session_factory() as session:
        runs = service.recent_runs(session=session)
        assert [r.status for r in runs[:2]] == [RunStatus.SUCCEEDED.value, RunStatus.FAILED.value]
        assert "Interrupted" in runs[1].error
        assert service.current_run(session=session) is None and service.last_failure(session=session) is None


def test_retention_keeps_exactly_the_newest_n(ctx: AppContext, cast: Cast) -> None:
    from calcifer.auth import service as auth_service

    with ctx.session_factory() as session:
        admin = auth_service.get_user_by_username(session=session, username="alice")
        service.set_schedule(session=session, actor=admin, cron="30 2 * * *", keep=3)
        assert prefs.get(session=session, key=Pref.BACKUP_KEEP) == 3
    made = [service.backup(ctx=ctx).path.name for _ in range(5)]
    kept = [f.name for f in service.list_backups(directory=ctx.settings.resolved_backup_dir)]
    assert kept == list(reversed(made))[:3]


def test_retention_counts_only_complete_archives(tmp_path: Path) -> None:
    for day in range(1, 21):
        (tmp_path / f"calcifer-backup-202611{day:02d}T030000000Z.tar.gz").write_bytes(b"x")
    (tmp_path / ".calcifer-backup-20261121T030000000Z.tar.gz.partial").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("keep me")
    removed = service.apply_retention(directory=tmp_path, keep=14)
    assert len(removed) == 6
    names = sorted(f.name for f in service.list_backups(directory=tmp_path))
    assert len(names) == 14 and names[0] == "calcifer-backup-20261107T030000000Z.tar.gz"
    assert (tmp_path / "notes.txt").exists()


def test_an_archive_from_an_older_schema_is_migrated_on_restore(ctx: AppContext, cast: Cast, tmp_path: Path) -> None:
    good = service.backup(ctx=ctx, target_dir=tmp_path / "backups").path
    members = members_of(good)
    # A database at revision 0007 (before incidents and backups) with one user in it.
    old_db = tmp_path / "old.sqlite3"
    engine = make_engine(f"sqlite:///{old_db}")
    snapshot.upgrade_to(engine, "0007")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, display_name, email, password_hash, role, is_active, "
                             "created_at) VALUES ('olduser', '', '', '!x', 'admin', 1, '2025-01-01 00:00:00')"))
    engine.dispose()
    files = {"database/calcifer.sqlite3": old_db.read_bytes(), "repo.bundle": members["repo.bundle"],
             "settings.json": members["settings.json"], "secret_key": members["secret_key"]}
    import hashlib
    import json

    manifest = json.loads(members[archive.MANIFEST])
    manifest["schema_revision"] = "0007"
    manifest["engine"] = "sqlite"
    manifest["members"] = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(),
                            "secret": n == "secret_key"} for n, d in files.items()]
    old = write_tar(tmp_path / "old.tar.gz", [(plain(archive.MANIFEST), json.dumps(manifest).encode()),
                                              *[(plain(n), d) for n, d in files.items()]])
    restored = make_settings(tmp_path / "restored")
    try:
        result = service.restore(archive_path=old, settings=restored)
        assert result.schema_from == "0007" and result.schema_to == snapshot.head_revision()
        ctx_b = prepare(restored)
        try:
            assert current_revision(ctx_b.engine) == snapshot.head_revision()
            with ctx_b.engine.connect() as conn:
                assert conn.execute(sa.text("SELECT username FROM users")).scalars().all() == ["olduser"]
        finally:
            ctx_b.engine.dispose()
    finally:
        drop_schema(restored)


def test_a_backup_completes_while_checks_keep_writing_results(ctx: AppContext, tmp_path: Path) -> None:
    import threading

    from calcifer.monitoring.models import MonitorResult

    with ctx.engine.begin() as conn:
        conn.execute(sa.insert(MonitorResult), [{"endpoint_id": 1, "checked_at_ms": i, "status": 0,
                                                 "latency_ms": 1.0, "message": None, "in_maintenance": False}
                                                for i in range(20_000)])
    stop = threading.Event()
    written = []

    def writer() -> None:
        while not stop.is_set():
            with ctx.engine.begin() as conn:
                conn.execute(sa.insert(MonitorResult).values(endpoint_id=2, checked_at_ms=len(written), status=0,
                                                             in_maintenance=False))
            written.append(1)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = service.backup(ctx=ctx, target_dir=tmp_path / "backups")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert archive.verify(result.path).members
    assert written, "the writer ran during the backup"
