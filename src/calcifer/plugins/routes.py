"""Settings → Integrations (admins): the installed plugins, what each provides, and its toggle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.deps import CtxDep, RequireAdmin, SessionDep
from calcifer.plugins import service
from calcifer.plugins.schemas import PluginListPublic, PluginPublic, PluginUpdate
from calcifer.web.security import flash
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["plugins"])


@api.get("/plugins", response_model=PluginListPublic)
def api_plugins(session: SessionDep, user: RequireAdmin) -> dict[str, Any]:
    """Every installed plugin (Calcifer's built-ins first); a short list, so never paginated."""
    return {"items": service.list_plugins(session=session)}


@api.patch("/plugins/{name}", response_model=PluginPublic)
def api_update_plugin(session: SessionDep, ctx: CtxDep, user: RequireAdmin, name: str,
                      data: PluginUpdate) -> dict[str, Any]:
    return service.set_enabled(session=session, actor=user, name=name, enabled=data.enabled,
                               repo_path=ctx.repo_path)


@pages.get("/settings/integrations", response_class=HTMLResponse)
def integrations_page(request: Request, session: SessionDep, user: RequireAdmin) -> Response:
    return render(request, "plugins/integrations.html", {"plugins": service.list_plugins(session=session)},
                  nav="settings")


@pages.post("/settings/integrations/{name}")
def toggle_submit(request: Request, session: SessionDep, ctx: CtxDep, user: RequireAdmin, name: str,
                  enabled: Annotated[str, Form()] = "") -> Response:
    result = service.set_enabled(session=session, actor=user, name=name, enabled=enabled == "true",
                                 repo_path=ctx.repo_path)
    flash(request, "success", f"{result['name']} is {'enabled' if result['enabled'] else 'disabled'}.")
    return RedirectResponse("/settings/integrations", status_code=303)
