"""Notifications for each person: the JSON API, the inbox page, the header bell (polled by htmx), one's
preferences, the admin's SMTP settings and the public unsubscribe page (its signed token is the key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.deps import CtxDep, CurrentUser, CursorQuery, LimitQuery, RequireAdmin, SessionDep
from calcifer.errors import DomainError
from calcifer.inbox import service
from calcifer.inbox.choices import KIND_LABELS, Channel, NotificationKind
from calcifer.inbox.schemas import (
    NotificationListPublic,
    NotificationPublic,
    PreferencesPublic,
    PreferencesUpdate,
    SmtpPublic,
    SmtpUpdate,
    UnreadPublic,
)
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.web.security import flash
from calcifer.web.templating import render, render_fragment

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["notifications"])


# =============================== JSON API ===============================

@api.get("/notifications", response_model=NotificationListPublic)
def api_notifications(session: SessionDep, user: CurrentUser, limit: LimitQuery = 50, cursor: CursorQuery = None,
                      unread: Annotated[bool, Query(description="only unread ones")] = False) -> dict[str, Any]:
    """Your notifications, newest first, a page at a time."""
    rows = service.list_notifications(session=session, user=user, limit=limit, before_id=id_cursor(cursor),
                                      unread_only=unread)
    return {"items": [service.public(r) for r in rows], "next_cursor": next_id_cursor([r.id for r in rows], limit),
            "unread": service.unread_count(session=session, user=user)}


@api.get("/notifications/unread", response_model=UnreadPublic)
def api_unread(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return {"unread": service.unread_count(session=session, user=user)}


@api.post("/notifications/{notification_id}/read", response_model=NotificationPublic)
def api_mark_read(session: SessionDep, user: CurrentUser, notification_id: int) -> dict[str, Any]:
    return service.public(service.mark_read(session=session, user=user, notification_id=notification_id))


@api.post("/notifications/read-all", response_model=UnreadPublic)
def api_mark_all_read(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    service.mark_all_read(session=session, user=user)
    return {"unread": 0}


@api.get("/me/notification-preferences", response_model=PreferencesPublic)
def api_preferences(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return service.get_preferences(session=session, user=user)


@api.put("/me/notification-preferences", response_model=PreferencesPublic)
def api_set_preferences(session: SessionDep, ctx: CtxDep, user: CurrentUser, data: PreferencesUpdate) -> dict[str, Any]:
    """Per kind and channel (`in_app`, `email`, `apprise`), and your own apprise URL (stored sealed)."""
    return service.set_preferences(session=session, user=user, secret_key=ctx.secret_key, data=data)


@api.get("/settings/smtp", response_model=SmtpPublic)
def api_smtp(session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    return service.smtp_public(service.get_smtp(session=session))


@api.put("/settings/smtp", response_model=SmtpPublic)
def api_set_smtp(session: SessionDep, ctx: CtxDep, user: RequireAdmin, data: SmtpUpdate) -> dict[str, Any]:
    """Where mails go out; the password is write-only."""
    return service.smtp_public(service.set_smtp(session=session, actor=user, secret_key=ctx.secret_key, data=data))


# =============================== pages ===============================

@pages.get("/notifications", response_class=HTMLResponse)
def inbox_page(request: Request, session: SessionDep, user: CurrentUser, cursor: CursorQuery = None) -> Response:
    rows = service.list_notifications(session=session, user=user, limit=50, before_id=id_cursor(cursor))
    return render(request, "inbox/list.html", {"rows": rows, "next_cursor": next_id_cursor([r.id for r in rows], 50),
                                               "unread": service.unread_count(session=session, user=user)})


@pages.get("/notifications/bell", response_class=HTMLResponse)
def bell(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """The header bell's count (htmx polls it)."""
    return render_fragment(request, "inbox/_bell.html", {"unread": service.unread_count(session=session, user=user)})


@pages.post("/notifications/{notification_id}/read")
def read_form(request: Request, session: SessionDep, user: CurrentUser, notification_id: int) -> Response:
    row = service.mark_read(session=session, user=user, notification_id=notification_id)
    return RedirectResponse(row.url if row.url.startswith("/") else "/notifications", status_code=303)


@pages.post("/notifications/read-all")
def read_all_form(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    service.mark_all_read(session=session, user=user)
    flash(request, "success", "All notifications marked read.")
    return RedirectResponse("/notifications", status_code=303)


@pages.get("/account/notifications", response_class=HTMLResponse)
def preferences_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "inbox/preferences.html", {
        "prefs": service.get_preferences(session=session, user=user), "labels": KIND_LABELS,
        "kinds": list(NotificationKind), "channels": list(Channel)})


@pages.post("/account/notifications")
async def preferences_form(request: Request, session: SessionDep, ctx: CtxDep, user: CurrentUser) -> Response:
    form = await request.form()
    prefs = {k.value: {c.value: form.get(f"{k.value}.{c.value}") == "on" for c in Channel} for k in NotificationKind}
    apprise = form.get("apprise_url")
    clear = form.get("apprise_clear") == "on"
    data = PreferencesUpdate(preferences=prefs, apprise_url="" if clear else (
        str(apprise) if isinstance(apprise, str) and apprise.strip() else None))
    try:
        service.set_preferences(session=session, user=user, secret_key=ctx.secret_key, data=data)
        flash(request, "success", "Notification settings saved.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/account/notifications", status_code=303)


@pages.get("/settings/mail", response_class=HTMLResponse)
def smtp_page(request: Request, session: SessionDep, user: RequireAdmin) -> Response:
    return render(request, "inbox/smtp.html", {"smtp": service.smtp_public(service.get_smtp(session=session))},
                  nav="settings")


@pages.post("/settings/mail")
def smtp_form(request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin,
              host: Annotated[str, Form(max_length=255)] = "", port: Annotated[int, Form(ge=1, le=65535)] = 25,
              security: Annotated[str, Form(max_length=16)] = "none",
              username: Annotated[str, Form(max_length=255)] = "",
              password: Annotated[str, Form(max_length=500)] = "", sender: Annotated[str, Form(max_length=254)] = "",
              base_url: Annotated[str, Form(max_length=500)] = "",
              digest_minutes: Annotated[int, Form(ge=0, le=1440)] = 10) -> Response:
    try:
        data = SmtpUpdate(host=host, port=port, security=security, username=username, password=password or None,
                          sender=sender, base_url=base_url, digest_minutes=digest_minutes)
        service.set_smtp(session=session, actor=user, secret_key=ctx.secret_key, data=data)
        flash(request, "success", "Mail settings saved.")
    except (DomainError, ValueError) as exc:
        flash(request, "error", getattr(exc, "message", "Check the fields: the security is none, starttls or tls."))
    return RedirectResponse("/settings/mail", status_code=303)


@pages.get("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(request: Request, ctx: CtxDep,
                     token: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Public: the signed token in the link says whose mails stop (a button, so link scanners change nothing)."""
    valid = True
    try:
        service.read_unsubscribe_token(secret_key=ctx.secret_key, token=token)
    except DomainError:
        valid = False
    return render(request, "inbox/unsubscribe.html", {"token": token, "valid": valid, "done": False},
                  status_code=200 if valid else 400)


@pages.post("/unsubscribe", response_class=HTMLResponse)
def unsubscribe_form(request: Request, session: SessionDep, ctx: CtxDep,
                     token: Annotated[str, Form(max_length=200)] = "") -> Response:
    try:
        service.unsubscribe(session=session, secret_key=ctx.secret_key, token=token)
    except DomainError:
        return render(request, "inbox/unsubscribe.html", {"token": token, "valid": False, "done": False},
                      status_code=400)
    return render(request, "inbox/unsubscribe.html", {"token": token, "valid": True, "done": True})
