"""Settings page for run-time preferences (admins) and its API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.config import Settings
from calcifer.deps import CurrentUser, RequireAdmin, SessionDep, SettingsDep
from calcifer.errors import Invalid, NotFound
from calcifer.prefs import service
from calcifer.prefs.choices import DESCRIPTIONS, Pref
from calcifer.prefs.schemas import PreferenceSaved, PreferencesPublic, PreferenceUpdate
from calcifer.prefs.service import MAX_FOLDERS, MAX_PATH
from calcifer.web.security import flash
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["preferences"])


def _key(name: str) -> Pref:
    try:
        return Pref(name)
    except ValueError as exc:
        raise NotFound(f"No preference named {name!r}.") from exc


def _page(request: Request, session: SessionDep, settings: Settings, *, folders_text: str | None = None,
          error: str = "", details: Any = None, status_code: int = 200) -> Response:
    chosen = service.chosen_compose_dirs(session=session)
    return render(request, "prefs/preferences.html", {
        "prefs": [(key, value, DESCRIPTIONS[key]) for key, value in service.all_prefs(session=session).items()
                  if key is not Pref.COMPOSE_DIRS],
        "compose": {"description": DESCRIPTIONS[Pref.COMPOSE_DIRS], "chosen": chosen,
                    "server": [str(path) for path in settings.compose_dirs],
                    "text": folders_text if folders_text is not None else "\n".join(chosen or []),
                    "error": error, "details": details if isinstance(details, list) else []},
    }, status_code=status_code, nav="settings")


@pages.get("/settings/preferences", response_class=HTMLResponse)
def prefs_page(request: Request, session: SessionDep, admin: RequireAdmin, settings: SettingsDep) -> Response:
    return _page(request, session, settings)


@pages.post("/settings/preferences/compose-dirs", response_class=HTMLResponse)
def compose_dirs_save(request: Request, session: SessionDep, admin: RequireAdmin, settings: SettingsDep,
                      folders: Annotated[str, Form(max_length=MAX_FOLDERS * (MAX_PATH + 1))] = "",
                      reset: Annotated[str, Form()] = "") -> Response:
    try:
        service.set_pref(session=session, actor=admin, key=Pref.COMPOSE_DIRS, value=None if reset else folders)
    except Invalid as exc:
        return _page(request, session, settings, folders_text=folders, error=exc.message, details=exc.details,
                     status_code=exc.status_code)
    flash(request, "success", "Compose discovery scans the server's CALCIFER_COMPOSE_DIRS again." if reset
          else "Compose folders saved: the next discovery scan reads them.")
    return RedirectResponse("/settings/preferences#compose-dirs", status_code=303)


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
