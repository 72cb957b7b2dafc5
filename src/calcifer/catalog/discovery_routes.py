"""Compose discovery pages and JSON API: what Compose files propose for the catalog, and accepting it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.catalog import discovery
from calcifer.catalog.schemas import AcceptedPublic, AcceptRequest, DiscoveryPublic
from calcifer.deps import CurrentUser, CursorQuery, LimitQuery, RequireEditor, SessionDep, SettingsDep
from calcifer.errors import DomainError, Invalid
from calcifer.listing import DEFAULT_LIMIT, keyset_page
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.work import service as work_service
from calcifer.work.routes import WorkspaceDep

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["catalog"])


def _compose_dirs(session: SessionDep, settings: SettingsDep) -> list[Path]:
    # Read at every scan: admins change the folders under Settings without a restart.
    return prefs.compose_dirs(session=session, fallback=settings.compose_dirs)


# =============================== JSON API ===============================

@api.get("/catalog/discovery", response_model=DiscoveryPublic)
def api_discovery(session: SessionDep, user: CurrentUser, settings: SettingsDep, workspace: WorkspaceDep,
                  limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None) -> dict[str, Any]:
    """Compose services on main and in `compose_dirs`, compared with the catalog: new, drifted, missing.

    A page holds at most `limit` entries of the five lists together, in the order new, drifted, missing,
    unchanged (each by slug), problems (by file); `counts` are the totals of the whole scan.
    """
    found = discovery.scan(session=session, repo_path=workspace.repo_path,
                           compose_dirs=_compose_dirs(session, settings))
    return _page_of(found, cursor=cursor, limit=limit)


_GROUPS = ("new", "drifted", "missing", "unchanged", "problems")


def _page_of(found: discovery.Discovery, *, cursor: str | None, limit: int) -> dict[str, Any]:
    whole = found.as_dict()
    rows: list[tuple[tuple[int, str, int], str, Any]] = []
    for rank, group in enumerate(_GROUPS[:3]):
        rows += [((rank, entry["slug"], 0), group, entry) for entry in whole[group]]
    rows += [((3, slug, 0), "unchanged", slug) for slug in whole["unchanged"]]
    seen: dict[str, int] = {}
    for problem in whole["problems"]:  # a file's problems keep the order the scan found them in
        seen[problem["file"]] = seen.get(problem["file"], -1) + 1
        rows.append(((4, problem["file"], seen[problem["file"]]), "problems", problem))
    page, next_cursor = keyset_page(rows, key=lambda row: row[0], types=(int, str, int), cursor=cursor,
                                    limit=limit)
    return {**whole, **{group: [entry for _, g, entry in page if g == group] for group in _GROUPS},
            "next_cursor": next_cursor}


@api.post("/catalog/discovery/accept", status_code=201, response_model=AcceptedPublic)
def api_accept(session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
               data: AcceptRequest) -> dict[str, Any]:
    """Write the selected services in one commit on a work item (422 lists every slug or field at fault)."""
    result = discovery.accept(session=session, actor=user, workspace=workspace,
                              compose_dirs=_compose_dirs(session, settings), slugs=data.slugs,
                              work_item_id=data.work_item_id, title=data.title,
                              categories=settings.work_categories, apply_now=data.apply_now)
    return result.as_dict()


# =============================== pages ===============================

def _page(request: Request, session: SessionDep, settings: SettingsDep, workspace: WorkspaceDep, *,
          selected: list[str] | None = None, error: str = "", details: Any = None, target: str = "new",
          title: str = "", status_code: int = 200) -> Response:
    found = discovery.scan(session=session, repo_path=workspace.repo_path,
                           compose_dirs=_compose_dirs(session, settings))
    return render(request, "catalog/discovery.html", {
        "d": found, "counts": found.counts(), "selected": set(selected or []), "error": error,
        "details": details if isinstance(details, list) else [], "target": target, "title": title,
        "items": work_service.open_work_items(session=session),
        "standard_enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED),
    }, status_code=status_code, nav="services")


@pages.get("/catalog/discovery", response_class=HTMLResponse)
def discovery_page(request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep,
                   workspace: WorkspaceDep) -> Response:
    return _page(request, session, settings, workspace)


@pages.post("/catalog/discovery", response_class=HTMLResponse)
def discovery_submit(
    request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
    slugs: Annotated[list[str] | None, Form()] = None, target: Annotated[str, Form()] = "new",
    title: Annotated[str, Form()] = "",
) -> Response:
    chosen = slugs or []
    try:
        if target not in ("new", "standard") and not target.isdigit():
            raise Invalid("Choose where the change goes: a new work item, an open one, or apply now.")
        result = discovery.accept(
            session=session, actor=user, workspace=workspace, compose_dirs=_compose_dirs(session, settings),
            slugs=chosen,
            work_item_id=int(target) if target.isdigit() else None, title=title,
            categories=settings.work_categories, apply_now=target == "standard")
    except DomainError as exc:
        session.rollback()
        return _page(request, session, settings, workspace, selected=chosen, error=exc.message,
                     details=exc.details, target=target, title=title, status_code=exc.status_code)
    for warning in result.warnings[:5]:
        flash(request, "warning", warning)
    if result.merged:
        flash(request, "success", f"{result.entry}. Standard change: work item #{result.work_item_id} merged as "
                                  f"{(result.merge_commit or '')[:10]}.")
        return RedirectResponse("/services", status_code=303)
    flash(request, "success", f"{result.entry}. Committed to work item #{result.work_item_id}; the services "
                              "go live when it merges.")
    return RedirectResponse(f"/work/{result.work_item_id}", status_code=303)
