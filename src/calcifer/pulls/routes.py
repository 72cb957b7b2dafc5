"""Pull requests: the forge's settings (a card of Settings → Repository; admins), a work item's pull request
(a card of its page: open it, its state), and the JSON API (`/api/v1/repository/forge`,
`/api/v1/work-items/{id}/pull-request`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from calcifer.deps import CtxDep, RequireAdmin, RequireEditor, RequireViewer, SessionDep
from calcifer.errors import DomainError
from calcifer.instance import AppContext
from calcifer.pulls import service
from calcifer.pulls.schemas import ForgePublic, ForgeUpdate, PullRequestPublic
from calcifer.web.security import flash
from calcifer.web.templating import render_fragment
from calcifer.work import service as work_service
from calcifer.work.choices import OPEN_STATUSES

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["pull requests"])


def _workspace(ctx: AppContext) -> work_service.Workspace:
    return work_service.Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir)


# -- pages --------------------------------------------------------------------------------------------

@pages.get("/settings/repository/forge", response_class=HTMLResponse)
def forge_panel(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render_fragment(request, "pulls/_forge_settings.html", {"forge": service.forge_state(session=session)})


@pages.post("/settings/repository/forge")
def forge_save(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin,
               kind: Annotated[str, Form()] = "", api_url: Annotated[str, Form()] = "",
               repository: Annotated[str, Form()] = "", token: Annotated[str, Form()] = "") -> Response:
    try:
        data = ForgeUpdate(kind=kind, api_url=api_url, repository=repository,  # type: ignore[arg-type]
                           token=token or None)
        service.set_forge(session=session, actor=admin, secret_key=ctx.secret_key, data=data)
    except ValidationError as exc:
        first = exc.errors()[0]
        flash(request, "error", f"Pull requests, {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        return RedirectResponse("/settings/repository#forge-settings", status_code=303)
    except DomainError as exc:
        flash(request, "error", f"Pull requests not saved: {exc.message}")
        return RedirectResponse("/settings/repository#forge-settings", status_code=303)
    flash(request, "success", "Pull requests saved: the forge accepted the token.")
    return RedirectResponse("/settings/repository#forge-settings", status_code=303)


@pages.post("/settings/repository/forge/delete")
def forge_delete(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    service.delete_forge(session=session, actor=admin)
    flash(request, "success", "Pull requests switched off; those already open stay on the forge.")
    return RedirectResponse("/settings/repository", status_code=303)


@pages.get("/work/{item_id}/pull-request/panel", response_class=HTMLResponse)
def pull_request_panel(request: Request, ctx: CtxDep, session: SessionDep, user: RequireViewer,
                       item_id: int) -> Response:
    item = work_service.get_work_item(session=session, item_id=item_id)
    row = service.get_pull_request(session=session, item_id=item_id)
    if row is not None:
        row = service.refresh(session=session, secret_key=ctx.secret_key, row=row)
    return render_fragment(request, "pulls/_panel.html", {
        "item": item, "is_open": item.status in OPEN_STATUSES, "pr": row,
        "forge": service.forge_state(session=session)})


@pages.post("/work/{item_id}/pull-request")
def pull_request_open(request: Request, ctx: CtxDep, session: SessionDep, editor: RequireEditor,
                      item_id: int) -> Response:
    try:
        row = service.open_pull_request(session=session, actor=editor, item_id=item_id, workspace=_workspace(ctx),
                                        secret_key=ctx.secret_key)
    except DomainError as exc:
        flash(request, "error", f"No pull request: {exc.message}")
        return RedirectResponse(f"/work/{item_id}#pull-request", status_code=303)
    flash(request, "success", f"Pull request #{row.number} is open on the forge; the branch is pushed.")
    return RedirectResponse(f"/work/{item_id}#pull-request", status_code=303)


# -- API ----------------------------------------------------------------------------------------------

@api.get("/repository/forge", response_model=ForgePublic)
def forge_get(session: SessionDep, admin: RequireAdmin) -> dict[str, Any]:
    """Where pull requests are opened (never the token). 404 `no_forge` when none is set."""
    service.require_config(session=session)
    return service.forge_state(session=session) or {}


@api.put("/repository/forge", response_model=ForgePublic)
def forge_put(ctx: CtxDep, session: SessionDep, admin: RequireAdmin, body: ForgeUpdate) -> dict[str, Any]:
    """Set the forge. The token is tried on the repository first: 422 `forge_refused` (wrong token,
    repository or URL) or 409 `forge_unreachable`, and nothing is saved."""
    service.set_forge(session=session, actor=admin, secret_key=ctx.secret_key, data=body)
    return service.forge_state(session=session) or {}


@api.delete("/repository/forge", status_code=204, response_class=Response)
def forge_remove(session: SessionDep, admin: RequireAdmin) -> Response:
    service.delete_forge(session=session, actor=admin)
    return Response(status_code=204)


@api.post("/work-items/{item_id}/pull-request", response_model=PullRequestPublic)
def pull_request_create(ctx: CtxDep, session: SessionDep, editor: RequireEditor, item_id: int) -> dict[str, Any]:
    """Push the work item's branch and open its pull request (its notes, checklist and changelog entry as
    the body). With one already open, the branch is pushed again and that one answered. 404 `no_forge`,
    422 `forge_refused`, 409 `forge_unreachable` / `remote_failed` / `not_open`: then nothing is recorded."""
    row = service.open_pull_request(session=session, actor=editor, item_id=item_id, workspace=_workspace(ctx),
                                    secret_key=ctx.secret_key)
    return service.public(row)


@api.get("/work-items/{item_id}/pull-request", response_model=PullRequestPublic)
def pull_request_get(ctx: CtxDep, session: SessionDep, user: RequireViewer, item_id: int) -> dict[str, Any]:
    """The work item's pull request, its state asked of the forge while open (a failure is in
    `last_error`). 404 `no_pull_request`."""
    return service.public(service.pull_request_for(session=session, secret_key=ctx.secret_key, item_id=item_id))
