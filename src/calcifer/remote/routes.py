"""Settings → Repository (admins: the remote, push and fetch now), outside changes (list, adopt), and the
JSON API under /api/v1/repository, with the forge's webhook (public, refused without a valid signature)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from calcifer.deps import CtxDep, CursorQuery, LimitQuery, RequireAdmin, RequireEditor, RequireViewer, SessionDep
from calcifer.errors import Conflict, DomainError, Invalid, NotAuthenticated, Problem
from calcifer.instance import AppContext
from calcifer.listing import DEFAULT_LIMIT
from calcifer.remote import service
from calcifer.remote.choices import FetchOutcome
from calcifer.remote.models import OutsideChange
from calcifer.remote.schemas import (
    AdoptRequest,
    BranchWorkItemCreate,
    BranchWorkItemPublic,
    FetchReportPublic,
    OutsideChangeList,
    OutsideChangePublic,
    PushReportPublic,
    RemotePublic,
    RemoteUpdate,
    WebhookAnswer,
)
from calcifer.web.api import ErrorBody
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment
from calcifer.work import service as work_service
from calcifer.work.schemas import WorkItemCreate
from calcifer.work.service import Workspace

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/repository", tags=["repository"])

PANEL_ROWS = 10
REFUSED = (FetchOutcome.CONFLICT, FetchOutcome.HOSTILE, FetchOutcome.INVALID, FetchOutcome.FAILED)


def _workspace(ctx: AppContext) -> Workspace:
    return Workspace(repo_path=ctx.repo_path, worktrees_dir=ctx.settings.worktrees_dir)


def _change_json(row: OutsideChange) -> dict[str, Any]:
    return {"sha": row.sha, "summary": row.summary, "author_name": row.author_name,
            "author_email": row.author_email, "committed_at": row.committed_at, "found_at": row.found_at,
            "main_commit": row.main_commit, "work_item_id": row.work_item_id, "adopted_at": row.adopted_at}


def _report_json(report: service.FetchReport) -> dict[str, Any]:
    return {"outcome": report.outcome, "message": report.message, "main": report.main,
            "outside_changes": report.outside_changes, "files": report.files}


def _refuse(report: service.FetchReport) -> None:
    """A fetch whose commits did not land is a 409 listing why (each file in conflict, each refusal)."""
    if report.outcome not in REFUSED:
        return
    problems = report.problems or [Problem(f"remote_{report.outcome.value}", line, path=None)
                                   for line in report.files] or [Problem(f"remote_{report.outcome.value}",
                                                                         report.message)]
    raise Conflict(report.message, code=f"remote_{report.outcome.value}", problems=problems)


# -- pages --------------------------------------------------------------------------------------------

@pages.get("/settings/repository", response_class=HTMLResponse)
def repository_page(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> Response:
    remote = service.state(session=session, repo_path=ctx.repo_path)
    return render(request, "remote/settings.html", {"remote": remote, "errors": {}}, nav="settings")


@pages.post("/settings/repository")
def repository_save(
    request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin,
    url: Annotated[str, Form()] = "", auth: Annotated[str, Form()] = "none",
    username: Annotated[str, Form()] = "", token: Annotated[str, Form()] = "",
    new_ssh_key: Annotated[str, Form()] = "", push_scope: Annotated[str, Form()] = "main",
    webhook_secret: Annotated[str, Form()] = "", ssh_host_key: Annotated[str, Form()] = "",
    reread_host_key: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = RemoteUpdate(url=url, auth=auth, username=username, token=token or None,  # type: ignore[arg-type]
                            new_ssh_key=bool(new_ssh_key), push_scope=push_scope,  # type: ignore[arg-type]
                            webhook_secret=webhook_secret or None,
                            ssh_host_key="" if reread_host_key else (ssh_host_key or None))
        service.set_remote(session=session, actor=admin, secret_key=ctx.secret_key, data=data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        flash(request, "error", f"{field}: {first['msg']}")
        return RedirectResponse("/settings/repository", status_code=303)
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse("/settings/repository", status_code=303)
    flash(request, "success", "Remote saved. Calcifer pushes main in the background.")
    return RedirectResponse("/settings/repository", status_code=303)


@pages.post("/settings/repository/delete")
def repository_delete(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    service.delete_remote(session=session, actor=admin)
    flash(request, "success", "Remote disconnected; nothing was deleted on it.")
    return RedirectResponse("/settings/repository", status_code=303)


@pages.post("/settings/repository/push")
def repository_push(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> Response:
    pushed, error = service.push_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key)
    if error:
        flash(request, "error", f"Push failed: {error}")
    else:
        flash(request, "success", f"Pushed main ({(pushed or '')[:10]}).")
    return RedirectResponse("/settings/repository", status_code=303)


@pages.post("/settings/repository/fetch")
def repository_fetch(request: Request, ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> Response:
    report = service.fetch_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key,
                               worktrees_dir=ctx.settings.worktrees_dir)
    flash(request, "error" if report.outcome in REFUSED else "success", report.message)
    return RedirectResponse("/settings/repository", status_code=303)


@pages.get("/repository/outside-changes", response_class=HTMLResponse)
def outside_changes_page(request: Request, session: SessionDep, user: RequireViewer,
                         cursor: CursorQuery = None) -> Response:
    rows, next_cursor = service.list_outside_changes(session=session, limit=50, cursor=cursor)
    return render(request, "remote/outside.html", {"changes": rows, "next_cursor": next_cursor}, nav="dashboard")


@pages.get("/repository/outside-changes/panel", response_class=HTMLResponse)
def outside_changes_panel(request: Request, session: SessionDep, user: RequireViewer) -> Response:
    rows, more = service.list_outside_changes(session=session, limit=PANEL_ROWS, cursor=None, pending_only=True)
    return render_fragment(request, "remote/_panel.html", {"changes": rows, "more": more is not None})


@pages.post("/repository/outside-changes/{sha}/adopt")
def outside_change_adopt(request: Request, ctx: CtxDep, session: SessionDep, editor: RequireEditor,
                         sha: str) -> Response:
    try:
        item_id = service.adopt(session=session, actor=editor, sha=sha, workspace=_workspace(ctx),
                                categories=ctx.settings.work_categories)
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse("/repository/outside-changes", status_code=303)
    flash(request, "success", f"Adopted into work item #{item_id}, completed with its changelog entry.")
    return RedirectResponse(f"/work/{item_id}", status_code=303)


# -- API ----------------------------------------------------------------------------------------------

@api.get("/remote", response_model=RemotePublic)
def remote_get(ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> dict[str, Any]:
    """The remote and its sync state (no secret is ever returned). 404 `no_remote` when none is set."""
    service.require_config(session=session)
    return service.state(session=session, repo_path=ctx.repo_path) or {}


@api.put("/remote", response_model=RemotePublic)
def remote_put(ctx: CtxDep, session: SessionDep, admin: RequireAdmin, body: RemoteUpdate) -> dict[str, Any]:
    """Connect the repository to a remote (or change how). With `auth: ssh` the answer's `public_key` is
    the key to add on the forge."""
    service.set_remote(session=session, actor=admin, secret_key=ctx.secret_key, data=body)
    return service.state(session=session, repo_path=ctx.repo_path) or {}


@api.delete("/remote", status_code=204, response_class=Response)
def remote_delete(session: SessionDep, admin: RequireAdmin) -> Response:
    service.delete_remote(session=session, actor=admin)
    return Response(status_code=204)


@api.post("/push", response_model=PushReportPublic)
def push(ctx: CtxDep, session: SessionDep, admin: RequireAdmin) -> dict[str, Any]:
    """Push now (main, and open work items' branches when so configured). A failure is in `error`, with
    the remote's message, and is retried in the background with backoff."""
    pushed, error = service.push_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key)
    return {"pushed": pushed, "error": error}


@api.post("/fetch", response_model=FetchReportPublic)
def fetch(ctx: CtxDep, session: SessionDep, editor: RequireEditor) -> dict[str, Any]:
    """Fetch the remote's main and integrate its outside commits. 409 when they cannot land (files in
    conflict, refused content, validation problems, remote unreachable): main is then untouched."""
    report = service.fetch_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key,
                               worktrees_dir=ctx.settings.worktrees_dir)
    _refuse(report)
    return _report_json(report)


@api.post("/webhook", response_model=WebhookAnswer,
          responses={401: {"model": ErrorBody,
                           "description": "No valid `X-Hub-Signature-256` of the body with the shared secret."}})
async def webhook(request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Public: the forge calls this on a push. Verified by `X-Hub-Signature-256: sha256=HMAC(secret, body)`
    (or `X-Gitea-Signature`); then fetches and integrates like `POST /fetch`."""
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    return await run_in_threadpool(_webhook_fetch, ctx, body, headers)


def _webhook_fetch(ctx: AppContext, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    with ctx.session_factory() as session:
        if not service.verify_webhook(session=session, secret_key=ctx.secret_key, body=body, headers=headers):
            raise NotAuthenticated("The webhook's signature is missing or wrong: sign the body with the "
                                   "shared secret set under Settings → Repository.", code="bad_signature")
        report = service.fetch_now(session=session, repo_path=ctx.repo_path, secret_key=ctx.secret_key,
                                   worktrees_dir=ctx.settings.worktrees_dir)
    return {"outcome": report.outcome, "message": report.message}


@api.get("/outside-changes", response_model=OutsideChangeList)
def outside_changes(session: SessionDep, user: RequireViewer, limit: LimitQuery = DEFAULT_LIMIT,
                    cursor: CursorQuery = None, pending: bool = False) -> dict[str, Any]:
    """Commits that reached main from the remote, newest first; `pending=true`: those not adopted yet."""
    rows, next_cursor = service.list_outside_changes(session=session, limit=limit, cursor=cursor,
                                                     pending_only=pending)
    return {"items": [_change_json(row) for row in rows], "next_cursor": next_cursor}


@api.get("/outside-changes/{sha}", response_model=OutsideChangePublic)
def outside_change(session: SessionDep, user: RequireViewer, sha: str) -> dict[str, Any]:
    return _change_json(service.get_outside_change(session=session, sha=sha))


@api.post("/outside-changes/{sha}/adopt", response_model=OutsideChangePublic)
def outside_change_adopt_api(ctx: CtxDep, session: SessionDep, editor: RequireEditor, sha: str,
                             body: AdoptRequest | None = None) -> dict[str, Any]:
    """Adopt the change into a work item: a completed standard work item documenting it, whose branch adds
    its CHANGES.md entry. 409 `already_adopted`."""
    body = body or AdoptRequest()
    if body.entry_text is not None and not body.entry_text.strip():
        raise Invalid("entry_text is empty: write the changelog entry, or leave it out.")
    service.adopt(session=session, actor=editor, sha=sha, workspace=_workspace(ctx),
                  categories=ctx.settings.work_categories, entry_text=body.entry_text, notes=body.notes)
    return _change_json(service.get_outside_change(session=session, sha=sha))


@api.post("/branches/work-item", status_code=201, response_model=BranchWorkItemPublic)
def branch_work_item(ctx: CtxDep, session: SessionDep, editor: RequireEditor,
                     body: BranchWorkItemCreate) -> dict[str, Any]:
    """Create a work item from a branch someone pushed to the remote: its branch starts at that branch's
    tip (fetched, checked like outside changes). 409 `remote_branch_refused` / `remote_failed`."""
    data = WorkItemCreate.model_validate(body.model_dump(exclude={"branch"}))
    item_id = service.work_item_from_branch(session=session, actor=editor, secret_key=ctx.secret_key,
                                            workspace=_workspace(ctx), categories=ctx.settings.work_categories,
                                            data=data, branch=body.branch)
    item = work_service.get_work_item(session=session, item_id=item_id)
    return {"work_item_id": item_id, "branch": item.branch}
