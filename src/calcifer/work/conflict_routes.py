"""Conflicts left by "Update from main", resolved in the browser or through the API: thin handlers over
`work.service` (``conflicts``, ``resolve_conflict``, ``finish_conflicts``).

The page works without JavaScript (one form per decision); htmx, when it runs, swaps only the files' part
of the page after each decision.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer import gitrepo as git
from calcifer.deps import CurrentUser, CursorQuery, LimitQuery, RequireEditor, SessionDep
from calcifer.errors import Conflict, Invalid
from calcifer.listing import DEFAULT_LIMIT, keyset_page
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.work import service
from calcifer.work.choices import WorkStatus
from calcifer.work.routes import WorkspaceDep
from calcifer.work.schemas import (
    ConflictFilePublic,
    ConflictListPublic,
    ConflictResolve,
    ConflictsResolvedPublic,
)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["work items"])


def file_public(f: git.ConflictFile) -> ConflictFilePublic:
    return ConflictFilePublic.model_validate({
        "path": f.path, "resolved": f.resolved, "text": f.text, "base": f.base, "ours": f.ours, "theirs": f.theirs,
        "ours_deleted": f.ours_deleted, "theirs_deleted": f.theirs_deleted, "merged": f.merged,
        "unresolved_hunks": f.unresolved_hunks,
        "hunks": [{"number": h.number, "base": h.base, "ours": h.ours, "theirs": h.theirs,
                   "base_lines": vars(h.base_lines), "ours_lines": vars(h.ours_lines),
                   "theirs_lines": vars(h.theirs_lines), "resolved": h.resolved} for h in f.hunks],
    })


# =============================== JSON API ===============================

@api.get("/work-items/{item_id}/conflicts", response_model=ConflictListPublic)
def api_conflicts(session: SessionDep, user: CurrentUser, item_id: int, limit: LimitQuery = DEFAULT_LIMIT,
                  cursor: CursorQuery = None) -> ConflictListPublic:
    """The files the update from main in progress conflicted in, by path, resolved or not: base, ours (the
    branch) and theirs (main), the merged text so far, and the hunks with their line ranges."""
    files = service.conflicts(session=session, item_id=item_id)
    page, next_cursor = keyset_page(files, key=lambda f: (f.path,), types=(str,), cursor=cursor, limit=limit)
    return ConflictListPublic(items=[file_public(f) for f in page], next_cursor=next_cursor,
                              unresolved=[f.path for f in files if not f.resolved])


@api.post("/work-items/{item_id}/conflicts/resolve", response_model=ConflictsResolvedPublic, status_code=201)
def api_finish(session: SessionDep, user: RequireEditor, item_id: int,
               workspace: WorkspaceDep) -> ConflictsResolvedPublic:
    """Commit the resolution (a merge commit with both parents). 409 `unresolved_conflicts` with every path
    still conflicted, or `invalid_resolution` with every problem the merge check would find."""
    commit = service.finish_conflicts(session=session, actor=user, item_id=item_id, workspace=workspace)
    return ConflictsResolvedPublic(commit=commit)


@api.put("/work-items/{item_id}/conflicts/{path:path}", response_model=ConflictFilePublic)
def api_resolve_file(session: SessionDep, user: RequireEditor, item_id: int, path: str,
                     data: ConflictResolve) -> ConflictFilePublic:
    """Resolve one conflicted file, or some of its hunks: exactly one of `content`, `choices` or `take`.
    Once no conflict marker is left the file is staged (resolved)."""
    choices = ([git.HunkChoice(number=c.hunk, take=c.take, text=c.text) for c in data.choices]
               if data.choices is not None else None)
    file = service.resolve_conflict(session=session, actor=user, item_id=item_id, path=path,
                                    content=data.content, choices=choices, take=data.take)
    return file_public(file)


# =============================== pages ===============================

def _back(item_id: int, anchor: str = "conflict-files") -> RedirectResponse:
    return RedirectResponse(f"/work/{item_id}/conflicts#{anchor}", status_code=303)


@pages.get("/work/{item_id}/conflicts", response_class=HTMLResponse)
def conflicts_page(request: Request, session: SessionDep, user: CurrentUser, item_id: int) -> Response:
    item = service.get_work_item(session=session, item_id=item_id)
    files = service.conflicts(session=session, item_id=item_id)
    is_open = item.status in (WorkStatus.PLANNING.value, WorkStatus.IN_PROGRESS.value)
    return render(request, "work/conflicts.html", {
        "item": item, "files": files, "is_open": is_open,
        "unresolved": [f.path for f in files if not f.resolved],
    }, nav="work")


def _attempt(request: Request, item_id: int, anchor: str, action: Any) -> Response:
    try:
        file = action()
    except (Conflict, Invalid) as exc:
        flash(request, "error", exc.message)
        return _back(item_id, anchor)
    flash(request, "success", f"{file.path} is resolved." if file.resolved
          else f"{file.path}: {file.unresolved_hunks} hunk(s) left to decide.")
    return _back(item_id, anchor)


@pages.post("/work/{item_id}/conflicts/hunk")
def hunk_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                path: Annotated[str, Form()] = "", hunk: Annotated[int, Form(ge=1, le=100_000)] = 1,
                take: Annotated[str, Form()] = "", text: Annotated[str | None, Form()] = None,
                anchor: Annotated[str, Form(pattern=r"^[a-z0-9-]{0,40}$")] = "conflict-files") -> Response:
    """One hunk decided: take ours, theirs or both, or the text written for it (take=text)."""
    choice = (git.HunkChoice(number=hunk, text=(text or "").replace("\r\n", "\n")) if take == "text"
              else git.HunkChoice(number=hunk, take=take))
    return _attempt(request, item_id, anchor, lambda: service.resolve_conflict(
        session=session, actor=user, item_id=item_id, path=path, choices=[choice]))


@pages.post("/work/{item_id}/conflicts/file")
def file_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                path: Annotated[str, Form()] = "", content: Annotated[str | None, Form()] = None,
                take: Annotated[str | None, Form()] = None,
                anchor: Annotated[str, Form(pattern=r"^[a-z0-9-]{0,40}$")] = "conflict-files") -> Response:
    """The whole merged text saved, or one side's whole file kept (take=ours|theirs)."""
    if take:
        return _attempt(request, item_id, anchor, lambda: service.resolve_conflict(
            session=session, actor=user, item_id=item_id, path=path, take=take))
    return _attempt(request, item_id, anchor, lambda: service.resolve_conflict(
        session=session, actor=user, item_id=item_id, path=path, content=(content or "").replace("\r\n", "\n")))


@pages.post("/work/{item_id}/conflicts/resolve")
def finish_submit(request: Request, session: SessionDep, user: RequireEditor, item_id: int,
                  workspace: WorkspaceDep) -> Response:
    try:
        commit = service.finish_conflicts(session=session, actor=user, item_id=item_id, workspace=workspace)
    except Conflict as exc:
        flash(request, "error", exc.message + " " + " ".join(p.message for p in exc.problems))
        return _back(item_id, "resolve")
    flash(request, "success", f"Conflicts resolved: main is merged into the branch as {commit[:10]}.")
    return RedirectResponse(f"/work/{item_id}#merge", status_code=303)
