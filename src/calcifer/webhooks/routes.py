"""Webhooks: the admin pages under `/settings/webhooks` and the JSON API (admins only).

The secret is write-only: no answer or page carries it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.deps import CtxDep, CursorQuery, LimitQuery, RequireAdmin, SessionDep
from calcifer.errors import DomainError
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.web.security import flash
from calcifer.web.templating import render
from calcifer.webhooks import service
from calcifer.webhooks.choices import ALL_EVENTS, DeliveryStatus
from calcifer.webhooks.schemas import (
    DeliveryListPublic,
    DeliveryPublic,
    WebhookCreate,
    WebhookListPublic,
    WebhookPublic,
    WebhookUpdate,
)

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["webhooks"])


# =============================== JSON API ===============================

@api.get("/webhooks", response_model=WebhookListPublic)
def api_webhooks(session: SessionDep, user: RequireAdmin, limit: LimitQuery = 50,
                 cursor: CursorQuery = None) -> dict[str, Any]:
    """By id, a page at a time."""
    rows = service.list_webhooks(session=session, limit=limit, after_id=id_cursor(cursor))
    return {"items": [service.public(w) for w in rows], "next_cursor": next_id_cursor([w.id for w in rows], limit)}


@api.post("/webhooks", status_code=201, response_model=WebhookPublic)
def api_create_webhook(session: SessionDep, ctx: CtxDep, user: RequireAdmin, data: WebhookCreate) -> dict[str, Any]:
    return service.public(service.create_webhook(session=session, actor=user, secret_key=ctx.secret_key, data=data))


@api.get("/webhooks/{webhook_id}", response_model=WebhookPublic)
def api_webhook(session: SessionDep, user: RequireAdmin, webhook_id: int) -> dict[str, Any]:
    return service.public(service.get_webhook(session=session, webhook_id=webhook_id))


@api.patch("/webhooks/{webhook_id}", response_model=WebhookPublic)
def api_update_webhook(session: SessionDep, ctx: CtxDep, user: RequireAdmin, webhook_id: int,
                       data: WebhookUpdate) -> dict[str, Any]:
    return service.public(service.update_webhook(session=session, actor=user, secret_key=ctx.secret_key,
                                                 webhook_id=webhook_id, data=data))


@api.delete("/webhooks/{webhook_id}", status_code=204)
def api_delete_webhook(session: SessionDep, user: RequireAdmin, webhook_id: int) -> Response:
    service.delete_webhook(session=session, actor=user, webhook_id=webhook_id)
    return Response(status_code=204)


@api.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryListPublic)
def api_deliveries(session: SessionDep, user: RequireAdmin, webhook_id: int, limit: LimitQuery = 50,
                   cursor: CursorQuery = None) -> dict[str, Any]:
    """Newest first, a page at a time."""
    service.get_webhook(session=session, webhook_id=webhook_id)
    rows = service.list_deliveries(session=session, webhook_id=webhook_id, limit=limit, before_id=id_cursor(cursor))
    return {"items": [service.delivery_public(d) for d in rows],
            "next_cursor": next_id_cursor([d.id for d in rows], limit)}


@api.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202,
          response_model=DeliveryPublic)
def api_redeliver(session: SessionDep, user: RequireAdmin, webhook_id: int, delivery_id: int) -> dict[str, Any]:
    """Queue the same body again as a new delivery (new X-Calcifer-Delivery id); sent within a moment."""
    return service.delivery_public(service.redeliver(session=session, actor=user, webhook_id=webhook_id,
                                                     delivery_id=delivery_id))


@api.post("/webhooks/{webhook_id}/test", response_model=DeliveryPublic)
def api_send_test(session: SessionDep, ctx: CtxDep, user: RequireAdmin, webhook_id: int) -> dict[str, Any]:
    """Send a `webhook.test` delivery now; the answer says whether the receiver took it."""
    return service.delivery_public(service.send_test(session=session, actor=user, secret_key=ctx.secret_key,
                                                     webhook_id=webhook_id))


# =============================== pages ===============================

def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


BADGES = {DeliveryStatus.DELIVERED.value: "success", DeliveryStatus.PENDING.value: "info",
          DeliveryStatus.SENDING.value: "info", DeliveryStatus.FAILED.value: "error"}


@pages.get("/settings/webhooks", response_class=HTMLResponse)
def webhooks_page(request: Request, session: SessionDep, user: RequireAdmin, cursor: CursorQuery = None) -> Response:
    rows = service.list_webhooks(session=session, limit=50, after_id=id_cursor(cursor))
    next_cursor = next_id_cursor([w.id for w in rows], 50)
    return render(request, "webhooks/list.html", {"webhooks": rows, "all_events": ALL_EVENTS,
                                                  "next_url": f"/settings/webhooks?cursor={next_cursor}"
                                                  if next_cursor else None}, nav="settings")


@pages.get("/settings/webhooks/{webhook_id}", response_class=HTMLResponse)
def webhook_page(request: Request, session: SessionDep, user: RequireAdmin, webhook_id: int,
                 cursor: CursorQuery = None) -> Response:
    webhook = service.get_webhook(session=session, webhook_id=webhook_id)
    deliveries = service.list_deliveries(session=session, webhook_id=webhook_id, limit=50,
                                         before_id=id_cursor(cursor))
    next_cursor = next_id_cursor([d.id for d in deliveries], 50)
    return render(request, "webhooks/detail.html", {
        "webhook": webhook, "deliveries": deliveries, "all_events": ALL_EVENTS, "badges": BADGES,
        "next_url": f"/settings/webhooks/{webhook_id}?cursor={next_cursor}" if next_cursor else None}, nav="settings")


@pages.post("/settings/webhooks")
def create_submit(
    request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin, url: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None, services: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "", categories: Annotated[str, Form()] = "",
) -> Response:
    try:
        webhook = service.create_webhook(session=session, actor=user, secret_key=ctx.secret_key, data=WebhookCreate(
            url=url, secret=secret, name=name, events=events or [], services=_split(services), tags=_split(tags),
            categories=_split(categories)))
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse("/settings/webhooks", status_code=303)
    flash(request, "success", f"Webhook {webhook.name} added. Send a test to check it.")
    return RedirectResponse(f"/settings/webhooks/{webhook.id}", status_code=303)


@pages.post("/settings/webhooks/{webhook_id}")
def update_submit(
    request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin, webhook_id: int,
    url: Annotated[str, Form()] = "", secret: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None, services: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "", categories: Annotated[str, Form()] = "", enabled: Annotated[str, Form()] = "",
) -> Response:
    try:
        service.update_webhook(session=session, actor=user, secret_key=ctx.secret_key, webhook_id=webhook_id,
                               data=WebhookUpdate(url=url, secret=secret or None, name=name, events=events or [],
                                                  services=_split(services), tags=_split(tags),
                                                  categories=_split(categories), enabled=bool(enabled)))
        flash(request, "success", "Webhook saved.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse(f"/settings/webhooks/{webhook_id}", status_code=303)


@pages.post("/settings/webhooks/{webhook_id}/test")
def test_submit(request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin, webhook_id: int) -> Response:
    try:
        delivery = service.send_test(session=session, actor=user, secret_key=ctx.secret_key, webhook_id=webhook_id)
        if delivery.status == DeliveryStatus.DELIVERED.value:
            flash(request, "success", f"Test delivered (HTTP {delivery.response_code}).")
        else:
            flash(request, "error", f"The test delivery failed: {delivery.last_error}")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse(f"/settings/webhooks/{webhook_id}", status_code=303)


@pages.post("/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver_submit(request: Request, session: SessionDep, user: RequireAdmin, webhook_id: int,
                     delivery_id: int) -> Response:
    try:
        service.redeliver(session=session, actor=user, webhook_id=webhook_id, delivery_id=delivery_id)
        flash(request, "success", "Queued again: it appears at the top of the log.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse(f"/settings/webhooks/{webhook_id}", status_code=303)


@pages.post("/settings/webhooks/{webhook_id}/delete")
def delete_submit(request: Request, session: SessionDep, user: RequireAdmin, webhook_id: int) -> Response:
    try:
        service.delete_webhook(session=session, actor=user, webhook_id=webhook_id)
        flash(request, "success", "Webhook deleted.")
    except DomainError as exc:
        flash(request, "error", exc.message)
        return RedirectResponse(f"/settings/webhooks/{webhook_id}", status_code=303)
    return RedirectResponse("/settings/webhooks", status_code=303)
