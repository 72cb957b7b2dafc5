"""Main's history: the /history pages and /api/v1/commits, thin handlers over `history.service`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from calcifer.deps import CtxDep, CurrentUser, SessionDep
from calcifer.history import service
from calcifer.history.schemas import CommitDetailPublic, CommitListPublic
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["history"])

PAGE_SIZE = 50


def _summary(e: service.CommitEntry) -> dict[str, Any]:
    c = e.commit
    return {"id": c.id, "short_id": c.short_id, "summary": c.summary, "author": c.author_name,
            "author_email": c.author_email, "time": c.time, "parents": c.parents,
            "work_item_id": e.work_item_id, "work_item_title": e.work_item_title,
            "files_changed": e.files_changed, "files": e.files}


@api.get("/commits", response_model=CommitListPublic)
def api_commits(
    session: SessionDep, user: CurrentUser, ctx: CtxDep,
    ref: Annotated[str, Query(description="only main is kept as history")] = service.MAIN_REF,
    path: Annotated[str | None, Query(description="only commits that changed this file or folder")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Main's first-parent commits, newest first, each with its work item and the files it changed."""
    page = service.list_commits(session=session, repo_path=ctx.repo_path, ref=ref, path=path, limit=limit,
                                cursor=cursor or None)
    return {"items": [_summary(e) for e in page.entries], "next_cursor": page.next_cursor, "path": page.path}


@api.get("/commits/{commit_id}", response_model=CommitDetailPublic)
def api_commit(session: SessionDep, user: CurrentUser, ctx: CtxDep, commit_id: str) -> dict[str, Any]:
    """One commit with every file it changed against its first parent, each with a unified diff."""
    detail = service.commit_detail(session=session, repo_path=ctx.repo_path, commit_id=commit_id)
    return {"commit": _summary(detail.entry), "message": detail.entry.commit.message,
            "files": [asdict(f) for f in detail.files], "truncated": detail.truncated,
            "files_left_out": detail.files_left_out}


@pages.get("/history", response_class=HTMLResponse)
def history_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep,
                 path: str | None = None, cursor: str | None = None) -> Response:
    page = service.list_commits(session=session, repo_path=ctx.repo_path, path=path or None, limit=PAGE_SIZE,
                                cursor=cursor or None)
    params = {"path": page.path} if page.path else {}
    next_url = "/history?" + urlencode({**params, "cursor": page.next_cursor}) if page.next_cursor else None
    return render(request, "history/list.html", {"page": page, "next_url": next_url}, nav="history")


@pages.get("/history/{commit_id}", response_class=HTMLResponse)
def commit_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, commit_id: str) -> Response:
    detail = service.commit_detail(session=session, repo_path=ctx.repo_path, commit_id=commit_id)
    return render(request, "history/commit.html", {"detail": detail}, nav="history")
