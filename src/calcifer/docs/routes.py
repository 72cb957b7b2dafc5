"""Reading docs: pages and JSON API, thin handlers over `docs.service`, `.views`, `.history`.

Writing (edit, new, preview) lives in `edit_routes.py`.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from calcifer.deps import CtxDep, CurrentUser, SessionDep
from calcifer.docs import history, service, sidebar, views
from calcifer.docs.render import TocEntry
from calcifer.docs.schemas import (
    DocDiffPublic,
    DocHistoryPublic,
    DocListPublic,
    DocPublic,
)
from calcifer.gitrepo import CommitInfo
from calcifer.history.diffview import other_mode, view_mode
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["docs"])

PAGE_SIZE = 200


def _commit_public(c: CommitInfo | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"id": c.id, "short_id": c.short_id, "summary": c.summary, "author": c.author_name,
            "time": c.time.isoformat()}


def _entry_public(e: history.HistoryEntry | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"commit": _commit_public(e.commit), "change": e.change, "work_item_id": e.work_item_id,
            "work_item_title": e.work_item_title}


def _summary_public(d: views.DocSummary) -> dict[str, Any]:
    return {"path": d.path, "title": d.title, "updated_at": d.updated_at.isoformat() if d.updated_at else None,
            "commit": d.commit_id, "template": d.is_template}


def _toc_public(toc: list[TocEntry]) -> list[dict[str, Any]]:
    return [asdict(t) for t in toc]


def _url_path(path: str) -> str:
    return quote(path, safe="/")


# =============================== JSON API ===============================

@api.get("/docs", response_model=DocListPublic)
def api_docs(
    session: SessionDep, user: CurrentUser, ctx: CtxDep,
    prefix: Annotated[str | None, Query(description="only docs under this folder, e.g. docs/runbooks")] = None,
    templates: Annotated[bool, Query(description="list docs/_templates/ instead of the docs")] = False,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Docs on main, sorted by path, a page at a time (at most 500 a page)."""
    items, next_cursor = views.list_docs(session=session, repo_path=ctx.repo_path, prefix=prefix,
                                           templates=templates, limit=limit, cursor=cursor)
    return {"items": [_summary_public(d) for d in items], "next_cursor": next_cursor, "limit": limit}


# Declared before /docs/{path:path}: that pattern would swallow ".../history" and ".../diff" otherwise.
@api.get("/docs/{path:path}/history", response_model=DocHistoryPublic)
def api_doc_history(
    session: SessionDep, user: CurrentUser, ctx: CtxDep, path: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    before: Annotated[str | None, Query(deprecated=True, description="the older name of `cursor`")] = None,
) -> dict[str, Any]:
    """Commits on main that changed the doc, newest first, each with its work item."""
    page = history.doc_history(session=session, repo_path=ctx.repo_path, path=path, limit=limit,
                               before=cursor or before)
    return {"path": page.path, "exists": page.exists, "items": [_entry_public(e) for e in page.entries],
            "next_cursor": page.next_cursor}


@api.get("/docs/{path:path}/diff", response_model=DocDiffPublic, response_model_by_alias=True)
def api_doc_diff(
    user: CurrentUser, ctx: CtxDep, path: str,
    old: Annotated[str | None, Query(alias="from", description="commit id (default: the previous version)")] = None,
    new: Annotated[str | None, Query(alias="to", description="commit id (default: main's tip)")] = None,
) -> dict[str, Any]:
    """Unified diff of the doc between two commits of main's history."""
    diff = history.doc_diff(repo_path=ctx.repo_path, path=path, old=old, new=new)
    return {"path": diff.path, "from": _commit_public(diff.old), "to": _commit_public(diff.new),
            "identical": diff.identical, "truncated": diff.truncated, "added": diff.added, "removed": diff.removed,
            "diff": "\n".join(line.text for line in diff.lines)}


@api.get("/docs/{path:path}", response_model=DocPublic)
def api_doc(
    session: SessionDep, user: CurrentUser, ctx: CtxDep, path: str,
    rev: Annotated[str | None, Query(description="a commit id of main's history (default: main's tip)")] = None,
) -> dict[str, Any]:
    """One doc: its markdown, sanitised HTML, title, table of contents, front matter, backlinks, last change."""
    view = views.view_doc(session=session, repo_path=ctx.repo_path, path=path, rev=rev)
    return {
        "path": view.path, "markdown": view.markdown, "html": view.rendered.html, "title": view.title,
        "toc": _toc_public(view.rendered.toc), "front_matter": view.rendered.front_matter,
        "links": view.rendered.links,
        "backlinks": [asdict(b) for b in view.backlinks],
        "last_commit": _entry_public(view.last_change), "commit": view.commit.id,
    }


# =============================== pages ===============================

def _crumbs(path: str) -> list[tuple[str, str]]:
    """(label, url) for each folder above ``path`` (the last component is the page itself)."""
    parts = path.split("/")[:-1]
    crumbs = []
    for depth in range(1, len(parts) + 1):
        folder = "/".join(parts[:depth])
        crumbs.append((parts[depth - 1], "/docs" if folder == "docs" else "/docs?" + urlencode({"prefix": folder})))
    return crumbs


def _toc(toc: list[TocEntry]) -> list[TocEntry]:
    # Sections and subsections; a lone top heading repeats the title, so it is left out when there are more.
    shown = [t for t in toc if 2 <= t.level <= 3]
    return shown if shown else [t for t in toc if t.level <= 3]


@pages.get("/docs", response_class=HTMLResponse)
def tree_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, prefix: str | None = None,
              cursor: str | None = None) -> Response:
    folder = service.validate_prefix(prefix)
    docs, next_cursor = views.list_docs(session=session, repo_path=ctx.repo_path, prefix=folder, direct=True,
                                          limit=PAGE_SIZE, cursor=cursor or None)
    at_root = folder is None and not cursor
    templates, more_templates = views.list_docs(session=session, repo_path=ctx.repo_path, templates=True,
                                                  limit=100) if at_root else ([], None)
    params = {"prefix": folder} if folder else {}
    return render(request, "docs/tree.html", {
        "docs": docs, "folders": [] if cursor else views.list_folders(session=session, repo_path=ctx.repo_path,
                                                                         prefix=folder),
        "templates": templates, "more_templates": more_templates is not None, "prefix": folder,
        "crumbs": _crumbs(folder) if folder else [], "total": views.count_docs(session=session),
        "next_url": ("/docs?" + urlencode({**params, "cursor": next_cursor})) if next_cursor else None,
    }, nav="docs")


@pages.get("/docs/view/{path:path}", response_class=HTMLResponse)
def view_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, path: str,
              rev: str | None = None) -> Response:
    view = views.view_doc(session=session, repo_path=ctx.repo_path, path=path, rev=rev or None)
    return render(request, "docs/view.html", {
        "view": view, "crumbs": _crumbs(view.path), "url_path": _url_path(view.path),
        "toc": _toc(view.rendered.toc),
        "front_matter": {k: v for k, v in view.rendered.front_matter.items() if k != "title"},
        "tree": sidebar.page_tree(session=session, repo_path=ctx.repo_path, path=view.path),
    }, nav="docs")


@pages.get("/docs/history/{path:path}", response_class=HTMLResponse)
def history_page(request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep, path: str,
                 before: str | None = None) -> Response:
    page = history.doc_history(session=session, repo_path=ctx.repo_path, path=path, limit=50, before=before or None)
    url_path = _url_path(page.path)
    return render(request, "docs/history.html", {
        "page": page, "crumbs": _crumbs(page.path), "url_path": url_path, "name": posixpath.basename(page.path),
        "next_url": f"/docs/history/{url_path}?" + urlencode({"before": page.next_cursor}) if page.next_cursor
        else None,
    }, nav="docs")


@pages.get("/docs/diff/{path:path}", response_class=HTMLResponse)
def diff_page(request: Request, user: CurrentUser, ctx: CtxDep, path: str,
              old: Annotated[str | None, Query(alias="from")] = None,
              new: Annotated[str | None, Query(alias="to")] = None, view: str | None = None) -> Response:
    diff = history.doc_diff(repo_path=ctx.repo_path, path=path, old=old or None, new=new or None, view=True)
    mode = view_mode(view)
    return render(request, "docs/diff.html", {
        "diff": diff, "crumbs": _crumbs(diff.path), "url_path": _url_path(diff.path),
        "name": posixpath.basename(diff.path), "mode": mode, "other_mode": other_mode(mode),
        "mode_params": {"from": diff.old.id, "to": diff.new.id},
    }, nav="docs")


@pages.get("/docs/raw/{path:path}")
def raw_file(request: Request, user: CurrentUser, ctx: CtxDep, path: str) -> Response:
    """An image under docs/ on main, as the browser needs it for <img>; never a page that runs code."""
    image = service.read_image(repo_path=ctx.repo_path, path=path)
    etag = f'"{image.blob_id}"'
    headers = {
        "Content-Security-Policy": service.RAW_CSP,
        "Cache-Control": "private, max-age=60",
        "ETag": etag,
        # An SVG opened directly is downloaded, not shown: it could hold script (the CSP blocks that too).
        "Content-Disposition": ("attachment" if image.content_type == "image/svg+xml" else "inline")
        + f"; filename*=UTF-8''{quote(image.filename, safe='')}",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(content=image.data, media_type=image.content_type, headers=headers)
