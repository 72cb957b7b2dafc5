"""Admins browse and filter the audit log (page and API)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from calcifer.audit import service
from calcifer.audit.schemas import AuditListPublic
from calcifer.deps import RequireAdmin, SessionDep
from calcifer.errors import Invalid
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["audit"])


def _date(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be a date like 2026-01-31 (got {value[:40]!r}).") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _filters(actor: str | None, action: str | None, object_type: str | None, object_id: str | None,
             since: str | None, until: str | None) -> service.AuditFilter:
    return service.AuditFilter(actor=actor or None, action=action or None, object_type=object_type or None,
                               object_id=object_id or None, since=_date(since, "since"),
                               until=_date(until, "until"))


@pages.get("/settings/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, session: SessionDep, admin: RequireAdmin,
    actor: str | None = None, action: str | None = None, object_type: str | None = None,
    object_id: str | None = None, since: str | None = None, until: str | None = None,
    cursor: int | None = None,
) -> Response:
    filters = _filters(actor, action, object_type, object_id, since, until)
    entries = service.list_entries(session=session, filters=filters, limit=50, before_id=cursor)
    params = {k: v for k, v in {"actor": actor, "action": action, "object_type": object_type,
                                "object_id": object_id, "since": since, "until": until}.items() if v}
    return render(request, "audit/list.html", {
        "entries": entries, "filters": params,
        "object_urls": {e.id: service.object_url(object_type=e.object_type, object_id=e.object_id) for e in entries},
        "actor_urls": {e.id: service.actor_url(e) for e in entries},
        "actions": service.distinct_actions(session=session),
        "next_cursor": entries[-1].id if len(entries) == 50 else None,
    }, nav="settings")


@api.get("/audit", response_model=AuditListPublic)
def audit_api(
    session: SessionDep, admin: RequireAdmin,
    actor: str | None = None, action: str | None = None, object_type: str | None = None,
    object_id: str | None = None, since: str | None = None, until: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Newest first, filtered, a page at a time."""
    filters = _filters(actor, action, object_type, object_id, since, until)
    entries = service.list_entries(session=session, filters=filters, limit=limit, before_id=id_cursor(cursor))
    return {"items": [service.entry_as_dict(e) for e in entries],
            "next_cursor": next_id_cursor([e.id for e in entries], limit)}
