"""The changelog's page and JSON API: main's CHANGES.md, thin handlers over the services that read it.

The filtered, work-item-aware listing is ``docs.history.changelog_entries`` (it joins the docs index);
the plain listing is ``work.service.main_changelog_entries`` (it reads main's file).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from calcifer.changelog.choices import ChangeType
from calcifer.changelog.schemas import ChangelogListPublic, ChangelogRowListPublic
from calcifer.deps import CtxDep, CurrentUser, SessionDep
from calcifer.docs import history as docs_history
from calcifer.errors import Invalid
from calcifer.listing import decode_cursor, keyset_page
from calcifer.web.templating import render
from calcifer.work import service as work_service

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["changelog"])

PAGE_SIZE = 100


# =============================== JSON API ===============================

@api.get("/changelog", response_model=ChangelogListPublic)
def api_changelog(
    ctx: CtxDep, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """main's CHANGES.md entries, newest first, a page at a time."""
    entries = work_service.main_changelog_entries(repo_path=ctx.repo_path, limit=1_000_000)
    # Numbered from the oldest: merges add entries on top, so an older entry keeps its number.
    numbered = [(len(entries) - n, e) for n, e in enumerate(entries)]
    legacy = decode_cursor(cursor, 1)[0] if cursor else None
    if isinstance(legacy, int) and not isinstance(legacy, bool) and 0 <= legacy <= 1_000_000:
        numbered, cursor = numbered[legacy:], None  # an offset, what this list gave out before
    page, next_cursor = keyset_page(numbered, key=lambda row: (-row[0],), types=(int,), cursor=cursor, limit=limit)
    return {"items": [{"section": e.section, "date": e.date.isoformat() if e.date else None,
                       "type": e.type.value if e.type else None, "text": e.text,
                       "work_item_id": e.work_item_id} for _, e in page],
            "next_cursor": next_cursor}


@api.get("/changelog/entries", response_model=ChangelogRowListPublic)
def api_changelog_entries(
    session: SessionDep, user: CurrentUser, ctx: CtxDep,
    date_from: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD, inclusive")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="YYYY-MM-DD, inclusive")] = None,
    type: Annotated[str | None, Query(description="Added, Changed, Deprecated, Removed, Fixed or Security")] = None,
    service_slug: Annotated[str | None, Query(alias="service", description="a service slug")] = None,
    q: Annotated[str | None, Query(description="text the entry contains")] = None,
    limit: Annotated[int, Query(ge=1, le=docs_history.MAX_CHANGELOG_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """CHANGES.md entries on main, newest first, filtered; each with its work item and merge commit."""
    filters = docs_history.changelog_filter(date_from=date_from, date_to=date_to, type=type,
                                            service=service_slug, text=q)
    rows, next_cursor = docs_history.changelog_entries(session=session, repo_path=ctx.repo_path,
                                                       filters=filters, limit=limit, cursor=cursor)
    return {"items": [{"section": r.section, "date": r.date.isoformat() if r.date else None, "type": r.type,
                       "text": r.text, "work_item_id": r.work_item_id, "work_item_title": r.work_item_title,
                       "service": r.service, "commit": r.commit} for r in rows],
            "next_cursor": next_cursor}


# =============================== pages ===============================

@pages.get("/changelog", response_class=HTMLResponse)
def changelog_page(
    request: Request, session: SessionDep, user: CurrentUser, ctx: CtxDep,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    type: str | None = None, service_slug: Annotated[str | None, Query(alias="service")] = None,
    q: str | None = None, cursor: str | None = None,
) -> Response:
    raw = {"from": date_from or "", "to": date_to or "", "type": type or "", "service": service_slug or "",
           "q": q or ""}
    try:
        filters = docs_history.changelog_filter(date_from=date_from, date_to=date_to, type=type,
                                                service=service_slug, text=q)
        rows, next_cursor = docs_history.changelog_entries(session=session, repo_path=ctx.repo_path,
                                                           filters=filters, limit=PAGE_SIZE, cursor=cursor or None)
    except Invalid as exc:  # show the form again with the reason, keeping what was typed
        return render(request, "changelog/changelog.html", {
            "sections": [], "filters": raw, "types": [t.value for t in ChangeType], "error": exc.message,
            "next_url": None}, status_code=422, nav="docs")
    params = filters.as_params()
    sections: dict[str, list[docs_history.ChangelogRow]] = {}
    for row in rows:  # newest first already; a section's entries are contiguous
        sections.setdefault(row.section, []).append(row)
    return render(request, "changelog/changelog.html", {
        "sections": list(sections.items()), "filters": params, "types": [t.value for t in ChangeType], "error": "",
        "next_url": "/changelog?" + urlencode({**params, "cursor": next_cursor}) if next_cursor else None,
    }, nav="docs")
