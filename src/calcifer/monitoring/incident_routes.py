"""Incident and maintenance-window pages and JSON API (thin: parse, call the service, render)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from calcifer.auth.choices import Role
from calcifer.auth.roles import has_role
from calcifer.deps import CurrentUser, RequireEditor, SessionDep, SettingsDep
from calcifer.errors import DomainError, Invalid
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.monitoring import incidents, maintenance
from calcifer.monitoring.choices import IncidentStatus, MaintenanceKind
from calcifer.monitoring.models import Incident
from calcifer.monitoring.schemas import (
    IncidentDetailPublic,
    IncidentListPublic,
    IncidentNotePublic,
    NoteCreate,
    PostmortemStart,
    PostmortemStartedPublic,
    WindowCreate,
    WindowListPublic,
    WindowPublic,
)
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.work import service as work_service
from calcifer.work.routes import WorkspaceDep

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["incidents"])


def incident_public(incident: Incident, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": incident.id, "endpoint": incident.endpoint_slug, "service": incident.service,
        "status": incident.status, "started_at": incident.started_at.isoformat(),
        "ended_at": incident.ended_at.isoformat() if incident.ended_at else None,
        "duration_seconds": int(incident.duration().total_seconds()), "message": incident.message,
        "in_maintenance": incident.in_maintenance, "affected_services": incident.affected_services,
        "related_work": [{**entry, "text": incidents.related_text(entry)} for entry in incident.related_work],
        "postmortem_path": incident.postmortem_path, "postmortem_work_item_id": incident.postmortem_work_item_id,
    }
    if full:
        data["notes"] = [{"id": e.id, "at": e.at.isoformat(), "author": e.author_name, "text": e.text}
                         for e in incident.events if e.kind == "note"]
    return data


# =============================== incidents: JSON API ===============================

@api.get("/incidents", response_model=IncidentListPublic)
def api_incidents(session: SessionDep, user: CurrentUser, status: IncidentStatus | None = None,
                  endpoint: str | None = None,
                  service: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                  cursor: str | None = None) -> dict[str, Any]:
    """Open incidents first, then resolved ones, newest first; filter by status, endpoint or service."""
    rows, next_cursor = incidents.list_incidents(session=session, status=status or None, endpoint=endpoint or None,
                                                 service=service or None, limit=limit, cursor=cursor or None)
    return {"items": [incident_public(r) for r in rows], "next_cursor": next_cursor}


@api.get("/incidents/{incident_id}", response_model=IncidentDetailPublic)
def api_incident(session: SessionDep, user: CurrentUser, incident_id: int) -> dict[str, Any]:
    incident = incidents.get_incident(session=session, incident_id=incident_id)
    return {**incident_public(incident, full=True),
            "timeline": [{"at": e.at.isoformat(), "kind": e.kind, "text": e.text, "author": e.author}
                         for e in incidents.timeline(session=session, incident=incident)],
            "postmortem": incidents.postmortem_link(session=session, incident=incident)}


@api.post("/incidents/{incident_id}/notes", status_code=201, response_model=IncidentNotePublic)
def api_add_note(session: SessionDep, user: RequireEditor, incident_id: int, data: NoteCreate) -> dict[str, Any]:
    note = incidents.add_note(session=session, actor=user, incident_id=incident_id, text=data.text)
    return {"id": note.id, "at": note.at.isoformat(), "author": note.author_name, "text": note.text}


@api.post("/incidents/{incident_id}/postmortem", status_code=201, response_model=PostmortemStartedPublic)
def api_postmortem(session: SessionDep, user: RequireEditor, settings: SettingsDep, workspace: WorkspaceDep,
                   incident_id: int, data: PostmortemStart) -> dict[str, Any]:
    """Write the post-mortem draft into an open work item (or a new one) and commit it."""
    incident, path, item_id = incidents.start_postmortem(
        session=session, actor=user, incident_id=incident_id, workspace=workspace,
        categories=settings.work_categories, item_id=data.work_item_id)
    return {"incident_id": incident.id, "path": path, "work_item_id": item_id}


# =============================== incidents: pages ===============================

@pages.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, session: SessionDep, user: CurrentUser, status: str | None = None,
                   endpoint: str | None = None, service: str | None = None, cursor: str | None = None) -> Response:
    rows, next_cursor = incidents.list_incidents(session=session, status=status or None, endpoint=endpoint or None,
                                                 service=service or None, limit=incidents.PAGE_SIZE,
                                                 cursor=cursor or None)
    filters = {k: v for k, v in {"status": status, "endpoint": endpoint, "service": service}.items() if v}
    return render(request, "monitoring/incidents.html", {
        "rows": rows, "filters": filters, "next_cursor": next_cursor, "human_duration": incidents.human_duration,
    }, nav="incidents")


@pages.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, session: SessionDep, user: CurrentUser, incident_id: int) -> Response:
    incident = incidents.get_incident(session=session, incident_id=incident_id)
    return render(request, "monitoring/incident.html", {
        "incident": incident, "timeline": incidents.timeline(session=session, incident=incident),
        "related": [{**entry, "text": incidents.related_text(entry)} for entry in incident.related_work],
        "postmortem": incidents.postmortem_link(session=session, incident=incident),
        "items": work_service.open_work_items(session=session) if has_role(user, Role.EDITOR) else [],
        "human_duration": incidents.human_duration,
    }, nav="incidents")


@pages.post("/incidents/{incident_id}/notes")
def incident_note_submit(request: Request, session: SessionDep, user: RequireEditor, incident_id: int,
                         text: Annotated[str, Form()] = "") -> Response:
    try:
        incidents.add_note(session=session, actor=user, incident_id=incident_id, text=text)
        flash(request, "success", "Note added.")
    except Invalid as exc:
        flash(request, "error", exc.message)
    return RedirectResponse(f"/incidents/{incident_id}#timeline", status_code=303)


@pages.post("/incidents/{incident_id}/postmortem")
def incident_postmortem_submit(request: Request, session: SessionDep, user: RequireEditor, settings: SettingsDep,
                               workspace: WorkspaceDep, incident_id: int,
                               target: Annotated[str, Form()] = "new") -> Response:
    try:
        item_id = None if target in ("", "new") else int(target)
    except ValueError:
        item_id = None
    try:
        _, path, item = incidents.start_postmortem(session=session, actor=user, incident_id=incident_id,
                                                   workspace=workspace, categories=settings.work_categories,
                                                   item_id=item_id)
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"/incidents/{incident_id}", status_code=303)
    flash(request, "success", f"Post-mortem draft {path} committed to work item #{item}: finish it there.")
    return RedirectResponse(f"/docs/edit/{path}?item={item}", status_code=303)


# =============================== maintenance windows ===============================

@api.get("/maintenance-windows", response_model=WindowListPublic)
def api_windows(session: SessionDep, user: CurrentUser, include_ended: bool = True,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
                ) -> dict[str, Any]:
    """Newest first; `state` says whether each is active now, scheduled, waiting for its work item or ended."""
    rows = maintenance.list_windows(session=session, include_ended=include_ended, limit=limit,
                                    before_id=id_cursor(cursor))
    return {"items": maintenance.describe(session=session, windows=rows),
            "next_cursor": next_id_cursor([r.id for r in rows], limit)}


@api.post("/maintenance-windows", status_code=201, response_model=WindowPublic)
def api_create_window(session: SessionDep, user: RequireEditor, data: WindowCreate) -> dict[str, Any]:
    window = maintenance.create_window(session=session, actor=user, data=data)
    return maintenance.describe(session=session, windows=[window])[0]


@api.get("/maintenance-windows/{window_id}", response_model=WindowPublic)
def api_window(session: SessionDep, user: CurrentUser, window_id: int) -> dict[str, Any]:
    window = maintenance.get_window(session=session, window_id=window_id)
    return maintenance.describe(session=session, windows=[window])[0]


@api.post("/maintenance-windows/{window_id}/end", response_model=WindowPublic)
def api_end_window(session: SessionDep, user: RequireEditor, window_id: int) -> dict[str, Any]:
    window = maintenance.end_window(session=session, actor=user, window_id=window_id)
    return maintenance.describe(session=session, windows=[window])[0]


@pages.get("/maintenance", response_class=HTMLResponse)
def maintenance_page(request: Request, session: SessionDep, user: CurrentUser,
                     before_id: int | None = None) -> Response:
    rows = maintenance.list_windows(session=session, limit=50, before_id=before_id)
    windows = maintenance.describe(session=session, windows=rows)
    order = {"active": 0, "invalid": 1, "waiting": 2, "scheduled": 3, "ended": 4}
    windows.sort(key=lambda w: (order.get(w["state"], 9), -w["id"]))
    return render(request, "monitoring/maintenance.html", {
        "windows": windows, "next_before_id": rows[-1].id if len(rows) == 50 else None,
        "items": work_service.open_work_items(session=session) if has_role(user, Role.EDITOR) else [],
        "kinds": [(k.value, k.value.replace("_", " ")) for k in MaintenanceKind],
    }, nav="incidents")


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _form_time(value: str) -> dt.datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{value!r} is not a date and time (YYYY-MM-DDTHH:MM, UTC).") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@pages.post("/maintenance")
def maintenance_submit(
    request: Request, session: SessionDep, user: RequireEditor, title: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "one_off", starts_at: Annotated[str, Form()] = "",
    ends_at: Annotated[str, Form()] = "", cron: Annotated[str, Form()] = "",
    duration_minutes: Annotated[str, Form()] = "", work_item_id: Annotated[str, Form()] = "",
    services: Annotated[str, Form()] = "", endpoints: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    try:
        try:
            data = WindowCreate(
                title=title, kind=MaintenanceKind(kind) if kind in {k.value for k in MaintenanceKind}
                else MaintenanceKind.ONE_OFF, starts_at=_form_time(starts_at), ends_at=_form_time(ends_at),
                cron=cron.strip() or None,
                duration_minutes=int(duration_minutes) if duration_minutes.strip() else None,
                work_item_id=int(work_item_id) if work_item_id.strip() else None,
                services=_split(services), endpoints=_split(endpoints), description=description)
        except (ValidationError, ValueError) as exc:
            raise Invalid("Check the form: a title, and numbers where numbers go "
                          f"({str(exc).splitlines()[0][:200]}).") from exc
        window = maintenance.create_window(session=session, actor=user, data=data)
        flash(request, "success", f"Maintenance window #{window.id} created.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/maintenance", status_code=303)


@pages.post("/maintenance/{window_id}/end")
def maintenance_end_submit(request: Request, session: SessionDep, user: RequireEditor, window_id: int) -> Response:
    try:
        maintenance.end_window(session=session, actor=user, window_id=window_id)
        flash(request, "success", f"Maintenance window #{window_id} ended.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/maintenance", status_code=303)
