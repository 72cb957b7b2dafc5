"""The status page (``/status``) and Prometheus metrics (``/metrics``).

Both are open to anonymous visitors only when an admin says so (``status_page_public``,
``metrics_public``); the middleware enforces that, and these handlers never assume a user.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from calcifer.deps import SessionDep, SettingsDep
from calcifer.errors import NotAuthenticated
from calcifer.monitoring import metrics, service
from calcifer.monitoring.routes import _open_incidents
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1")


@pages.get("/status", response_class=HTMLResponse)
def status_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if getattr(request.state, "user", None) is None and not settings.status_page_public:
        raise NotAuthenticated("Log in to see the status page.")
    services, by_tag = service.cached_status_page(session=session)
    shown = {s.slug for s in services}
    incidents = [i for i in _open_incidents(session, limit=50)
                 if getattr(i, "service", None) in shown or not by_tag]
    overall = service.worst(s.status for s in services) if services else "unknown"
    return render(request, "monitoring/status.html", {
        "services": services, "by_tag": by_tag, "incidents": incidents, "overall": overall,
        "now": service.utcnow()}, nav="")


@pages.get("/metrics")
def metrics_endpoint(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Prometheus text format. Any valid API token (any role) as a bearer, or anyone when
    ``metrics_public``."""
    if getattr(request.state, "user", None) is None and not settings.metrics_public:
        raise NotAuthenticated("Send an API token as 'Authorization: Bearer <token>'.")
    return Response(metrics.render(session=session), media_type=CONTENT_TYPE_LATEST)
