"""The account page: one's own password, browser sessions and API tokens (``/account``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from calcifer.auth import service, totp
from calcifer.auth.models import User
from calcifer.db import utcnow
from calcifer.deps import CurrentUser, RemoteAddr, SessionDep, SettingsDep
from calcifer.errors import Conflict, Invalid, NotFound
from calcifer.web.security import SESSION_COOKIE, flash, get_cookie
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)


def _context(request: Request, session: SessionDep, user: User) -> dict[str, Any]:
    current = service.sha256(get_cookie(request, SESSION_COOKIE) or "")
    sessions = service.own_sessions(session=session, user=user)
    return {"sessions": sessions, "current_hash": current,
            "current_in_list": any(s.token_hash == current for s in sessions), "now": utcnow(),
            "tokens": service.list_tokens(session=session, actor=user), "errors": {},
            "totp_on": totp.is_enabled(session=session, user_id=user.id),
            "totp_required": totp.is_required(session=session, user=user),
            "recovery_left": totp.recovery_codes_left(session=session, user_id=user.id)}


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


@pages.post("/account/sessions/{session_id}/revoke")
def end_session(request: Request, session: SessionDep, user: CurrentUser, addr: RemoteAddr,
                session_id: int) -> Response:
    service.end_own_session(session=session, user=user, session_id=session_id, remote_addr=addr)
    flash(request, "success", "Session ended: that browser is logged out.")
    return RedirectResponse("/account", status_code=303)


@pages.post("/account/sessions/revoke-others")
def end_other_sessions(request: Request, session: SessionDep, user: CurrentUser, addr: RemoteAddr) -> Response:
    ended = service.end_other_sessions(session=session, user=user, keep_session=get_cookie(request, SESSION_COOKIE),
                                       remote_addr=addr)
    flash(request, "success", f"{ended} other session(s) ended.")
    return RedirectResponse("/account", status_code=303)


# -- two-factor login (TOTP) ------------------------------------------------------------------------------------

def _codes_page(request: Request, codes: list[str], *, first: bool) -> Response:
    response = render(request, "auth/recovery_codes.html", {"codes": codes, "first": first}, nav="settings")
    response.headers["Cache-Control"] = "no-store"  # shown once
    return response


@pages.get("/account/two-factor", response_class=HTMLResponse)
def two_factor_page(request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser) -> Response:
    enrolment = totp.pending_enrolment(session=session, user=user, secret_key=settings.secret_key)
    if enrolment is None and totp.is_enabled(session=session, user_id=user.id):
        return RedirectResponse("/account#account-two-factor", status_code=303)
    if enrolment is None:
        enrolment = totp.start_enrolment(session=session, user=user, secret_key=settings.secret_key)
    response = render(request, "auth/two_factor.html", {"enrolment": enrolment, "error": "",
                                                        "required": totp.is_required(session=session, user=user)},
                      nav="settings")
    response.headers["Cache-Control"] = "no-store"  # the secret is on it
    return response


@pages.get("/account/two-factor/qr.svg")
def two_factor_qr(session: SessionDep, settings: SettingsDep, user: CurrentUser) -> Response:
    """The QR code of the set-up waiting for its code (404 when there is none)."""
    enrolment = totp.pending_enrolment(session=session, user=user, secret_key=settings.secret_key)
    if enrolment is None:
        raise NotFound("There is no two-factor set-up waiting for a code.")
    return Response(enrolment.qr_svg(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@pages.post("/account/two-factor/confirm", response_class=HTMLResponse)
def two_factor_confirm(request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser,
                       addr: RemoteAddr, code: Annotated[str, Form(max_length=64)] = "") -> Response:
    try:
        codes = totp.confirm_enrolment(session=session, user=user, secret_key=settings.secret_key, code=code,
                                       remote_addr=addr)
    except Invalid as exc:
        enrolment = totp.pending_enrolment(session=session, user=user, secret_key=settings.secret_key)
        if enrolment is None:
            return RedirectResponse("/account/two-factor", status_code=303)
        response = render(request, "auth/two_factor.html",
                          {"enrolment": enrolment, "error": exc.message,
                           "required": totp.is_required(session=session, user=user)},
                          status_code=exc.status_code, nav="settings")
        response.headers["Cache-Control"] = "no-store"
        return response
    return _codes_page(request, codes, first=True)


@pages.post("/account/two-factor/recovery-codes", response_class=HTMLResponse)
def two_factor_new_codes(request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser,
                         code: Annotated[str, Form(max_length=64)] = "") -> Response:
    try:
        codes = totp.regenerate_recovery_codes(session=session, user=user, secret_key=settings.secret_key, code=code)
    except Invalid as exc:
        context = _context(request, session, user)
        context["totp_error"] = exc.message
        return render(request, "auth/account.html", context, status_code=exc.status_code, nav="settings")
    return _codes_page(request, codes, first=False)


@pages.post("/account/two-factor/disable", response_class=HTMLResponse)
def two_factor_disable(request: Request, session: SessionDep, user: CurrentUser, addr: RemoteAddr,
                       password: Annotated[str, Form()] = "") -> Response:
    try:
        if not service.verify_password(user.password_hash, password):
            raise Invalid("That is not your password: two-factor login stays on.")
        totp.disable(session=session, actor=user, user_id=user.id, remote_addr=addr)
    except (Invalid, Conflict) as exc:
        context = _context(request, session, user)
        context["totp_error"] = exc.message
        return render(request, "auth/account.html", context, status_code=exc.status_code, nav="settings")
    flash(request, "success", "Two-factor login is off.")
    return RedirectResponse("/account", status_code=303)
