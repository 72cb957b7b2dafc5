"""The account page: one's own password, browser sessions and API tokens (``/account``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.auth import service
from calcifer.auth.models import User
from calcifer.deps import CurrentUser, RemoteAddr, SessionDep
from calcifer.errors import Invalid
from calcifer.web.security import SESSION_COOKIE, flash
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)


def _context(request: Request, session: SessionDep, user: User) -> dict[str, Any]:
    current = service.sha256(request.cookies.get(SESSION_COOKIE) or "")
    return {"sessions": service.own_sessions(session=session, user=user), "current_hash": current,
            "tokens": service.list_tokens(session=session, actor=user), "errors": {}}


@pages.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return render(request, "auth/account.html", _context(request, session, user), nav="settings")


@pages.post("/account/password", response_class=HTMLResponse)
def change_password(
    request: Request, session: SessionDep, user: CurrentUser, addr: RemoteAddr,
    current_password: Annotated[str, Form()] = "", new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
) -> Response:
    try:
        ended = service.change_own_password(session=session, user=user, current_password=current_password,
                                            new_password=new_password, new_password_again=new_password_again,
                                            keep_session=request.cookies.get(SESSION_COOKIE), remote_addr=addr)
    except Invalid as exc:
        context = _context(request, session, user)
        context["errors"] = {p["code"]: p["message"] for p in exc.details or []}
        context["error"] = exc.message
        return render(request, "auth/account.html", context, status_code=exc.status_code, nav="settings")
    flash(request, "success", f"Password changed. {ended} other session(s) ended: log in there again."
          if ended else "Password changed.")
    return RedirectResponse("/account", status_code=303)
