"""Settings page for run-time preferences (admins) and its API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.deps import CurrentUser, RequireAdmin, SessionDep
from calcifer.errors import NotFound
from calcifer.prefs import service
from calcifer.prefs.choices import DESCRIPTIONS, Pref
from calcifer.prefs.schemas import PreferenceSaved, PreferencesPublic, PreferenceUpdate
from calcifer.web.security import flash
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["preferences"])


def _key(name: str) -> Pref:
    try:
        return Pref(name)
    except ValueError as exc:
        raise NotFound(f"No preference named {name!r}.") from exc


@pages.get("/settings/preferences", response_class=HTMLResponse)
def prefs_page(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return render(request, "prefs/preferences.html", {
        "prefs": [(key, value, DESCRIPTIONS[key]) for key, value in service.all_prefs(session=session).items()],
    }, nav="settings")


@pages.post("/settings/preferences")
def prefs_save(request: Request, session: SessionDep, admin: RequireAdmin, key: Annotated[str, Form()] = "",
               value: Annotated[str, Form()] = "") -> Response:
    service.set_pref(session=session, actor=admin, key=_key(key), value=value == "true")
    flash(request, "success", "Preference saved.")
    return RedirectResponse("/settings/preferences", status_code=303)


@api.get("/preferences", response_model=PreferencesPublic)
def prefs_api(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return {key.value: value for key, value in service.all_prefs(session=session).items()}


@api.put("/preferences/{name}", response_model=PreferenceSaved, response_model_exclude_unset=True)
def prefs_put(session: SessionDep, admin: RequireAdmin, name: str, body: PreferenceUpdate) -> dict[str, Any]:
    """Set one preference; answers ``{name: value}``."""
    key = _key(name)
    return {key.value: service.set_pref(session=session, actor=admin, key=key, value=body.value)}
