"""Uptime Kuma 2.x: its data directory's SQLite kuma.db → endpoints, services (groups), endpoint tags,
maintenance windows and disabled channels, with a summary listing each thing once.

The kuma.db is built the way Kuma builds a new SQLite data directory (server/database.js): its template
db/kuma.db, then db/old_migrations/patch1..10.sql (``patchSqlite``, database_version 0 → 10), then the
files of ``Database.patchList`` in its order (``patchSqlite2``), then the knex migrations; of those only
the one adding a column the importer reads (json_path_operator) is translated. All vendored in
samples/kuma2 (see its README). Rows are inserted with Kuma's own column names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from calcifer.auth import service as auth_service
from calcifer.backup import kuma
from calcifer.errors import Invalid
from calcifer.monitoring import maintenance
from calcifer.web.context import AppContext
from calcifer.work import service as work_service
from tests.backup.helpers import ROOT, SAMPLES, env_for
from tests.conftest import Cast
from tests.work.helpers import finish_documentation, git

KUMA2 = SAMPLES / "kuma2"

MONITORS = [
    # id, name, type, parent, extra columns
    (1, "Media Stack", "group", None, {}),
    (2, "Jellyfin web", "http", 1, {"url": "https://jellyfin.lan/health", "interval": 60, "timeout": 48,
                                    "maxretries": 2, "retry_interval": 60,
                                    "accepted_statuscodes_json": '["200-299","301"]'}),
    (3, "Nextcloud login", "keyword", 1, {"url": "https://cloud.lan/login", "keyword": "Nextcloud",
                                          "invert_keyword": 0, "timeout": 24, "interval": 30}),
    (4, "Postgres", "port", None, {"hostname": "db.lan", "port": 5432, "timeout": 16}),
    (5, "Core switch", "ping", None, {"hostname": "10.0.0.2", "interval": 30, "active": 0}),
    (6, "Internal DNS", "dns", None, {"hostname": "grafana.lan", "dns_resolve_type": "AAAA",
                                      "dns_resolve_server": "10.0.0.53", "port": 5353, "timeout": 10}),
    (7, "Nightly backup", "push", None, {"push_token": "Ab12Cd34Ef56Gh78", "interval": 86400}),
    (8, "Jellyfin container", "docker", 1, {"docker_container": "jellyfin", "timeout": 10}),
    (9, "Downloads", "group", 1, {}),
    (10, "Sonarr", "http", 9, {"url": "http://sonarr.lan:8989/ping", "method": "GET", "timeout": 10,
                               "json_path_operator": "=="}),
]
TAGS = [(1, "production", "#059669"), (2, "Team Ops", "#2563EB"), (3, "unused", "#DC2626")]
MONITOR_TAGS = [(2, 1, ""), (2, 2, "media"), (4, 1, ""), (1, 2, "media")]
NOTIFICATIONS = [
    (1, "Ops Discord", {"type": "discord", "name": "Ops Discord",
                        "discordWebhookUrl": "https://discord.com/api/webhooks/123456/AbCdEf-token"}),
    (2, "Mail", {"type": "smtp", "name": "Mail", "smtpHost": "mail.lan"}),
]
MONITOR_NOTIFICATIONS = [(2, 1), (4, 1), (10, 1)]
MAINTENANCE = [
    # id, title, strategy, columns, monitor ids
    (1, "Nightly DB backup", "recurring-weekday",
     {"start_time": "02:00", "end_time": "03:00", "weekdays": "[0,6]", "cron": "0 2 * * 0,6", "duration": 3600,
      "timezone": "UTC"}, [4]),
    (2, "Media upgrade", "single",
     {"start_date": "2099-05-01 22:00:00", "end_date": "2099-05-02 01:00:00", "timezone": "Europe/Berlin"}, [1]),
    (3, "Hand switch", "manual", {"timezone": "SAME_AS_SERVER"}, [6]),
    (4, "Every third day", "recurring-interval",
     {"start_time": "04:00", "end_time": "05:00", "interval_day": 3, "cron": "0 4 * * *", "duration": 3600,
      "timezone": "UTC"}, [6]),
    (5, "Only the container", "cron", {"cron": "30 1 * * *", "duration": 1800, "timezone": "UTC"}, [8]),
]


def build_kuma_db(path: Path) -> Path:
    """A new Kuma 2.x SQLite database, as ``Database.connect`` + ``Database.patch`` make it."""
    shutil.copyfile(KUMA2 / "kuma.db", path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for number in range(1, 11):
            conn.executescript((KUMA2 / "old_migrations" / f"patch{number}.sql").read_text())
        for name in (KUMA2 / "patch-list.txt").read_text().split():
            conn.executescript((KUMA2 / "old_migrations" / name).read_text())
        for sql in sorted((KUMA2 / "knex_migrations").glob("*.sql")):
            conn.executescript(sql.read_text())
        conn.execute("INSERT INTO user (id, username, password, active) VALUES (1, 'admin', 'x', 1)")
        for monitor_id, name, kind, parent, extra in MONITORS:
            columns = {"id": monitor_id, "name": name, "type": kind, "parent": parent, "user_id": 1, **extra}
            conn.execute(f"INSERT INTO monitor ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         list(columns.values()))
        conn.executemany("INSERT INTO tag (id, name, color) VALUES (?, ?, ?)", TAGS)
        conn.executemany("INSERT INTO monitor_tag (monitor_id, tag_id, value) VALUES (?, ?, ?)", MONITOR_TAGS)
        conn.executemany("INSERT INTO notification (id, name, active, user_id, is_default, config) "
                         "VALUES (?, ?, 1, 1, 0, ?)",
                         [(i, name, json.dumps(config)) for i, name, config in NOTIFICATIONS])
        conn.executemany("INSERT INTO monitor_notification (monitor_id, notification_id) VALUES (?, ?)",
                         MONITOR_NOTIFICATIONS)
        for window_id, title, strategy, columns, monitors in MAINTENANCE:
            row = {"id": window_id, "title": title, "description": "", "user_id": 1, "active": 1,
                   "strategy": strategy, **columns}
            conn.execute(f"INSERT INTO maintenance ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         list(row.values()))
            conn.executemany("INSERT INTO monitor_maintenance (monitor_id, maintenance_id) VALUES (?, ?)",
                             [(m, window_id) for m in monitors])
    finally:
        conn.close()
    return path


@pytest.fixture
def kuma_dir(tmp_path: Path) -> Path:
    data = tmp_path / "kuma-data"
    data.mkdir()
    build_kuma_db(data / "kuma.db")
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_import(ctx: AppContext, source: Path) -> kuma.KumaReport:
    with ctx.session_factory() as session:
        actor = auth_service.get_user_by_username(session=session, username="eddie")
        return kuma.import_kuma(session=session, actor=actor, data=kuma.read_source(source),
                                categories=ctx.settings.work_categories,
                                workspace=work_service.Workspace(repo_path=ctx.repo_path,
                                                                 worktrees_dir=ctx.settings.worktrees_dir))


def merge(cast: Cast, item_id: int) -> None:
    item = cast.editor.get(f"/api/v1/work-items/{item_id}").json()
    finish_documentation(cast.editor, item)
    response = cast.editor.post(f"/api/v1/work-items/{item_id}/merge")
    assert response.status_code == 200, response.text


def on_branch(ctx: AppContext, branch: str, path: str) -> dict[str, Any]:
    return dict(yaml.safe_load(git(ctx.repo_path, "show", f"{branch}:{path}")))


def each_once(report: kuma.KumaReport) -> None:
    """Every monitor, tag, maintenance window and notification of the fixture ends in exactly one list."""
    monitors = ([e.kuma_id for e in [*report.endpoints, *report.unchanged]] + [s.kuma_id for s in report.skipped]
                + [g.kuma_id for g in report.groups])
    assert sorted(monitors) == [m[0] for m in MONITORS]
    assert sorted([t.name for t in report.tags] + [s.name for s in report.tags_skipped]) == sorted(
        t[1] for t in TAGS)
    assert sorted([w.kuma_id for w in report.maintenance] + [s.kuma_id for s in report.maintenance_skipped]) == [
        m[0] for m in MAINTENANCE]
    channels = report.channels_created + report.channels_existing + [s.name for s in report.channels_skipped]
    assert sorted(channels) == sorted(n[1] for n in NOTIFICATIONS)


def test_a_kuma2_data_directory_imports_end_to_end_and_again_changes_nothing(
        ctx: AppContext, cast: Cast, kuma_dir: Path) -> None:
    db = kuma_dir / "kuma.db"
    before = digest(db)
    first = run_import(ctx, kuma_dir)
    each_once(first)
    assert first.kuma_version.startswith("2.x (kuma.db")
    assert [e.slug for e in first.endpoints] == ["jellyfin-web", "nextcloud-login", "postgres", "core-switch",
                                                 "internal-dns", "nightly-backup", "sonarr"]
    assert [(s.name, s.kind) for s in first.skipped] == [("Jellyfin container", "docker")]
    # groups → services, written on the same work item; their children name them
    assert [(g.name, g.slug, g.existing) for g in first.groups] == [("Media Stack", "media-stack", False),
                                                                   ("Downloads", "downloads", False)]
    service = on_branch(ctx, first.branch, "catalog/services/media-stack.yaml")
    assert service["kind"] == "other" and service["name"] == "Media Stack" and service["tags"] == ["Team-Ops:media"]
    jellyfin = on_branch(ctx, first.branch, "catalog/endpoints/jellyfin-web.yaml")
    assert jellyfin == {"name": "Jellyfin web", "slug": "jellyfin-web", "service": "media-stack", "type": "http",
                        "target": "https://jellyfin.lan/health", "timeout": 48, "retries": 2,
                        "options": {"accepted_status": ["200-299", 301]},
                        "tags": ["production", "Team-Ops:media"], "kuma": {"monitor": 2}}
    assert on_branch(ctx, first.branch, "catalog/endpoints/sonarr.yaml")["service"] == "downloads"  # nested group
    assert on_branch(ctx, first.branch, "catalog/endpoints/nextcloud-login.yaml")["options"] == {
        "keyword": "Nextcloud"}
    assert on_branch(ctx, first.branch, "catalog/endpoints/core-switch.yaml")["enabled"] is False
    assert on_branch(ctx, first.branch, "catalog/endpoints/internal-dns.yaml")["options"] == {
        "record_type": "AAAA", "resolver": "10.0.0.53:5353"}
    assert "service" not in on_branch(ctx, first.branch, "catalog/endpoints/postgres.yaml")
    # tags
    assert {t.name: (t.tags, t.endpoints) for t in first.tags} == {
        "production": (["production"], ["jellyfin-web", "postgres"]),
        "Team Ops": (["Team-Ops:media"], ["media-stack", "jellyfin-web"])}
    assert [(s.name, s.reason) for s in first.tags_skipped] == [("unused", "on no monitor")]
    # notifications: the discord one created disabled, smtp has no mapping
    assert first.channels_created == ["Ops Discord"]
    assert [(s.name, s.kind) for s in first.channels_skipped] == [("Mail", "smtp")]
    # maintenance: what Calcifer cannot express is listed with the reason; the rest waits for the merge
    skipped = {s.name: s.reason for s in first.maintenance_skipped}
    assert "manual strategy" in skipped["Hand switch"]
    assert "every 3 days has no cron equivalent" in skipped["Every third day"]
    assert "none of its monitors" in skipped["Only the container"]  # only the docker monitor
    assert "after the merge" in skipped["Nightly DB backup (Uptime Kuma)"]
    assert "after the merge" in skipped["Media upgrade (Uptime Kuma)"]
    item = cast.editor.get(f"/api/v1/work-items/{first.work_item_id}").json()
    assert "Media Stack → media-stack (new service)" in item["description"]
    assert "unused: not imported, on no monitor" in item["description"]
    assert "Hand switch (manual): not imported, manual strategy" in item["description"]
    json.dumps(first.as_dict())

    merge(cast, first.work_item_id or 0)
    page = cast.editor.get("/monitoring/endpoints/jellyfin-web")
    assert page.status_code == 200 and "Team-Ops:media" in page.text  # tags shown with the endpoint's fields

    second = run_import(ctx, kuma_dir / "kuma.db")  # the file itself works as well as its folder
    each_once(second)
    assert second.work_item_id is None and second.endpoints == []
    assert [g.existing for g in second.groups] == [True, True]
    assert sorted(second.maintenance_created) == ["Media upgrade (Uptime Kuma)", "Nightly DB backup (Uptime Kuma)"]
    with ctx.session_factory() as session:
        windows = {w.title: w for w in maintenance.list_windows(session=session)}
        nightly = windows["Nightly DB backup (Uptime Kuma)"]
        assert (nightly.kind, nightly.cron, nightly.duration_minutes, nightly.endpoints) == (
            "recurring", "0 2 * * 0,6", 60, ["postgres"])
        upgrade = windows["Media upgrade (Uptime Kuma)"]
        assert upgrade.kind == "one_off" and upgrade.services == ["media-stack"]
        assert upgrade.starts_at.replace(tzinfo=dt.UTC) == dt.datetime(2099, 5, 1, 20, 0, tzinfo=dt.UTC)  # CEST

    third = run_import(ctx, kuma_dir)
    each_once(third)
    assert third.work_item_id is None and third.endpoints == [] and third.maintenance_created == []
    assert sorted(third.maintenance_existing) == sorted(second.maintenance_created)
    assert third.channels_existing == ["Ops Discord"]
    assert digest(db) == before  # never written to


def test_a_locked_or_wal_database_is_still_read_and_never_changed(kuma_dir: Path) -> None:
    db = kuma_dir / "kuma.db"
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("PRAGMA locking_mode = EXCLUSIVE")
        writer.execute("BEGIN EXCLUSIVE")  # Kuma in the middle of writing: readers get "database is locked"
        writer.execute("UPDATE monitor SET name = 'Renamed' WHERE id = 2")
        data = kuma.read_source(kuma_dir)  # read from a copy of the committed file
        assert [m["name"] for m in data["monitorList"]][:3] == ["Media Stack", "Jellyfin web", "Nextcloud login"]
        writer.execute("COMMIT")
    finally:
        writer.close()
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("UPDATE monitor SET name = 'In the WAL' WHERE id = 3")
        writer.execute("BEGIN IMMEDIATE")  # a writer busy right now
        writer.execute("UPDATE monitor SET name = 'Uncommitted' WHERE id = 4")
        before = digest(db)
        data = kuma.read_source(db)
        names = [m["name"] for m in data["monitorList"]]
        assert names[1:4] == ["Renamed", "In the WAL", "Postgres"]  # committed, even if only in the WAL
        assert digest(db) == before
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_an_sqlite_file_that_is_not_kuma_or_a_corrupt_one_is_refused_in_one_sentence(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(Invalid, match="not Uptime Kuma's"):
        kuma.read_source(other)
    corrupt = tmp_path / "kuma.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x10\x00\x01\x01" + b"\xff" * 4000)
    with pytest.raises(Invalid, match="kuma.db"):
        kuma.read_source(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Invalid, match="has no kuma.db"):
        kuma.read_source(empty)


def test_kuma_strategies_map_to_calcifer_windows_or_say_why_not() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    fields, note = kuma.map_maintenance({"strategy": "recurring-weekday", "start_time": "23:30", "end_time": "00:15",
                                         "weekdays": "[1,3]", "timezone": "SAME_AS_SERVER"}, now=now)
    assert fields == {"kind": "recurring", "cron": "30 23 * * 1,3", "duration_minutes": 45, "starts_at": None,
                      "ends_at": None}  # Kuma's own generateCron / calcDuration when the row has no cron yet
    assert "taken as UTC" in note
    assert kuma.map_maintenance({"strategy": "cron", "cron": "0 3 * * *", "duration": 600,
                                 "timezone": "Europe/Berlin"}, now=now)[0] is None
    assert "ended on" in kuma.map_maintenance({"strategy": "single", "start_date": "2020-01-01 00:00:00",
                                               "end_date": "2020-01-02 00:00:00"}, now=now)[1]
    assert "paused" in kuma.map_maintenance({"strategy": "cron", "active": 0}, now=now)[1]
    assert kuma.tag_text("Team Ops", "media") == "Team-Ops:media"
    assert kuma.tag_text("☃", "") is None


def test_import_kuma_command_reads_a_kuma2_data_directory(ctx: AppContext, cast: Cast, kuma_dir: Path,
                                                          tmp_path: Path) -> None:
    def calcifer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "calcifer.cli", "import-kuma", *args, "--user", "eddie"],
                              env=env_for(ctx.settings), cwd=ROOT, capture_output=True, text=True, timeout=300,
                              check=False)

    before = digest(kuma_dir / "kuma.db")
    dry = calcifer(str(kuma_dir), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would import 7 endpoint(s)" in dry.stdout and "Work item" not in dry.stdout
    assert "Group Media Stack → service media-stack (new, on the work item)" in dry.stdout
    assert "Tag Team Ops → Team-Ops:media on media-stack, jellyfin-web" in dry.stdout
    assert "Tag unused not imported: on no monitor" in dry.stdout
    assert "Maintenance window Nightly DB backup (Uptime Kuma) (would be created)" in dry.stdout
    assert "Maintenance window Hand switch not imported: manual strategy" in dry.stdout
    done = calcifer(str(kuma_dir / "kuma.db"))
    assert done.returncode == 0, done.stderr
    assert "Work item #1" in done.stdout and "Imported 7 endpoint(s)" in done.stdout
    assert "Jellyfin container (docker)" in done.stdout and "Mail (smtp)" in done.stdout
    assert "Maintenance window Nightly DB backup (Uptime Kuma) not imported: it covers postgres" in done.stdout
    assert "Ab12Cd34" not in done.stdout and "AbCdEf-token" not in done.stdout
    assert digest(kuma_dir / "kuma.db") == before

    other = tmp_path / "notes.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (id INTEGER)").connection.commit()
    refused = calcifer(str(other))
    assert refused.returncode == 1 and "not Uptime Kuma's" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
