"""Work-item pages and JSON API: thin handlers over `work.service`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from calcifer import gitrepo as git
from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role
from calcifer.auth.models import User
from calcifer.catalog import index as catalog_index
from calcifer.changelog.choices import ChangeType
from calcifer.deps import (
    CtxDep,
    CurrentUser,
    CursorQuery,
    LimitQuery,
    RequireAdmin,
    RequireEditor,
    SessionDep,
    SettingsDep,
)
from calcifer.errors import Conflict, Invalid, NotFound
from calcifer.history import compare as compare_service
from calcifer.history.diffview import other_mode, text_view, view_mode
from calcifer.instance import AppContext
from calcifer.listing import DEFAULT_LIMIT, id_cursor, keyset_page, next_id_cursor
from calcifer.plugins import panels
from calcifer.plugins.choices import PanelPage
from calcifer.prefs import service as prefs
from calcifer.prefs.choices import Pref
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment
from calcifer.work import checklists, reviews, service
from calcifer.work.choices import WorkAction, WorkStatus, WorkStatusFilter
from calcifer.work.models import WorkItem
from calcifer.work.schemas import (
    NOTES_MAX,
    BranchPublic,
    ChangesPublic,
    ChecklistAdd,
    ChecklistEntry,
    ChecklistTemplateListPublic,
    ChecklistTemplateSaved,
    ChecklistTemplateUpdate,
    ChecklistToggle,
    CommitCreate,
    CommitCreatedPublic,
    CommitListPublic,
    FileContent,
    MergeCheck,
    ProblemPublic,
    UpdateFromMainPublic,
    WorkItemCreate,
    WorkItemListPublic,
    WorkItemPublic,
    WorkItemUpdate,
)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["work items"])


def get_workspace(ctx: CtxDep) -> service.Workspace:
    return workspace_of(ctx)


def workspace_of(ctx: AppContext) -> service.Workspace:
    return service.Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir)


WorkspaceDep = Annotated[service.Workspace, Depends(get_workspace)]


def public(item: WorkItem, *, viewer: User) -> WorkItemPublic:
    """The API shape of a work item as `viewer` may see it: a worktree's server path only for editors
    and admins (who work in it), never for viewers."""
    return WorkItemPublic(
        id=item.id, title=item.title, slug=item.slug, category=item.category, action=item.action,
        description=item.description, service=item.service, status=WorkStatus(item.status), notes=item.notes,
        branch=item.branch, worktree=item.worktree_path if auth_service.has_role(viewer, Role.EDITOR) else None,
        base_commit=item.base_commit,
        merge_commit=item.merge_commit, archive_tag=item.archive_tag,
        author=item.author.username if item.author else None,
        assignee=item.assignee.username if item.assignee else None,
        checklist=[ChecklistEntry(text=c.text, done=c.done) for c in item.checklist],
        created_at=item.created_at, updated_at=item.updated_at, completed_at=item.completed_at,
    )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        parts.append(f"{field}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def _problems(problems: list[Any]) -> list[ProblemPublic]:
    return [ProblemPublic(code=p.code, message=p.message, path=p.path, line=p.line) for p in problems]


# =============================== JSON API ===============================

@api.post("/work-items", response_model=WorkItemPublic, status_code=201)
def api_create(session: SessionDep, user: RequireEditor, data: WorkItemCreate, workspace: WorkspaceDep,
               settings: SettingsDep) -> WorkItemPublic:
    item = service.create_work_item(session=session, actor=user, data=data, workspace=workspace,
                                    categories=settings.work_categories)
    return public(item, viewer=user)


@api.get("/work-items", response_model=WorkItemListPublic)
def api_list(
    session: SessionDep, user: CurrentUser,
    status: WorkStatusFilter | None = None, category: str | None = None, assignee: str | None = None,
    service_slug: Annotated[str | None, Query(alias="service")] = None, q: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> WorkItemListPublic:
    """Newest first, filtered, a page at a time."""
    filters = service.WorkFilter(status=status.value if status else None, category=category, assignee=assignee,
                                 service=service_slug, text=q)
    items = service.list_work_items(session=session, filters=filters, limit=limit, before_id=id_cursor(cursor))
    return WorkItemListPublic(items=[public(i, viewer=user) for i in items],
                              next_cursor=next_id_cursor([i.id for i in items], limit))


@api.get("/work-items/{item_id}", response_model=WorkItemPublic)
def api_get(session: SessionDep, user: CurrentUser, item_id: int) -> WorkItemPublic:
    return public(service.get_work_item(session=session, item_id=item_id), viewer=user)


@api.patch("/work-items/{item_id}", response_model=WorkItemPublic)
def api_update(session: SessionDep, user: RequireEditor, item_id: int, data: WorkItemUpdate) -> WorkItemPublic:
    item = service.update_work_item(session=session, actor=user, item_id=item_id, data=data)
    return public(item, viewer=user)


@api.delete("/work-items/{item_id}", response_model=WorkItemPublic)
def api_cancel(session: SessionDep, user: RequireEditor, item_id: int, workspace: WorkspaceDep,
               confirm: bool = False) -> WorkItemPublic:
    """Cancel the work item (it stays in the history as cancelled). Unmerged commits need `confirm=true`."""
    return public(service.cancel(session=session, actor=user, item_id=item_id, workspace=workspace,
                                 confirm=confirm), viewer=user)


@api.put("/work-items/{item_id}/checklist/{index}", response_model=WorkItemPublic)
def api_checklist_set(session: SessionDep, user: RequireEditor, item_id: int, index: int,
                      data: ChecklistToggle) -> WorkItemPublic:
    """Tick or untick checklist item `index` (numbered from 0)."""
    return public(service.set_checklist_done(session=session, actor=user, item_id=item_id, index=index,
                                             done=data.done), viewer=user)


@api.post("/work-items/{item_id}/checklist", response_model=WorkItemPublic, status_code=201)
def api_checklist_add(session: SessionDep, user: RequireEditor, item_id: int,
                      data: ChecklistAdd) -> WorkItemPublic:
    item = service.add_checklist_item(session=session, actor=user, item_id=item_id, text=data.text)
    return public(item, viewer=user)


@api.delete("/work-items/{item_id}/checklist/{index}", response_model=WorkItemPublic)
def api_checklist_remove(session: SessionDep, user: RequireEditor, item_id: int, index: int) -> WorkItemPublic:
    item = service.remove_checklist_item(session=session, actor=user, item_id=item_id, index=index)
    return public(item, viewer=user)


@api.get("/work-items/{item_id}/changes", response_model=ChangesPublic)
def api_changes(session: SessionDep, user: CurrentUser, item_id: int, limit: LimitQuery = DEFAULT_LIMIT,
                cursor: CursorQuery = None) -> dict[str, Any]:
    """The worktree's uncommitted changes, by path, each with its diff."""
    page, next_cursor = keyset_page(service.changes(session=session, item_id=item_id), key=lambda c: (c.path,),
                                    types=(str,), cursor=cursor, limit=limit)
    return {"items": [{"path": c.path, "status": c.status, "binary": c.binary, "diff": c.diff} for c in page],
            "next_cursor": next_cursor}


@api.get("/work-items/{item_id}/files/{path:path}", response_model=FileContent)
def api_read_file(session: SessionDep, user: CurrentUser, item_id: int, path: str) -> FileContent:
    return FileContent(content=service.read_file(session=session, item_id=item_id, path=path))


@api.put("/work-items/{item_id}/files/{path:path}", response_model=FileContent,
         responses={201: {"model": FileContent, "description": "The file was created."}})
def api_write_file(session: SessionDep, user: RequireEditor, item_id: int, path: str,
                   data: FileContent, response: Response) -> FileContent:
    created = service.write_file(session=session, actor=user, item_id=item_id, path=path, content=data.content)
    response.status_code = 201 if created else 200
    return data


@api.delete("/work-items/{item_id}/files/{path:path}", status_code=204)
def api_delete_file(session: SessionDep, user: RequireEditor, item_id: int, path: str) -> Response:
    service.delete_file(session=session, actor=user, item_id=item_id, path=path)
    return Response(status_code=204)


def _commit_public(c: git.CommitInfo) -> dict[str, Any]:
    return {"id": c.id, "short_id": c.short_id, "message": c.message, "summary": c.summary,
            "author": c.author_name, "email": c.author_email, "time": c.time.isoformat()}


@api.post("/work-items/{item_id}/commits", status_code=201, response_model=CommitCreatedPublic)
def api_commit(session: SessionDep, user: RequireEditor, item_id: int, data: CommitCreate,
               workspace: WorkspaceDep) -> dict[str, Any]:
    commit_id = service.commit(session=session, actor=user, item_id=item_id, workspace=workspace,
                               message=data.message, files=data.files,
                               entry_type=data.changelog.type if data.changelog else None,
                               entry_text=data.changelog.text if data.changelog else None)
    return {"id": commit_id}


@api.get("/work-items/{item_id}/commits", response_model=CommitListPublic)
def api_commits(session: SessionDep, user: CurrentUser, item_id: int, workspace: WorkspaceDep,
                limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None) -> dict[str, Any]:
    """The branch's commits that main lacks, newest first."""
    page, next_cursor = _commit_page(session, item_id, workspace, cursor=cursor, limit=limit)
    return {"items": [_commit_public(c) for c in page], "next_cursor": next_cursor}


def _commit_page(session: SessionDep, item_id: int, workspace: service.Workspace, *, cursor: str | None,
                 limit: int) -> tuple[list[git.CommitInfo], str | None]:
    found = service.commits(session=session, item_id=item_id, workspace=workspace, limit=service.MAX_BRANCH_COMMITS)
    # Keyed by place counted from the oldest: new commits arrive on top, so an older one keeps its key
    # (commit times have whole seconds and may tie or run backwards).
    numbered = [(len(found) - n, c) for n, c in enumerate(found)]
    page, next_cursor = keyset_page(numbered, key=lambda row: (-row[0],), types=(int,), cursor=cursor, limit=limit)
    return [c for _, c in page], next_cursor


@api.get("/work-items/{item_id}/branch", response_model=BranchPublic)
def api_branch(session: SessionDep, user: CurrentUser, item_id: int, workspace: WorkspaceDep) -> dict[str, Any]:
    item = service.get_work_item(session=session, item_id=item_id)
    status = service.branch_status(workspace=workspace, item=item)
    if status is None:
        return {"exists": False, "merged": item.status == WorkStatus.COMPLETE.value, "ahead": 0, "behind": 0,
                "conflicts": []}
    return {"exists": True, "merged": status.merged, "ahead": status.ahead, "behind": status.behind,
            "conflicts": status.conflicts}


@api.get("/work-items/{item_id}/merge-check", response_model=MergeCheck)
def api_merge_check(session: SessionDep, user: CurrentUser, item_id: int, workspace: WorkspaceDep) -> MergeCheck:
    item = service.get_work_item(session=session, item_id=item_id)
    report = service.merge_report(session=session, item=item, workspace=workspace)
    return MergeCheck(ready=report.ready, problems=_problems(report.problems), warnings=_problems(report.warnings),
                      on_main=_problems(report.on_main))


@api.post("/work-items/{item_id}/merge", response_model=WorkItemPublic)
def api_merge(session: SessionDep, user: RequireEditor, item_id: int, workspace: WorkspaceDep) -> WorkItemPublic:
    """Merge and complete. 409 with `details.problems` listing every unmet rule."""
    item = service.merge_and_complete(session=session, actor=user, item_id=item_id, workspace=workspace)
    return public(item, viewer=user)


@api.post("/work-items/{item_id}/update-from-main", response_model=UpdateFromMainPublic)
def api_update_from_main(session: SessionDep, user: RequireEditor, item_id: int,
                         workspace: WorkspaceDep) -> dict[str, Any]:
    conflicts = service.update_from_main(session=session, actor=user, item_id=item_id, workspace=workspace)
    return {"conflicts": conflicts, "clean": not conflicts}


@api.get("/checklist-templates", response_model=ChecklistTemplateListPublic)
def api_templates(session: SessionDep, user: CurrentUser, settings: SettingsDep, limit: LimitQuery = DEFAULT_LIMIT,
                  cursor: CursorQuery = None) -> dict[str, Any]:
    """The checklist every category and action starts with (customised or the built-in one)."""
    # Keyed by position, so the pages keep the configured order of categories, then actions.
    rows = list(enumerate(checklists.all_templates(session=session, categories=settings.work_categories)))
    page, next_cursor = keyset_page(rows, key=lambda row: (row[0],), types=(int,), cursor=cursor, limit=limit)
    return {"items": [{"category": c, "action": a, "items": items, "customised": custom}
                      for _, (c, a, items, custom) in page], "next_cursor": next_cursor}


@api.put("/checklist-templates/{category}/{action}", response_model=ChecklistTemplateSaved)
def api_template_save(session: SessionDep, admin: RequireAdmin, settings: SettingsDep, category: str,
                      action: str, data: ChecklistTemplateUpdate) -> dict[str, Any]:
    items = checklists.save_template(session=session, actor=admin, category=category, action=action,
                                     items=data.items, categories=settings.work_categories)
    return {"category": category, "action": action, "items": items}


# =============================== pages ===============================

@pages.get("/work", response_class=HTMLResponse)
def list_page(
    request: Request, session: SessionDep, user: CurrentUser, settings: SettingsDep,
    status: str | None = None, category: str | None = None, assignee: str | None = None,
    service_slug: Annotated[str | None, Query(alias="service")] = None, q: str | None = None,
    cursor: int | None = None,
) -> Response:
    filters = service.WorkFilter(status=status or None, category=category or None, assignee=assignee or None,
                                 service=service_slug or None, text=q or None)
    items = service.list_work_items(session=session, filters=filters, limit=50, before_id=cursor)
    params = {k: v for k, v in {"status": status, "category": category, "assignee": assignee,
                                "service": service_slug, "q": q}.items() if v}
    return render(request, "work/list.html", {
        "items": items, "filters": params, "categories": settings.work_categories,
        "statuses": [s.value for s in WorkStatus],
        "users": auth_service.list_users(session=session, limit=500),
        "next_cursor": items[-1].id if len(items) == 50 else None,
        "standard_enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED),
    }, nav="work")


@pages.get("/work/new", response_class=HTMLResponse)
def new_page(request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep,
             service_slug: Annotated[str | None, Query(alias="service")] = None) -> Response:
    return render(request, "work/new.html", {
        "categories": settings.work_categories, "actions": [a.value for a in WorkAction], "errors": "",
        "values": {"service": service_slug or ""}, "users": auth_service.list_users(session=session, limit=500),
    }, nav="work")


@pages.get("/work/standard", response_class=HTMLResponse)
def standard_page(
    request: Request, session: SessionDep, user: RequireEditor,
    service_slug: Annotated[str, Query(alias="service", max_length=63)] = "",
    endpoint: Annotated[str, Query(max_length=63)] = "",
) -> Response:
    """Where a standard change starts: choose what to change, then the catalog's or the docs' own form
    opens with "apply now (standard change)" chosen. A chosen service or endpoint must exist."""
    error = ""
    kind, slug = ("service", service_slug.strip()) if service_slug.strip() else ("endpoint", endpoint.strip())
    if slug:
        try:
            (catalog_index.get_service if kind == "service" else catalog_index.get_endpoint)(session=session, slug=slug)
        except NotFound as exc:
            error = f"{exc.message} Pick one from the list."
        else:
            return RedirectResponse(f"/catalog/edit/{kind}?{urlencode({'slug': slug, 'target': 'standard'})}",
                                    status_code=303)
    return render(request, "work/standard.html", {
        "enabled": prefs.get_bool(session=session, key=Pref.STANDARD_CHANGES_ENABLED), "error": error,
        "values": {"service": service_slug, "endpoint": endpoint},
        "services": catalog_index.list_services(session=session, limit=catalog_index.MAX_LIMIT)[0],
        "endpoints": catalog_index.list_endpoints(session=session, limit=catalog_index.MAX_LIMIT)[0],
    }, status_code=404 if error else 200, nav="work")


@pages.post("/work", response_class=HTMLResponse)
def create_page(
    request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
    title: Annotated[str, Form()] = "", category: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
    service_slug: Annotated[str, Form(alias="service")] = "", assignee: Annotated[str, Form()] = "",
) -> Response:
    values = {"title": title, "category": category, "action": action, "description": description,
              "service": service_slug, "assignee": assignee}
    try:
        data = WorkItemCreate(title=title, category=category, action=action,  # type: ignore[arg-type]
                              description=description, service=service_slug or None,
                              assignee=assignee or None)
        item = service.create_work_item(session=session, actor=user, data=data, workspace=workspace,
                                        categories=settings.work_categories)
    except (ValidationError, Invalid) as exc:
        message = _validation_message(exc) if isinstance(exc, ValidationError) else exc.message
        return render(request, "work/new.html", {
            "categories": settings.work_categories, "actions": [a.value for a in WorkAction],
            "errors": message, "values": values, "users": auth_service.list_users(session=session, limit=500),
        }, status_code=422, nav="work")
    flash(request, "success", f"Work item #{item.id} created on branch {item.branch}.")
    return RedirectResponse(f"/work/{item.id}", status_code=303)


COMMITS_PAGE = 50  # commits the detail page shows at once; "Older commits" shows the next ones


BRANCH_DIFF_INLINE_LINES = 1_500  # diff lines the work page draws itself; the other files load on demand


def _detail_context(session: SessionDep, item: WorkItem, workspace: service.Workspace,
                    commits_cursor: str | None = None, view: str | None = None) -> dict[str, Any]:
    is_open = item.status in (WorkStatus.PLANNING.value, WorkStatus.IN_PROGRESS.value)
    commits, commits_next = _commit_page(session, item.id, workspace, cursor=commits_cursor, limit=COMMITS_PAGE)
    status = service.branch_status(workspace=workspace, item=item)
    worktree_ok = is_open and Path(item.worktree_path).is_dir()
    changes = service.changes(session=session, item_id=item.id) if worktree_ok else []
    report = service.merge_report(session=session, item=item, workspace=workspace) if is_open else None
    # The branch against main, as /compare/main...BRANCH draws it (the shared diff view).
    compared = (compare_service.compare(session=session, repo_path=workspace.repo_path, base=git.MAIN,
                                        head=item.branch, inline_lines=BRANCH_DIFF_INLINE_LINES)
                if status is not None and not status.merged and status.ahead else None)
    mode = view_mode(view)
    return {
        "item": item, "is_open": is_open, "branch": status, "changes": changes,
        # Each uncommitted change in the shared diff view (unified or side by side, as ``mode``).
        "change_views": {c.path: text_view(c.diff, status=c.status) for c in changes if c.diff},
        "commits": commits,
        "commits_next_url": f"/work/{item.id}?{urlencode({'commits': commits_next})}#commits" if commits_next else None,
        "commits_first_url": f"/work/{item.id}#commits" if commits_cursor else None,
        "problems": report.problems if report else [],
        "merge_warnings": report.warnings if report else [], "main_problems": report.on_main if report else [],
        "conflicts": git.worktree_conflicts(worktree_path=Path(item.worktree_path)) if worktree_ok else [],
        "merging": worktree_ok and git.merge_in_progress(worktree_path=Path(item.worktree_path)),
        "compared": compared, "mode": mode, "other_mode": other_mode(mode), "mode_anchor": "#branch-changes",
        "worktree_ok": worktree_ok, "notes_max": NOTES_MAX, "change_types": [t.value for t in ChangeType],
        "has_entry": bool(service.branch_changelog_entries(workspace=workspace, item=item)) if is_open else True,
        "users": auth_service.list_users(session=session, limit=500),
        "done_count": sum(1 for c in item.checklist if c.done),
        "reviews": reviews.panel(session=session, item=item, workspace=workspace),
        "plugin_panels": panels.render_panels(session=session, page=PanelPage.WORK_ITEM, subject=str(item.id)),
    }


@pages.get("/work/{item_id}", response_class=HTMLResponse)
def detail_page(request: Request, session: SessionDep, user: CurrentUser, item_id: int,
                workspace: WorkspaceDep, commits: str | None = None, view: str | None = None) -> Response:
    item = service.get_work_item(session=session, item_id=item_id)
    return render(request, "work/detail.html", _detail_context(session, item, workspace, commits or None, view),
                  nav="work")


@pages.post("/work/{item_id}/edit")
def edit_submit(
    request: Request, session: SessionDep, user: RequireEditor, item_id: int,
    title: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
    service_slug: Annotated[str, Form(alias="service")] = "", assignee: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = WorkItemUpdate(title=title, description=description, service=service_slug or None,
                              assignee=assignee or None)
    except ValidationError as exc:
        raise Invalid(_validation_message(exc)) from exc
    service.update_work_item(session=session, actor=user, item_id=item_id, data=data)
    flash(request, "success", "Saved.")
    return RedirectResponse(f"/work/{item_id}", status_code=303)


@pages.post("/work/{item_id}/notes")
def notes_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                 notes: Annotated[str, Form()] = "") -> Response:
    notes = notes.replace("\r\n", "\n")  # browsers send CRLF; the limit counts characters as shown
    service.set_notes_checked(notes)
    service.update_work_item(session=session, actor=user, item_id=item_id,
                             data=WorkItemUpdate.model_construct(notes=notes, _fields_set={"notes"}))
    flash(request, "success", "Notes saved.")
    return RedirectResponse(f"/work/{item_id}#notes", status_code=303)


@pages.post("/work/{item_id}/checklist/{index}/toggle", response_class=HTMLResponse)
def checklist_toggle(request: Request, session: SessionDep, user: RequireEditor, item_id: int, index: int,
                     done: Annotated[str | None, Form()] = None) -> Response:
    if done is None:  # a plain form without the value: flip the current state
        item = service.get_work_item(session=session, item_id=item_id)
        done = "false" if 0 <= index < len(item.checklist) and item.checklist[index].done else "true"
    new_state = done == "true"
    item = service.set_checklist_done(session=session, actor=user, item_id=item_id, index=index, done=new_state)
    if request.headers.get("hx-request"):
        return render_fragment(request, "work/_checklist.html", {"item": item, "is_open": True,
                                                                  "done_count": sum(c.done for c in item.checklist)})
    return RedirectResponse(f"/work/{item_id}#checklist", status_code=303)


@pages.post("/work/{item_id}/checklist", response_class=HTMLResponse)
def checklist_add(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                  text: Annotated[str, Form()] = "") -> Response:
    item = service.add_checklist_item(session=session, actor=user, item_id=item_id, text=text)
    if request.headers.get("hx-request"):
        return render_fragment(request, "work/_checklist.html", {"item": item, "is_open": True,
                                                                  "done_count": sum(c.done for c in item.checklist)})
    return RedirectResponse(f"/work/{item_id}#checklist", status_code=303)


@pages.post("/work/{item_id}/checklist/{index}/delete", response_class=HTMLResponse)
def checklist_remove(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                     index: int) -> Response:
    item = service.remove_checklist_item(session=session, actor=user, item_id=item_id, index=index)
    if request.headers.get("hx-request"):
        return render_fragment(request, "work/_checklist.html", {"item": item, "is_open": True,
                                                                  "done_count": sum(c.done for c in item.checklist)})
    return RedirectResponse(f"/work/{item_id}#checklist", status_code=303)


@pages.get("/work/{item_id}/file", response_class=HTMLResponse)
def file_page(request: Request, session: SessionDep, user: CurrentUser, item_id: int,
              path: str = "") -> Response:
    item = service.get_work_item(session=session, item_id=item_id)
    content, exists = "", False
    if path:
        try:
            content, exists = service.read_file(session=session, item_id=item_id, path=path), True
        except NotFound:
            pass  # a new file
    return render(request, "work/file.html", {"item": item, "path": path, "content": content,
                                               "exists": exists}, nav="work")


@pages.post("/work/{item_id}/file")
def file_save(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
              path: Annotated[str, Form()] = "", content: Annotated[str, Form()] = "",
              delete: Annotated[str | None, Form()] = None) -> Response:
    if delete:
        service.delete_file(session=session, actor=user, item_id=item_id, path=path)
        flash(request, "success", f"Deleted {path}; commit to record it.")
    else:
        # Browsers send CRLF from textareas; keep the file's Unix line endings.
        created = service.write_file(session=session, actor=user, item_id=item_id, path=path,
                                     content=content.replace("\r\n", "\n"))
        flash(request, "success", f"{'Created' if created else 'Saved'} {path}; commit to record it.")
    return RedirectResponse(f"/work/{item_id}#changes", status_code=303)


@pages.post("/work/{item_id}/commit")
def commit_submit(
    request: Request, session: SessionDep, user: RequireEditor, item_id: int, workspace: WorkspaceDep,
    message: Annotated[str, Form()] = "", files: Annotated[list[str] | None, Form()] = None,
    changelog_type: Annotated[str, Form()] = "", changelog_text: Annotated[str, Form()] = "",
) -> Response:
    try:
        entry_type = ChangeType(changelog_type) if changelog_type else None
    except ValueError as exc:
        raise Invalid(f"Unknown changelog type {changelog_type!r}.") from exc
    try:
        commit_id = service.commit(session=session, actor=user, item_id=item_id, workspace=workspace,
                                   message=message, files=files or None, entry_type=entry_type,
                                   entry_text=changelog_text or None)
    except (Conflict, Invalid) as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"/work/{item_id}#commit", status_code=303)
    flash(request, "success", f"Committed {commit_id[:10]}.")
    return RedirectResponse(f"/work/{item_id}#commits", status_code=303)


@pages.post("/work/{item_id}/merge")
def merge_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                 workspace: WorkspaceDep) -> Response:
    try:
        item = service.merge_and_complete(session=session, actor=user, item_id=item_id, workspace=workspace)
    except Conflict as exc:
        flash(request, "error", exc.message + " " + " ".join(p.message for p in exc.problems))
        return RedirectResponse(f"/work/{item_id}#merge", status_code=303)
    flash(request, "success", f"Merged into main as {(item.merge_commit or '')[:10]}; #{item.id} is complete.")
    return RedirectResponse(f"/work/{item_id}", status_code=303)


@pages.post("/work/{item_id}/update-from-main")
def update_from_main_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                            workspace: WorkspaceDep) -> Response:
    try:
        conflicts = service.update_from_main(session=session, actor=user, item_id=item_id, workspace=workspace)
    except Conflict as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"/work/{item_id}", status_code=303)
    if conflicts:
        flash(request, "warning", "Main was merged in with conflicts in: " + ", ".join(conflicts)
              + ". Resolve them hunk by hunk here, then commit the resolution.")
        return RedirectResponse(f"/work/{item_id}/conflicts", status_code=303)
    flash(request, "success", "The branch is up to date with main.")
    return RedirectResponse(f"/work/{item_id}", status_code=303)


@pages.post("/work/{item_id}/cancel")
def cancel_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                  workspace: WorkspaceDep, confirm: Annotated[str | None, Form()] = None) -> Response:
    try:
        item = service.cancel(session=session, actor=user, item_id=item_id, workspace=workspace,
                              confirm=confirm == "yes")
    except Conflict as exc:
        flash(request, "warning", exc.message)
        return RedirectResponse(f"/work/{item_id}#cancel", status_code=303)
    note = f" Its commits are kept at tag {item.archive_tag}." if item.archive_tag else ""
    flash(request, "success", f"Work item #{item.id} cancelled.{note}")
    return RedirectResponse(f"/work/{item_id}", status_code=303)


@pages.get("/settings/checklists", response_class=HTMLResponse)
def templates_page(request: Request, session: SessionDep, admin: RequireAdmin, settings: SettingsDep) -> Response:
    return render(request, "work/checklist_templates.html", {
        "templates": checklists.all_templates(session=session, categories=settings.work_categories),
    }, nav="settings")


@pages.post("/settings/checklists")
def templates_save(request: Request, session: SessionDep, admin: RequireAdmin, settings: SettingsDep,
                   category: Annotated[str, Form()] = "", action: Annotated[str, Form()] = "",
                   items: Annotated[str, Form()] = "") -> Response:
    checklists.save_template(session=session, actor=admin, category=category, action=action,
                             items=items.splitlines(), categories=settings.work_categories)
    flash(request, "success", f"Checklist template {category}/{action} saved.")
    return RedirectResponse(f"/settings/checklists#{category}-{action}", status_code=303)
