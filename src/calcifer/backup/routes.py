"""Settings → Backups (admins): back up now with live status, the archives with size and age, download,
schedule and retention, the last failure shown loudly. JSON API under /api/v1/backups."""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from calcifer.backup import (
    scheduler,  # noqa: F401 - registers the scheduled-backup background service
    service,
    targets,
)
from calcifer.backup.choices import Trigger
from calcifer.backup.models import BackupRun
from calcifer.backup.schemas import (
    BackupListPublic,
    BackupRunPublic,
    BackupTargetCreate,
    BackupTargetListPublic,
    BackupTargetPublic,
    BackupTargetUpdate,
    SchedulePublic,
    ScheduleUpdate,
    TargetTestPublic,
)
from calcifer.deps import CtxDep, CursorQuery, LimitQuery, RequireAdmin, SessionDep
from calcifer.errors import Conflict, DomainError, Invalid
from calcifer.instance import AppContext
from calcifer.listing import DEFAULT_LIMIT, id_cursor, keyset_page, next_id_cursor
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["backups"])


def _run_json(run: BackupRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "trigger": run.trigger, "status": run.status, "stage": run.stage,
            "progress": run.progress, "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "file_name": run.file_name or None, "size_bytes": run.size_bytes, "error": run.error or None,
            "actor": run.actor_name or None}


def _start(ctx: AppContext, session: Any, admin: Any) -> BackupRun:
    """Start a backup in a thread; the caller polls its run. Conflict when one is running already."""
    directory = ctx.settings.resolved_backup_dir
    if service.is_running(directory):
        raise Conflict("A backup is already running; wait for it to finish.", code="backup_running")
    run = service.start_run(session=session, trigger=Trigger.MANUAL, actor=admin)

    def work() -> None:
        try:
            service.backup(ctx=ctx, trigger=Trigger.MANUAL, run_id=run.id)
        except DomainError:
            pass  # recorded on the run
        except Exception:  # noqa: BLE001 - recorded on the run; logged by the service
            service.log.exception("backup failed")

    threading.Thread(target=work, name=f"calcifer-backup-{run.id}", daemon=True).start()
    return run


def _status_context(ctx: AppContext, session: Any) -> dict[str, Any]:
    import datetime as dt

    current = service.current_run(session=session)
    running = service.is_running(ctx.settings.resolved_backup_dir)
    # A "running" row whose process is gone (no lock for a while) is shown as interrupted, not polled forever.
    stale = current is not None and not running and (
        dt.datetime.now(dt.UTC) - current.started_at > dt.timedelta(minutes=1))
    return {"current": None if stale else current, "stale": current if stale else None,
            "failure": service.last_failure(session=session), "success": service.last_success(session=session),
            "running": running}


@pages.get("/settings/backups", response_class=HTMLResponse)
def backups_page(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> Response:
    import datetime as dt

    cron = service.schedule(session=session)
    return render(request, "backup/page.html", {
        **_status_context(ctx, session),
        "backups": service.list_archives(session=session, directory=ctx.settings.resolved_backup_dir),
        "targets": targets.list_targets(session=session),
        "directory": ctx.settings.resolved_backup_dir, "schedule": cron,
        "keep": service.retention(session=session), "next_run": service.next_run(cron, dt.datetime.now(dt.UTC)),
        "runs": service.recent_runs(session=session, limit=10), "errors": {},
    }, nav="settings")


@pages.get("/settings/backups/status", response_class=HTMLResponse)
def backups_status(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> Response:
    return render_fragment(request, "backup/_status.html", _status_context(ctx, session))


@pages.post("/settings/backups/run")
def backups_run(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> Response:
    _start(ctx, session, admin)
    if request.headers.get("HX-Request"):
        return render_fragment(request, "backup/_status.html", _status_context(ctx, session))
    flash(request, "info", "Backup started.")
    return RedirectResponse("/settings/backups", status_code=303)


@pages.post("/settings/backups/schedule")
def backups_schedule(request: Request, session: SessionDep, admin: RequireAdmin,
                     schedule: Annotated[str, Form()] = "", keep: Annotated[str, Form()] = "") -> Response:
    try:
        keep_value = int(keep)
    except ValueError as exc:
        raise Invalid("Keep: write a whole number of backups (1-1000).",
                      details=[{"field": "keep", "message": "not a number"}]) from exc
    service.set_schedule(session=session, actor=admin, cron=schedule, keep=keep_value)
    flash(request, "success", "Backup schedule saved.")
    return RedirectResponse("/settings/backups", status_code=303)


@pages.get("/settings/backups/files/{name}")
def backups_download(ctx: CtxDep, admin: RequireAdmin, name: str) -> Response:
    found = service.backup_file(directory=ctx.settings.resolved_backup_dir, name=name)
    return FileResponse(found.path, filename=found.name, media_type="application/gzip")


# -- API -----------------------------------------------------------------------------------------------------

@api.get("/backups", response_model=BackupListPublic)
def backups_list(ctx: CtxDep, session: SessionDep, admin: RequireAdmin, limit: LimitQuery = DEFAULT_LIMIT,
                 cursor: CursorQuery = None) -> dict[str, Any]:
    import datetime as dt

    cron = service.schedule(session=session)
    upcoming = service.next_run(cron, dt.datetime.now(dt.UTC))
    page, next_cursor = keyset_page(service.list_archives(session=session, directory=ctx.settings.resolved_backup_dir),
                                    key=lambda f: (-int(f.created_at.timestamp() * 1_000_000), f.name),
                                    types=(int, str), cursor=cursor, limit=limit)
    return {
        "items": [{"name": f.name, "size_bytes": f.size, "created_at": f.created_at.isoformat(),
                   "download_url": f"/api/v1/backups/files/{f.name}" if f.local else None,
                   "locations": f.locations} for f in page],
        "next_cursor": next_cursor,
        "schedule": cron, "keep": service.retention(session=session),
        "next_run": upcoming.isoformat() if upcoming else None,
        "current_run": _run_json(service.current_run(session=session)),
        "last_failure": _run_json(service.last_failure(session=session)),
    }


@api.post("/backups", status_code=202, response_model=BackupRunPublic)
def backups_create(ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> dict[str, Any]:
    return _run_json(_start(ctx, session, admin)) or {}


@api.get("/backups/runs/{run_id}", response_model=BackupRunPublic)
def backups_run_detail(session: SessionDep, admin: RequireAdmin, run_id: int) -> dict[str, Any]:
    return _run_json(service.get_run(session=session, run_id=run_id)) or {}


@api.put("/backups/schedule", response_model=SchedulePublic)
def backups_schedule_api(session: SessionDep, admin: RequireAdmin, body: ScheduleUpdate) -> dict[str, Any]:
    keep = body.keep if body.keep is not None else service.retention(session=session)
    cron, keep = service.set_schedule(session=session, actor=admin,
                                      cron=body.schedule or service.schedule(session=session), keep=keep)
    return {"schedule": cron, "keep": keep}


@api.get("/backups/files/{name}", response_class=FileResponse,
         responses={200: {"content": {"application/gzip": {}}, "description": "The backup archive."}})
def backups_download_api(ctx: CtxDep, admin: RequireAdmin, name: str) -> Response:
    found = service.backup_file(directory=ctx.settings.resolved_backup_dir, name=name)
    return FileResponse(found.path, filename=found.name, media_type="application/gzip")


# -- off-site targets (Settings → Backups → Targets) -------------------------------------------------------

@api.get("/backups/targets", response_model=BackupTargetListPublic)
def targets_list_api(session: SessionDep, admin: RequireAdmin, limit: LimitQuery = DEFAULT_LIMIT,
                     cursor: CursorQuery = None) -> dict[str, Any]:
    """By id, a page at a time; credentials are never shown."""
    rows = targets.list_targets(session=session, limit=limit, after_id=id_cursor(cursor))
    return {"items": [targets.public(t) for t in rows], "next_cursor": next_id_cursor([t.id for t in rows], limit)}


@api.post("/backups/targets", status_code=201, response_model=BackupTargetPublic)
def targets_create_api(session: SessionDep, ctx: CtxDep, admin: RequireAdmin,
                       data: BackupTargetCreate) -> dict[str, Any]:
    return targets.public(targets.create_target(session=session, actor=admin, secret_key=ctx.secret_key, data=data))


@api.get("/backups/targets/{target_id}", response_model=BackupTargetPublic)
def targets_detail_api(session: SessionDep, admin: RequireAdmin, target_id: int) -> dict[str, Any]:
    return targets.public(targets.get_target(session=session, target_id=target_id))


@api.patch("/backups/targets/{target_id}", response_model=BackupTargetPublic)
def targets_update_api(session: SessionDep, admin: RequireAdmin, target_id: int,
                       data: BackupTargetUpdate) -> dict[str, Any]:
    """Choose whether backups go to this target (`{"enabled": false}` keeps it for restores only)."""
    return targets.public(targets.set_enabled(session=session, actor=admin, target_id=target_id,
                                              enabled=data.enabled))


@api.delete("/backups/targets/{target_id}", status_code=204)
def targets_delete_api(session: SessionDep, admin: RequireAdmin, target_id: int) -> Response:
    targets.delete_target(session=session, actor=admin, target_id=target_id)
    return Response(status_code=204)


@api.post("/backups/targets/{target_id}/test", response_model=TargetTestPublic)
def targets_test_api(session: SessionDep, ctx: CtxDep, admin: RequireAdmin, target_id: int) -> dict[str, Any]:
    """Connect with the stored credentials and list the bucket or folder (an SFTP target added without a
    fingerprint pins its server's host key now)."""
    result = targets.test_target(session=session, secret_key=ctx.secret_key, target_id=target_id)
    return {"ok": result.ok, "message": result.message, "host_key_fingerprint": result.host_key}


@pages.get("/settings/backups/targets", response_class=HTMLResponse)
def targets_page(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render(request, "backup/targets.html", {"targets": targets.list_targets(session=session),
                                                   "location": targets.location}, nav="settings")


@pages.post("/settings/backups/targets")
def targets_create(
    request: Request, session: SessionDep, ctx: CtxDep, admin: RequireAdmin,
    name: Annotated[str, Form()] = "", kind: Annotated[str, Form()] = "",
    endpoint_url: Annotated[str, Form()] = "", region: Annotated[str, Form()] = "",
    bucket: Annotated[str, Form()] = "", prefix: Annotated[str, Form()] = "",
    part_size_mb: Annotated[str, Form()] = "64", access_key_id: Annotated[str, Form()] = "",
    secret_access_key: Annotated[str, Form()] = "", host: Annotated[str, Form()] = "",
    port: Annotated[str, Form()] = "22", username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "", private_key: Annotated[str, Form()] = "",
    folder: Annotated[str, Form()] = "", host_key_fingerprint: Annotated[str, Form()] = "",
    enabled: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = BackupTargetCreate(name=name, kind=kind, enabled=bool(enabled), endpoint_url=endpoint_url, region=region,
                                  bucket=bucket, prefix=prefix, part_size_mb=_number(part_size_mb, "part_size_mb"),
                                  access_key_id=access_key_id, secret_access_key=secret_access_key, host=host,
                                  port=_number(port, "port"), username=username, password=password,
                                  private_key=private_key, folder=folder, host_key_fingerprint=host_key_fingerprint)
        target = targets.create_target(session=session, actor=admin, secret_key=ctx.secret_key, data=data)
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse("/settings/backups/targets#new-target", status_code=303)
    except ValidationError as exc:
        flash(request, "error", "The target is not complete: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()) + ".")
        return RedirectResponse("/settings/backups/targets#new-target", status_code=303)
    flash(request, "success", f"Target {target.name} added. Test the connection to check it.")
    return RedirectResponse(f"/settings/backups/targets#target-{target.id}", status_code=303)


def _number(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise Invalid(f"{field}: write a whole number.", details=[{"field": field, "message": "not a number"}]) from exc


@pages.post("/settings/backups/targets/{target_id}/test")
def targets_test(request: Request, session: SessionDep, ctx: CtxDep, admin: RequireAdmin, target_id: int) -> Response:
    result = targets.test_target(session=session, secret_key=ctx.secret_key, target_id=target_id)
    flash(request, "success" if result.ok else "error", result.message)
    return RedirectResponse(f"/settings/backups/targets#target-{target_id}", status_code=303)


@pages.post("/settings/backups/targets/{target_id}/enabled")
def targets_enable(request: Request, session: SessionDep, admin: RequireAdmin, target_id: int,
                   enabled: Annotated[str, Form()] = "") -> Response:
    target = targets.set_enabled(session=session, actor=admin, target_id=target_id, enabled=enabled == "1")
    flash(request, "success", f"Backups {'go' if target.enabled else 'no longer go'} to {target.name}.")
    return RedirectResponse(f"/settings/backups/targets#target-{target_id}", status_code=303)


@pages.post("/settings/backups/targets/{target_id}/delete")
def targets_delete(request: Request, session: SessionDep, admin: RequireAdmin, target_id: int) -> Response:
    targets.delete_target(session=session, actor=admin, target_id=target_id)
    flash(request, "success", "Target removed. Archives already uploaded stay where they are.")
    return RedirectResponse("/settings/backups/targets", status_code=303)
