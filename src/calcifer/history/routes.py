"""Main's history: the /history pages and /api/v1/commits, thin handlers over `history.service`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer import gitrepo
from calcifer.deps import CtxDep, CurrentUser, SessionDep
from calcifer.errors import Invalid
from calcifer.history import compare as compare_service
from calcifer.history import service
from calcifer.history.diffview import other_mode, view_mode
from calcifer.history.schemas import CommitDetailPublic, CommitListPublic, ComparePublic
from calcifer.web.templating import render, render_fragment

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
def commit_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, commit_id: str,
                view: str | None = None) -> Response:
    detail = service.commit_detail(session=session, repo_path=ctx.repo_path, commit_id=commit_id, views=True)
    mode = view_mode(view)
    return render(request, "history/commit.html", {"detail": detail, "mode": mode, "other_mode": other_mode(mode)},
                  nav="history")


@api.get("/compare", response_model=ComparePublic)
def api_compare(
    session: SessionDep, user: CurrentUser, ctx: CtxDep,
    base: Annotated[str, Query(description="a branch, tag or commit id")],
    head: Annotated[str, Query(description="a branch, tag or commit id")],
) -> dict[str, Any]:
    """What ``head`` changed since it left ``base`` (``base...head``): its commits, and each changed file
    with a unified diff (renames detected, binary files named)."""
    result = compare_service.compare(session=session, repo_path=ctx.repo_path, base=base, head=head,
                                     inline_lines=0, texts=True)
    return {"base": base, "head": head, "base_commit": result.base_id, "head_commit": result.head_id,
            "merge_base": result.merge_base,
            "commits": [{"id": c.commit.id, "short_id": c.commit.short_id, "summary": c.commit.summary,
                         "author": c.commit.author_name, "time": c.commit.time, "work_item_id": c.work_item_id,
                         "work_item_title": c.work_item_title} for c in result.commits],
            "commits_total": result.commits_total, "files": [asdict(f) for f in result.texts],
            "files_total": result.files_total}


def _split_spec(spec: str) -> tuple[str, str]:
    base, dots, head = spec.partition("...")
    if not dots or not base or not head:
        raise Invalid("Compare two refs as /compare/BASE...HEAD (three dots), e.g. /compare/main...my-branch.",
                      code="bad_compare")
    return base, head




@pages.get("/compare", response_class=HTMLResponse)
def compare_form(request: Request, user: CurrentUser, ctx: CtxDep, base: str | None = None,
                 head: str | None = None) -> Response:
    if base and head:
        return RedirectResponse(f"/compare/{quote(base, safe='/')}...{quote(head, safe='/')}", status_code=303)
    branches = gitrepo.list_branches(repo_path=ctx.repo_path)
    return render(request, "history/compare_form.html", {"branches": branches, "base": base or "main",
                                                          "head": head or ""}, nav="history")


@pages.get("/compare-file", response_class=HTMLResponse)
def compare_file_fragment(request: Request, user: CurrentUser, ctx: CtxDep, base: str, head: str, path: str,
                          view: str | None = None, old: str | None = None) -> Response:
    """One file of a comparison (``old``: a renamed file's path before), drawn whole: what the compare
    page and a work item's changes load on demand (htmx)."""
    file = compare_service.compare_file(repo_path=ctx.repo_path, base=base, head=head, path=path,
                                        old_path=old or None)
    return render_fragment(request, "history/_compare_file.html", {"file": file, "mode": view_mode(view)})


@pages.get("/compare/{spec:path}", response_class=HTMLResponse)
def compare_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, spec: str,
                 view: str | None = None) -> Response:
    base, head = _split_spec(spec)
    result = compare_service.compare(session=session, repo_path=ctx.repo_path, base=base, head=head)
    mode = view_mode(view)
    return render(request, "history/compare.html", {"result": result, "mode": mode,
                                                     "other_mode": other_mode(mode)},
                  nav="history")
