"""Notification channels: the admin page `/settings/notifications` and the JSON API (admins only).

Channel URLs are never rendered or returned: pages and answers show `url_masked` only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.deps import RequireAdmin, SessionDep
from calcifer.errors import DomainError
from calcifer.listing import decode_cursor, encode_cursor, id_cursor, next_id_cursor
from calcifer.notify import service
from calcifer.notify.choices import ALL_EVENTS
from calcifer.notify.schemas import (
    ChannelCreate,
    ChannelListPublic,
    ChannelPublic,
    ChannelUpdate,
    DeliveryListPublic,
    DeliveryPublic,
)
from calcifer.web.security import flash
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["notifications"])


# =============================== JSON API ===============================

@api.get("/notification-channels", response_model=ChannelListPublic)
def api_channels(
    session: SessionDep, user: RequireAdmin, limit: Annotated[int, Query(ge=1, le=500)] = 200,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """By name, a page at a time."""
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    rows = service.list_channels(session=session, limit=limit, after_name=after)
    return {"items": [service.public(c) for c in rows],
            "next_cursor": encode_cursor([rows[-1].name]) if len(rows) == limit else None}


@api.post("/notification-channels", status_code=201, response_model=ChannelPublic)
def api_create_channel(session: SessionDep, user: RequireAdmin, data: ChannelCreate) -> dict[str, Any]:
    channel = service.create_channel(session=session, actor=user, name=data.name, url=data.url,
                                     services=data.services, tags=data.tags, endpoints=data.endpoints,
                                     events=data.events, reminder_minutes=data.reminder_minutes,
                                     enabled=data.enabled)
    return service.public(channel)


@api.get("/notification-channels/{channel_id}", response_model=ChannelPublic)
def api_channel(session: SessionDep, user: RequireAdmin, channel_id: int) -> dict[str, Any]:
    return service.public(service.get_channel(session=session, channel_id=channel_id))


@api.patch("/notification-channels/{channel_id}", response_model=ChannelPublic)
def api_update_channel(session: SessionDep, user: RequireAdmin, channel_id: int,
                       data: ChannelUpdate) -> dict[str, Any]:
    return service.public(service.update_channel(session=session, actor=user, channel_id=channel_id, data=data))


@api.delete("/notification-channels/{channel_id}", status_code=204)
def api_delete_channel(session: SessionDep, user: RequireAdmin, channel_id: int) -> Response:
    service.delete_channel(session=session, actor=user, channel_id=channel_id)
    return Response(status_code=204)


@api.post("/notification-channels/{channel_id}/test", response_model=DeliveryPublic)
def api_test_channel(session: SessionDep, user: RequireAdmin, channel_id: int) -> dict[str, Any]:
    """Send a test message now; the answer says whether it went out (and the error, secret-free)."""
    return service.delivery_public(service.send_test(session=session, actor=user, channel_id=channel_id))


@api.get("/notification-channels/{channel_id}/deliveries", response_model=DeliveryListPublic)
def api_deliveries(
    session: SessionDep, user: RequireAdmin, channel_id: int, limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    """Newest first, a page at a time."""
    service.get_channel(session=session, channel_id=channel_id)
    rows = service.list_deliveries(session=session, channel_id=channel_id, limit=limit,
                                   before_id=id_cursor(cursor))
    return {"items": [service.delivery_public(d) for d in rows],
            "next_cursor": next_id_cursor([d.id for d in rows], limit)}


# =============================== page ===============================

def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _minutes(text: str) -> int:
    try:
        return int(text.strip() or 0)
    except ValueError:
        return -1  # refused by the service with a clear message


@pages.get("/settings/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, session: SessionDep, user: RequireAdmin) -> Response:
    channels = service.list_channels(session=session)
    names = {c.id: c.name for c in channels}
    return render_page(request, channels=channels, deliveries=service.list_deliveries(session=session, limit=30),
                       names=names)


def render_page(request: Request, **context: Any) -> Response:
    return render(request, "notify/settings.html", {**context, "all_events": ALL_EVENTS}, nav="settings")


@pages.post("/settings/notifications")
def create_submit(
    request: Request, session: SessionDep, user: RequireAdmin, name: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "", services: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
    endpoints: Annotated[str, Form()] = "", events: Annotated[list[str] | None, Form()] = None,
    reminder_minutes: Annotated[str, Form()] = "0",
) -> Response:
    try:
        channel = service.create_channel(session=session, actor=user, name=name, url=url, services=_split(services),
                                         tags=_split(tags), endpoints=_split(endpoints), events=events or [],
                                         reminder_minutes=_minutes(reminder_minutes))
        flash(request, "success", f"Channel {channel.name} added. Send a test to check it.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/settings/notifications", status_code=303)


@pages.post("/settings/notifications/{channel_id}")
def update_submit(
    request: Request, session: SessionDep, user: RequireAdmin, channel_id: int, name: Annotated[str, Form()] = "",
    url: Annotated[str, Form()] = "", services: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
    endpoints: Annotated[str, Form()] = "", events: Annotated[list[str] | None, Form()] = None,
    reminder_minutes: Annotated[str, Form()] = "0", enabled: Annotated[str, Form()] = "",
) -> Response:
    try:
        data = ChannelUpdate(name=name, url=url or None, services=_split(services), tags=_split(tags),
                                     endpoints=_split(endpoints), events=events or [], enabled=bool(enabled),
                                     reminder_minutes=_minutes(reminder_minutes))
        channel = service.update_channel(session=session, actor=user, channel_id=channel_id, data=data)
        flash(request, "success", f"Channel {channel.name} saved.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/settings/notifications", status_code=303)


@pages.post("/settings/notifications/{channel_id}/test")
def test_submit(request: Request, session: SessionDep, user: RequireAdmin, channel_id: int) -> Response:
    try:
        delivery = service.send_test(session=session, actor=user, channel_id=channel_id)
        if delivery.status == "sent":
            flash(request, "success", "Test message sent.")
        else:
            flash(request, "error", f"The test message failed: {delivery.last_error}")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/settings/notifications", status_code=303)


@pages.post("/settings/notifications/{channel_id}/delete")
def delete_submit(request: Request, session: SessionDep, user: RequireAdmin, channel_id: int) -> Response:
    try:
        service.delete_channel(session=session, actor=user, channel_id=channel_id)
        flash(request, "success", "Channel deleted.")
    except DomainError as exc:
        flash(request, "error", exc.message)
    return RedirectResponse("/settings/notifications", status_code=303)
