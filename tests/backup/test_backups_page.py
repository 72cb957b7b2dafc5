"""Settings → Backups: admins only; back up now with status that updates; list, download, schedule."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from calcifer.backup import archive, service
from calcifer.backup.choices import RunStatus, Trigger
from calcifer.backup.models import BackupRun
from calcifer.db import utcnow
from calcifer.web.context import AppContext
from tests.conftest import Cast, browser_login


def wait_for_run(client: TestClient, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        run = client.get(f"/api/v1/backups/runs/{run_id}").json()
        if run["status"] != RunStatus.RUNNING.value:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.1)


def test_only_admins_see_or_start_backups(cast: Cast) -> None:
    for client in (cast.viewer, cast.editor):
        assert client.get("/settings/backups").status_code == 403
        assert client.get("/settings/backups/status").status_code == 403
        assert client.get("/api/v1/backups").status_code == 403
        assert client.post("/api/v1/backups").status_code == 403
        assert client.post("/settings/backups/run").status_code == 403
        assert client.put("/api/v1/backups/schedule", json={"schedule": "0 1 * * *", "keep": 2}).status_code == 403
        assert client.get("/settings/backups/files/calcifer-backup-20260101T000000000Z.tar.gz").status_code == 403
    assert cast.outsider.get("/api/v1/backups").status_code == 401
    assert cast.admin.get("/settings/backups").status_code == 200


def test_back_up_now_runs_in_the_background_and_the_archive_can_be_downloaded(cast: Cast, ctx: AppContext,
                                                                              tmp_path: Path) -> None:
    started = cast.admin.post("/api/v1/backups")
    assert started.status_code == 202, started.text
    run = wait_for_run(cast.admin, started.json()["id"])
    assert run["status"] == "succeeded" and run["progress"] == 100 and run["actor"] == "alice"
    listing = cast.admin.get("/api/v1/backups").json()
    assert [item["name"] for item in listing["items"]] == [run["file_name"]]
    assert listing["schedule"] == "0 3 * * *" and listing["keep"] == 14 and listing["last_failure"] is None
    download = cast.admin.get(listing["items"][0]["download_url"])
    assert download.status_code == 200 and download.headers["content-type"] == "application/gzip"
    saved = tmp_path / run["file_name"]
    saved.write_bytes(download.content)
    assert archive.verify(saved).members
    page = cast.admin.get("/settings/backups").text
    assert run["file_name"] in page and "Back up now" in page
    assert cast.admin.get("/settings/backups/files/../../secret_key").status_code == 404
    assert cast.admin.get("/settings/backups/files/secret_key").status_code == 404


def test_the_status_fragment_polls_while_a_backup_runs_and_stops_after(cast: Cast, ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        run = service.start_run(session=session, trigger=Trigger.MANUAL)
        run_id = run.id
    running = cast.admin.get("/settings/backups/status").text
    assert 'hx-trigger="every 1s"' in running and "<progress" in running
    with ctx.session_factory() as session:
        row = session.get(BackupRun, run_id)
        row.status, row.finished_at, row.file_name = "succeeded", utcnow(), "calcifer-backup-x.tar.gz"
        session.commit()
    done = cast.admin.get("/settings/backups/status").text
    assert "every 1s" not in done and "calcifer-backup-x.tar.gz" in done


def test_the_last_failure_is_shown_loudly_until_a_backup_succeeds(cast: Cast, ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        session.add(BackupRun(trigger="scheduled", status="failed", stage="repository bundle", progress=30,
                              error="No space left on device", file_name="", actor_name=""))
        session.commit()
    page = cast.admin.get("/settings/backups").text
    assert 'role="alert"' in page and "The last backup failed" in page and "No space left on device" in page
    assert cast.admin.get("/api/v1/backups").json()["last_failure"]["error"] == "No space left on device"
    service.backup(ctx=ctx)
    assert "The last backup failed" not in cast.admin.get("/settings/backups").text


def test_a_second_backup_while_one_runs_is_refused(cast: Cast, ctx: AppContext) -> None:
    with service.folder_lock(ctx.settings.resolved_backup_dir):
        response = cast.admin.post("/api/v1/backups")
    assert response.status_code == 409 and response.json()["error"]["code"] == "backup_running"


def test_schedule_and_retention_are_validated_and_saved(cast: Cast, ctx: AppContext) -> None:
    bad = cast.admin.put("/api/v1/backups/schedule", json={"schedule": "every night", "keep": 3})
    assert bad.status_code == 422 and "cron" in bad.json()["error"]["message"]
    assert cast.admin.put("/api/v1/backups/schedule", json={"schedule": "0 3 * * *", "keep": 0}).status_code == 422
    ok = cast.admin.put("/api/v1/backups/schedule", json={"schedule": "15 4 * * 1", "keep": 5})
    assert ok.json() == {"schedule": "15 4 * * 1", "keep": 5}
    listing = cast.admin.get("/api/v1/backups").json()
    assert listing["schedule"] == "15 4 * * 1" and listing["keep"] == 5 and listing["next_run"]
    audit = cast.admin.get("/api/v1/audit?limit=20").text
    assert "backup_schedule" in audit


def test_the_page_form_saves_the_schedule_with_a_browser_session(app: Any, cast: Cast) -> None:
    with TestClient(app, follow_redirects=False) as browser:
        token = browser_login(browser, "alice")
        page = browser.get("/settings/backups")
        assert page.status_code == 200 and 'name="schedule"' in page.text
        saved = browser.post("/settings/backups/schedule", data={"schedule": "0 2 * * *", "keep": "7",
                                                                "csrf_token": token})
        assert saved.status_code == 303
        refused = browser.post("/settings/backups/schedule", data={"schedule": "0 2 * *", "keep": "7",
                                                                  "csrf_token": token})
        assert refused.status_code == 422
    assert cast.admin.get("/api/v1/backups").json()["keep"] == 7


def test_the_scheduler_runs_a_due_slot_once(ctx: AppContext) -> None:
    import datetime as dt

    from calcifer.backup import scheduler

    last = dt.datetime(2026, 11, 26, 2, 59, tzinfo=dt.UTC)
    now = dt.datetime(2026, 11, 26, 3, 0, 5, tzinfo=dt.UTC)
    assert scheduler.due_slot(cron="0 3 * * *", last_seen=last, now=now) == dt.datetime(2026, 11, 26, 3, 0,
                                                                                         tzinfo=dt.UTC)
    assert scheduler.due_slot(cron="0 3 * * *", last_seen=now, now=now + dt.timedelta(minutes=5)) is None
    assert scheduler.due_slot(cron="not cron", last_seen=last, now=now) is None
    real_now = dt.datetime.now(dt.UTC)
    assert scheduler.run_due(ctx, last_seen=real_now - dt.timedelta(days=2), now=real_now) is True
    assert len(service.list_backups(directory=ctx.settings.resolved_backup_dir)) == 1
    # Another worker seeing the same slot skips it.
    assert scheduler.run_due(ctx, last_seen=real_now - dt.timedelta(days=2), now=real_now) is False
    with ctx.session_factory() as session:
        assert [r.trigger for r in service.recent_runs(session=session)] == ["scheduled"]
