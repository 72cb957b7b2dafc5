"""Shell pages: dashboard, settings hub and health (docs, search and the catalog have their own slices)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from calcifer import gitrepo as git
from calcifer.auth.choices import Role
from calcifer.auth.roles import has_role
from calcifer.deps import CtxDep, CurrentUser, SessionDep
from calcifer.monitoring import incidents as monitoring_incidents
from calcifer.monitoring import queries as monitoring_queries
from calcifer.monitoring import service as monitoring_service
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web import firstrun
from calcifer.web.api import HealthPublic
from calcifer.web.templating import render
from calcifer.work import service as work_service
from calcifer.work.choices import OPEN_STATUSES, WorkStatus

pages = APIRouter(include_in_schema=False)
# The dashboard lists at most this many endpoints needing attention and open incidents; links lead on.
DASHBOARD_ROWS = 20
api = APIRouter(tags=["health"])


@api.get("/healthz", response_model=HealthPublic,
         responses={503: {"model": HealthPublic, "description": "The database or the repository is unreachable."}})
def healthz(ctx: CtxDep) -> Response:
    """Public: `{"status": "ok"}` when the database and the managed repository are reachable, else 503."""
    problems: list[str] = []
    try:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        problems.append("database unreachable")
    if not git.is_reachable(repo_path=ctx.repo_path):
        problems.append("managed repository unreachable")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})


@pages.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep) -> Response:
    steps = firstrun.checklist(session=session)
    return render(request, "dashboard.html", {
        "steps": steps, "steps_left": sum(not s.done for s in steps),
        "in_progress": work_service.recent(session=session, statuses=OPEN_STATUSES, limit=10),
        "completed": work_service.recent(session=session, statuses=(WorkStatus.COMPLETE.value,), limit=10),
        "changes": work_service.latest_changes(session=session, repo_path=ctx.repo_path, limit=15),
        "monitoring": monitoring_service.count_by_status(session=session),
        "attention": monitoring_queries.endpoints_needing_attention(session=session, limit=DASHBOARD_ROWS),
        "incidents": monitoring_incidents.open_incidents(session=session, limit=DASHBOARD_ROWS),
        "standard_enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED),
    }, nav="dashboard")


@pages.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep) -> Response:
    settings = ctx.settings
    is_admin = has_role(user, Role.ADMIN)
    facts: dict[str, Any] = {"Work categories": ", ".join(settings.work_categories)}
    if is_admin:  # server paths and the database's address tell others about the host: admins only
        facts = {
            "Data directory": settings.resolved_data_dir,
            "Database": settings.resolved_database_url.split("@")[-1] if "@" in settings.resolved_database_url
            else settings.resolved_database_url,
            "Managed repository": ctx.repo_path,
            "Worktrees": settings.worktrees_dir,
            **facts,
        }
    repairs = work_service.recent_repairs(session=session, limit=10) if is_admin else []
    return render(request, "settings.html", {"facts": facts, "repairs": repairs}, nav="settings")
