"""Comments, watching and the work-item timeline: the JSON API and the page panel (loaded by htmx into
the work item, incident, service and doc pages). Viewers may comment and watch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.auth import queries as people
from calcifer.deps import CtxDep, CurrentUser, CursorQuery, LimitQuery, SessionDep
from calcifer.discussion import service
from calcifer.discussion.choices import WATCHABLE, TargetKind
from calcifer.discussion.schemas import (
    CommentCreate,
    CommentDetailPublic,
    CommentListPublic,
    CommentPublic,
    CommentUpdate,
    TimelinePublic,
    UsernameListPublic,
    WatchPublic,
)
from calcifer.errors import DomainError
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["discussion"])


def _list(session: Any, target: service.Target, limit: int, cursor: str | None) -> dict[str, Any]:
    rows = service.list_comments(session=session, kind=target.kind, key=target.key, limit=limit,
                                 after_id=id_cursor(cursor))
    return {"items": [service.public(c) for c in rows], "next_cursor": next_id_cursor([c.id for c in rows], limit)}


def _post(session: Any, user: Any, target: service.Target, data: CommentCreate) -> dict[str, Any]:
    return service.public(service.add_comment(session=session, actor=user, target=target, body=data.body))


# =============================== JSON API ===============================

@api.get("/work-items/{item_id}/comments", response_model=CommentListPublic)
def api_work_item_comments(session: SessionDep, ctx: CtxDep, user: CurrentUser, item_id: int,
                           limit: LimitQuery = 50, cursor: CursorQuery = None) -> dict[str, Any]:
    """Oldest first, a page at a time."""
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.WORK_ITEM,
                                    key=str(item_id))
    return _list(session, target, limit, cursor)


@api.post("/work-items/{item_id}/comments", status_code=201, response_model=CommentPublic)
def api_comment_work_item(session: SessionDep, ctx: CtxDep, user: CurrentUser, item_id: int,
                          data: CommentCreate) -> dict[str, Any]:
    """Markdown; `@name` notifies, `#123` links a work item, `service:slug` a service."""
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.WORK_ITEM,
                                    key=str(item_id))
    return _post(session, user, target, data)


@api.get("/incidents/{incident_id}/comments", response_model=CommentListPublic)
def api_incident_comments(session: SessionDep, ctx: CtxDep, user: CurrentUser, incident_id: int,
                          limit: LimitQuery = 50, cursor: CursorQuery = None) -> dict[str, Any]:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.INCIDENT,
                                    key=str(incident_id))
    return _list(session, target, limit, cursor)


@api.post("/incidents/{incident_id}/comments", status_code=201, response_model=CommentPublic)
def api_comment_incident(session: SessionDep, ctx: CtxDep, user: CurrentUser, incident_id: int,
                         data: CommentCreate) -> dict[str, Any]:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.INCIDENT,
                                    key=str(incident_id))
    return _post(session, user, target, data)


@api.get("/services/{slug}/comments", response_model=CommentListPublic)
def api_service_comments(session: SessionDep, ctx: CtxDep, user: CurrentUser, slug: str,
                         limit: LimitQuery = 50, cursor: CursorQuery = None) -> dict[str, Any]:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.SERVICE, key=slug)
    return _list(session, target, limit, cursor)


@api.post("/services/{slug}/comments", status_code=201, response_model=CommentPublic)
def api_comment_service(session: SessionDep, ctx: CtxDep, user: CurrentUser, slug: str,
                        data: CommentCreate) -> dict[str, Any]:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.SERVICE, key=slug)
    return _post(session, user, target, data)


@api.get("/docs/{path:path}/comments", response_model=CommentListPublic)
def api_doc_comments(session: SessionDep, ctx: CtxDep, user: CurrentUser, path: str,
                     limit: LimitQuery = 50, cursor: CursorQuery = None) -> dict[str, Any]:
    """A doc's comments (``path`` as in ``/api/v1/docs/{path}``)."""
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.DOC, key=path)
    return _list(session, target, limit, cursor)


@api.post("/docs/{path:path}/comments", status_code=201, response_model=CommentPublic)
def api_comment_doc(session: SessionDep, ctx: CtxDep, user: CurrentUser, path: str,
                    data: CommentCreate) -> dict[str, Any]:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=TargetKind.DOC, key=path)
    return _post(session, user, target, data)


@api.get("/comments/{comment_id}", response_model=CommentDetailPublic)
def api_comment(session: SessionDep, user: CurrentUser, comment_id: int) -> dict[str, Any]:
    """One comment with its edit history (previous bodies, oldest first)."""
    comment = service.get_comment(session=session, comment_id=comment_id)
    return {**service.public(comment), "history": [
        {"body": e.body, "edited_at": e.edited_at, "editor": e.editor_name}
        for e in service.history(session=session, comment_id=comment_id)]}


@api.patch("/comments/{comment_id}", response_model=CommentPublic)
def api_edit_comment(session: SessionDep, ctx: CtxDep, user: CurrentUser, comment_id: int,
                     data: CommentUpdate) -> dict[str, Any]:
    """Its author, within 15 minutes of posting it; people it now `@mentions` that no earlier version did
    are notified."""
    return service.public(service.edit_comment(session=session, repo_path=ctx.repo_path, actor=user,
                                               comment_id=comment_id, body=data.body))


@api.delete("/comments/{comment_id}", status_code=204)
def api_delete_comment(session: SessionDep, user: CurrentUser, comment_id: int) -> Response:
    """Its author, or an admin (moderation, audited)."""
    service.delete_comment(session=session, actor=user, comment_id=comment_id)
    return Response(status_code=204)


def _watch(session: Any, ctx: Any, user: Any, kind: TargetKind, key: str, watching: bool) -> dict[str, Any]:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=kind, key=key)
    service.set_watching(session=session, actor=user, target=target, watching=watching)
    return {"target_kind": kind.value, "target_key": target.key, "watching": watching}


@api.put("/work-items/{item_id}/watch", response_model=WatchPublic)
def api_watch_work_item(session: SessionDep, ctx: CtxDep, user: CurrentUser, item_id: int) -> dict[str, Any]:
    return _watch(session, ctx, user, TargetKind.WORK_ITEM, str(item_id), True)


@api.delete("/work-items/{item_id}/watch", response_model=WatchPublic)
def api_unwatch_work_item(session: SessionDep, ctx: CtxDep, user: CurrentUser, item_id: int) -> dict[str, Any]:
    return _watch(session, ctx, user, TargetKind.WORK_ITEM, str(item_id), False)


@api.put("/incidents/{incident_id}/watch", response_model=WatchPublic)
def api_watch_incident(session: SessionDep, ctx: CtxDep, user: CurrentUser, incident_id: int) -> dict[str, Any]:
    return _watch(session, ctx, user, TargetKind.INCIDENT, str(incident_id), True)


@api.delete("/incidents/{incident_id}/watch", response_model=WatchPublic)
def api_unwatch_incident(session: SessionDep, ctx: CtxDep, user: CurrentUser, incident_id: int) -> dict[str, Any]:
    return _watch(session, ctx, user, TargetKind.INCIDENT, str(incident_id), False)


@api.put("/services/{slug}/watch", response_model=WatchPublic)
def api_watch_service(session: SessionDep, ctx: CtxDep, user: CurrentUser, slug: str) -> dict[str, Any]:
    return _watch(session, ctx, user, TargetKind.SERVICE, slug, True)


@api.delete("/services/{slug}/watch", response_model=WatchPublic)
def api_unwatch_service(session: SessionDep, ctx: CtxDep, user: CurrentUser, slug: str) -> dict[str, Any]:
    return _watch(session, ctx, user, TargetKind.SERVICE, slug, False)


@api.get("/work-items/{item_id}/timeline", response_model=TimelinePublic)
def api_timeline(session: SessionDep, user: CurrentUser, item_id: int) -> dict[str, Any]:
    """Comments, commits, checklist changes, reviews, status changes and the merge, oldest first."""
    return {"items": service.timeline(session=session, item_id=item_id)}


@api.get("/mention-suggestions", response_model=UsernameListPublic)
def api_mentionable(session: SessionDep, user: CurrentUser,
                    q: Annotated[str, Query(max_length=64, description="the start of a username")] = "",
                    ) -> dict[str, Any]:
    """Usernames for `@` autocomplete (active users, at most 10)."""
    return {"items": people.usernames_like(session=session, prefix=q, limit=10)}


# =============================== pages ===============================

@pages.get("/discussion/panel", response_class=HTMLResponse)
def discussion_panel(request: Request, session: SessionDep, ctx: CtxDep, user: CurrentUser,
                     kind: Annotated[str, Query(max_length=16)],
                     key: Annotated[str, Query(max_length=300)]) -> Response:
    """The comments (and, for a work item, the timeline) of one target, as an htmx fragment."""
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=kind, key=key)
    comments = service.list_comments(session=session, kind=target.kind, key=target.key, limit=200)
    return render_fragment(request, "discussion/_panel.html", {
        "target": target, "comments": [(c, service.render(c.body)) for c in comments],
        "can_edit": service.can_edit, "can_delete": service.can_delete,
        "watchable": target.kind in WATCHABLE,
        "watching": target.kind in WATCHABLE and service.is_watching(session=session, user=user, kind=target.kind,
                                                                   key=target.key),
        "timeline": service.timeline(session=session, item_id=int(target.key))
        if target.kind is TargetKind.WORK_ITEM else None})


@pages.post("/discussion/comments")
def comment_form(request: Request, session: SessionDep, ctx: CtxDep, user: CurrentUser,
                 kind: Annotated[str, Form(max_length=16)], key: Annotated[str, Form(max_length=300)],
                 body: Annotated[str, Form(max_length=30_000)] = "") -> Response:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=kind, key=key)
    try:
        comment = service.add_comment(session=session, actor=user, target=target, body=body)
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"{target.url}#discussion", status_code=303)
    return RedirectResponse(service.comment_url(target.url, comment.id), status_code=303)


@pages.get("/discussion/comments/{comment_id}/edit", response_class=HTMLResponse)
def comment_edit_page(request: Request, session: SessionDep, user: CurrentUser, comment_id: int) -> Response:
    comment = service.get_comment(session=session, comment_id=comment_id)
    return render(request, "discussion/edit.html", {
        "comment": comment, "editable": service.can_edit(comment, user),
        "history": service.history(session=session, comment_id=comment_id),
        "back": service.comment_url(service.target_url(comment.target_kind, comment.target_key), comment.id)})


@pages.post("/discussion/comments/{comment_id}/edit")
def comment_edit_form(request: Request, session: SessionDep, ctx: CtxDep, user: CurrentUser, comment_id: int,
                      body: Annotated[str, Form(max_length=30_000)] = "") -> Response:
    comment = service.get_comment(session=session, comment_id=comment_id)
    back = service.comment_url(service.target_url(comment.target_kind, comment.target_key), comment.id)
    try:
        service.edit_comment(session=session, repo_path=ctx.repo_path, actor=user, comment_id=comment_id,
                             body=body)
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"/discussion/comments/{comment_id}/edit", status_code=303)
    return RedirectResponse(back, status_code=303)


@pages.post("/discussion/comments/{comment_id}/delete")
def comment_delete_form(request: Request, session: SessionDep, user: CurrentUser, comment_id: int) -> Response:
    comment = service.get_comment(session=session, comment_id=comment_id)
    back = service.target_url(comment.target_kind, comment.target_key)
    service.delete_comment(session=session, actor=user, comment_id=comment_id)
    flash(request, "success", "Comment deleted.")
    return RedirectResponse(f"{back}#discussion", status_code=303)


@pages.post("/discussion/watch")
def watch_form(request: Request, session: SessionDep, ctx: CtxDep, user: CurrentUser,
               kind: Annotated[str, Form(max_length=16)], key: Annotated[str, Form(max_length=300)],
               watching: Annotated[str, Form(max_length=5)] = "true") -> Response:
    target = service.resolve_target(session=session, repo_path=ctx.repo_path, kind=kind, key=key)
    on = service.set_watching(session=session, actor=user, target=target, watching=watching == "true")
    flash(request, "success", f"You {'now watch' if on else 'no longer watch'} {target.title}.")
    return RedirectResponse(f"{target.url}#discussion", status_code=303)
