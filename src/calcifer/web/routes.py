"""Shell pages: dashboard, settings hub, search, health; plus the repository browsers the nav needs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import text

from calcifer.deps import CtxDep, CurrentUser, SessionDep
from calcifer.gitrepo import service as git
from calcifer.web.templating import render
from calcifer.work import service as work_service
from calcifer.work.choices import OPEN_STATUSES, WorkStatus

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["health"])


@api.get("/healthz")
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
    return render(request, "dashboard.html", {
        "in_progress": work_service.recent(session=session, statuses=OPEN_STATUSES, limit=10),
        "completed": work_service.recent(session=session, statuses=(WorkStatus.COMPLETE.value,), limit=10),
        "entries": work_service.main_changelog_entries(repo_path=ctx.repo_path, limit=15),
    }, nav="dashboard")


@pages.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep) -> Response:
    settings = ctx.settings
    facts: dict[str, Any] = {
        "Data directory": settings.resolved_data_dir,
        "Database": settings.resolved_database_url.split("@")[-1] if "@" in settings.resolved_database_url
        else settings.resolved_database_url,
        "Managed repository": ctx.repo_path,
        "Worktrees": settings.worktrees_dir,
        "Work categories": ", ".join(settings.work_categories),
    }
    repairs = work_service.recent_repairs(session=session, limit=10) if user.role == "admin" else []
    return render(request, "settings.html", {"facts": facts, "repairs": repairs}, nav="settings")


def _repo_listing(request: Request, ctx: CtxDep, *, prefix: str, title: str, nav: str, intro: str) -> Response:
    files = [f for f in git.list_files_at(repo_path=ctx.repo_path, prefix=prefix)
             if not f.endswith(".gitkeep")]
    return render(request, "repo_listing.html", {"files": files[:1000], "total": len(files), "title": title,
                                                 "prefix": prefix, "intro": intro}, nav=nav)


@pages.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request, user: CurrentUser, ctx: CtxDep) -> Response:
    return _repo_listing(request, ctx, prefix="docs/", title="Docs", nav="docs",
                         intro="Documentation on main. Write docs through a work item.")


@pages.get("/search", response_class=HTMLResponse)
def search_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, q: str = "") -> Response:
    query = q.strip()[:200]
    items = work_service.list_work_items(session=session, filters=work_service.WorkFilter(text=query),
                                         limit=50) if query else []
    entries = [e for e in work_service.main_changelog_entries(repo_path=ctx.repo_path, limit=2000)
               if query and query.lower() in e.text.lower()][:50]
    return render(request, "search.html", {"q": query, "items": items, "entries": entries})
