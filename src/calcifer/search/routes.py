"""Search page, its htmx fragments (page results, header dropdown) and the JSON API."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from calcifer.deps import CurrentUser, SessionDep
from calcifer.errors import Invalid
from calcifer.search import service
from calcifer.search.choices import SearchKind
from calcifer.search.schemas import SearchHitPublic, SearchResponse
from calcifer.web.templating import render, render_fragment

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["search"])

INSTANT_LIMIT = 8
KIND_VALUES = {k.value for k in SearchKind}
PAGE_LIMIT = 20


# =============================== JSON API ===============================

@api.get("/search", response_model=SearchResponse)
def api_search(
    session: SessionDep, user: CurrentUser,
    q: Annotated[str, Query(description='Words (all must match); "quoted words" match as a phrase; '
                                        "the last word also matches as a prefix.")] = "",
    kind: Annotated[str | None, Query(description="doc, service, endpoint, work_item, changelog; "
                                                  "several separated by commas")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = 20,
    cursor: str | None = None,
) -> SearchResponse:
    """Ranked search over docs, services, endpoints, work items and changelog entries. Empty `q`: no items."""
    results = service.search(session=session, text_query=q, kinds=service.parse_kinds(kind), limit=limit,
                             cursor=cursor)
    return SearchResponse(
        items=[SearchHitPublic(kind=h.kind, key=h.key, title=h.title, url=h.url, meta=h.meta,
                               snippet=str(h.snippet), score=h.score) for h in results.items],
        total=results.total, counts=results.counts, next_cursor=results.next_cursor)


# =============================== pages ===============================

def _page_context(session: SessionDep, q: str, kind: str, cursor: str | None) -> dict[str, object]:
    context: dict[str, object] = {"q": q, "kind": kind, "kinds": list(SearchKind), "results": None, "error": "",
                                  "kind_options": [(k.value, k.label) for k in SearchKind],
                                  "kind_label": SearchKind(kind).label.lower() if kind in KIND_VALUES else ""}
    try:
        results = service.search(session=session, text_query=q, kinds=service.parse_kinds(kind or None),
                                 limit=PAGE_LIMIT, cursor=cursor)
    except Invalid as exc:  # shown beside the search box, which keeps the text to fix
        context["error"] = exc.message
        return context
    context["results"] = results
    if results.next_cursor:
        context["next_url"] = "/search?" + urlencode({"q": q, "kind": kind, "cursor": results.next_cursor})
    if cursor and cursor.isascii() and cursor.isdigit() and int(cursor) > 0:
        previous = int(cursor) - PAGE_LIMIT
        params: dict[str, object] = {"q": q, "kind": kind}
        if previous > 0:
            params["cursor"] = previous
        context["prev_url"] = "/search?" + urlencode(params)
    return context


@pages.get("/search", response_class=HTMLResponse)
def search_page(request: Request, session: SessionDep, user: CurrentUser, q: str = "", kind: str = "",
                cursor: str | None = None) -> Response:
    return render(request, "search/page.html", _page_context(session, q, kind, cursor))


@pages.get("/search/results", response_class=HTMLResponse)
def search_results(request: Request, session: SessionDep, user: CurrentUser, q: str = "", kind: str = "",
                   cursor: str | None = None) -> Response:
    """The page's results as you type; the address bar follows so reload and back keep the search."""
    response = render_fragment(request, "search/_results.html", _page_context(session, q, kind, cursor))
    params = {k: v for k, v in {"q": q, "kind": kind}.items() if v}
    response.headers["HX-Replace-Url"] = "/search" + ("?" + urlencode(params) if params else "")
    return response


@pages.get("/search/instant", response_class=HTMLResponse)
def search_instant(request: Request, session: SessionDep, user: CurrentUser, q: str = "") -> Response:
    """The header's dropdown: the best few matches while typing in the global search box."""
    error, results = "", None
    try:
        results = service.search(session=session, text_query=q, limit=INSTANT_LIMIT, with_counts=False,
                                 snippet_chars=120)
    except Invalid as exc:
        error = exc.message
    return render_fragment(request, "search/_instant.html", {"q": q, "results": results, "error": error})
