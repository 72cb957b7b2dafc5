"""Login, first-run setup, users and API tokens: HTML pages and the JSON API."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from calcifer.auth import service, sso, totp
from calcifer.auth.choices import Role
from calcifer.auth.models import LoginSession, User
from calcifer.auth.schemas import (
    SessionListPublic,
    SessionPublic,
    SessionsEnded,
    TokenCreate,
    TokenCreated,
    TokenListPublic,
    TokenPublic,
    UserCreate,
    UserListPublic,
    UserPublic,
    UserUpdate,
)
from calcifer.db import utcnow
from calcifer.deps import CurrentUser, RemoteAddr, RequireAdmin, SessionDep, SettingsDep, TokenScopes
from calcifer.errors import Conflict, DomainError, Invalid, NotAuthenticated, NotFound, TooManyRequests, Unavailable
from calcifer.listing import id_cursor, next_id_cursor
from calcifer.web.security import SESSION_COOKIE, delete_cookie, flash, get_cookie, set_cookie
from calcifer.web.templating import render

pages = APIRouter(include_in_schema=False)
PENDING_COOKIE = "calcifer_pending_login"
api = APIRouter(prefix="/api/v1", tags=["users and tokens"])


def safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to another host after login.
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


def form_errors(exc: ValidationError) -> dict[str, str]:
    return {str(err["loc"][0]): str(err["msg"]).removeprefix("Value error, ") for err in exc.errors()}


# -- first run --------------------------------------------------------------------------------------

@pages.get("/setup", response_class=HTMLResponse)
def setup_form(request: Request, session: SessionDep) -> Response:
    if service.has_users(session=session):
        raise NotFound("Setup is finished.")
    return render(request, "auth/setup.html", {"errors": {}, "values": {}})


@pages.post("/setup", response_class=HTMLResponse)
def setup_submit(
    request: Request, session: SessionDep, settings: SettingsDep,
    username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
) -> Response:
    if service.has_users(session=session):
        raise NotFound("Setup is finished.")
    errors: dict[str, str] = {}
    data = None
    try:
        data = UserCreate(username=username, password=password, role=Role.ADMIN)
    except ValidationError as exc:
        errors = form_errors(exc)
    if password != password_again:
        errors.setdefault("password_again", "The two passwords differ.")
    if errors or data is None:
        return render(request, "auth/setup.html", {"errors": errors, "values": {"username": username}},
                      status_code=422)
    user = service.create_first_admin(session=session, data=data)
    response = RedirectResponse("/", status_code=303)
    _start_browser_session(request, response, session=session, user_id=user.id, hours=settings.session_hours)
    flash(request, "success", f"Welcome, {user.username}. You are the admin of this Calcifer.")
    return response


# -- login / logout -----------------------------------------------------------------------------------

@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if not service.has_users(session=session):
        return RedirectResponse("/setup", status_code=303)
    if getattr(request.state, "user", None) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return login_page(request, session, next_url=safe_next(next))


def login_page(request: Request, session: SessionDep, *, next_url: str, error: str = "", username: str = "",
               status_code: int = 200) -> Response:
    """The login form, with "Sign in with <name>" when OpenID Connect login is on."""
    config = sso.oidc_config(session=session)
    return render(request, "auth/login.html", {"next": next_url, "error": error, "username": username,
                                               "sso_name": config.name if config else "",
                                               "sso_url": "/login/oidc?" + urlencode({"next": next_url})},
                  status_code=status_code)


@pages.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request, session: SessionDep, settings: SettingsDep, addr: RemoteAddr,
    username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    refusal = sso.password_login_refusal(session=session, username=username)
    if refusal is not None:
        return login_page(request, session, next_url=safe_next(next), error=refusal, username=username[:64],
                          status_code=403)
    try:
        user = service.authenticate(
            session=session, username=username, password=password, limits=_limits(settings), remote_addr=addr,
            directory=sso.directory_login(session=session, secret_key=settings.secret_key, remote_addr=addr))
    except (Invalid, TooManyRequests, Unavailable) as exc:
        return login_page(request, session, next_url=safe_next(next), error=exc.message, username=username[:64],
                          status_code=exc.status_code)
    return first_factor_passed(request, session=session, settings=settings, user=user, next_url=safe_next(next))


def first_factor_passed(request: Request, *, session: SessionDep, settings: SettingsDep, user: User,
                        next_url: str) -> Response:
    """After a password (local or LDAP) or the identity provider said who this is: the code step when the
    user has a second factor, else the session (and the set-up page when their role requires one)."""
    if totp.is_enabled(session=session, user_id=user.id):
        # The first step passed; the session starts only after the code (a sealed, short-lived cookie
        # remembers who passed the first step).
        response = RedirectResponse("/login/code", status_code=303)
        set_cookie(request, response, PENDING_COOKIE,
                   totp.pending_login(secret_key=settings.secret_key, user=user, next_url=next_url),
                   max_age=totp.PENDING_MINUTES * 60)
        return response
    return _logged_in(request, session=session, settings=settings, user_id=user.id, next_url=next_url)


def _logged_in(request: Request, *, session: SessionDep, settings: SettingsDep, user_id: int,
               next_url: str) -> Response:
    user = service.get_user(session=session, user_id=user_id)
    if totp.enrolment_due(session=session, user=user):
        flash(request, "warning", f"Your role ({user.role}) must log in with a second factor: set it up now.")
        next_url = "/account/two-factor"
    response = RedirectResponse(next_url, status_code=303)
    _start_browser_session(request, response, session=session, user_id=user_id, hours=settings.session_hours)
    return response


def _limits(settings: SettingsDep) -> service.ThrottleLimits:
    return service.ThrottleLimits(per_user_and_address=settings.login_max_failures,
                                  per_address=settings.login_max_failures_per_address,
                                  window_minutes=settings.login_window_minutes)


@pages.get("/login/code", response_class=HTMLResponse)
def login_code_form(request: Request, settings: SettingsDep) -> Response:
    try:
        totp.read_pending(secret_key=settings.secret_key, value=get_cookie(request, PENDING_COOKIE))
    except NotAuthenticated as exc:
        flash(request, "info", exc.message)
        return RedirectResponse("/login", status_code=303)
    return render(request, "auth/login_code.html", {"error": ""})


@pages.post("/login/code", response_class=HTMLResponse)
def login_code_submit(request: Request, session: SessionDep, settings: SettingsDep, addr: RemoteAddr,
                      code: Annotated[str, Form(max_length=64)] = "") -> Response:
    try:
        pending = totp.read_pending(secret_key=settings.secret_key, value=get_cookie(request, PENDING_COOKIE))
    except NotAuthenticated as exc:
        flash(request, "info", exc.message)
        return RedirectResponse("/login", status_code=303)
    try:
        user = totp.verify_login_code(session=session, pending=pending, code=code, secret_key=settings.secret_key,
                                      limits=_limits(settings), remote_addr=addr)
    except (Invalid, TooManyRequests) as exc:
        return render(request, "auth/login_code.html", {"error": exc.message}, status_code=exc.status_code)
    except NotAuthenticated as exc:
        flash(request, "info", exc.message)
        return RedirectResponse("/login", status_code=303)
    response = _logged_in(request, session=session, settings=settings, user_id=user.id, next_url=pending.next_url)
    delete_cookie(request, response, PENDING_COOKIE)
    return response


@pages.post("/logout")
def logout(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    raw = get_cookie(request, SESSION_COOKIE)
    if raw:
        service.end_session(session=session, raw=raw)
    response = RedirectResponse("/login", status_code=303)
    delete_cookie(request, response, SESSION_COOKIE)
    flash(request, "info", "You are logged out.")
    return response


def _start_browser_session(request: Request, response: Response, *, session: SessionDep, user_id: int,
                           hours: int) -> None:
    user = service.get_user(session=session, user_id=user_id)
    # A new session on every login: a session cookie planted before it (fixation) ends here.
    raw = service.start_session(session=session, user=user, hours=hours,
                                replaces=get_cookie(request, SESSION_COOKIE),
                                remote_addr=request.client.host if request.client else "",
                                user_agent=request.headers.get("user-agent", ""))
    set_cookie(request, response, SESSION_COOKIE, raw, max_age=hours * 3600)


# -- users (admin pages) ---------------------------------------------------------------------------------

def _users_page(request: Request, session: SessionDep, *, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, refusal: dict[str, object] | None = None,
                status_code: int = 200) -> Response:
    users = service.list_users(session=session, limit=500)
    return render(request, "auth/users.html", {"users": users, "roles": list(Role), "errors": errors or {},
                                               "values": values or {}, "refusal": refusal,
                                               "totp_roles": totp.required_roles(session=session),
                                               "totp_users": totp.enabled_user_ids(session=session)},
                  status_code=status_code, nav="settings")


def _refused(request: Request, session: SessionDep, *, user_id: int, exc: DomainError) -> Response:
    # A refused change (the last admin, one's own account) is shown on the users page next to the user,
    # with the reason, rather than as a bare error page.
    session.rollback()
    return _users_page(request, session, refusal={"user_id": user_id, "message": exc.message},
                       status_code=exc.status_code)


@pages.get("/settings/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, admin: RequireAdmin) -> Response:
    return _users_page(request, session)


@pages.post("/settings/users", response_class=HTMLResponse)
def users_create(
    request: Request, session: SessionDep, admin: RequireAdmin,
    username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    try:
        data = UserCreate(username=username, password=password, role=role)  # type: ignore[arg-type]
    except ValidationError as exc:
        return _users_page(request, session, errors=form_errors(exc), values={"username": username, "role": role},
                           status_code=422)
    user = service.create_user(session=session, actor=admin, data=data)
    flash(request, "success", f"User {user.username} created with the {user.role} role.")
    return RedirectResponse("/settings/users", status_code=303)


@pages.post("/settings/users/{user_id}")
def users_update(
    request: Request, session: SessionDep, admin: RequireAdmin, user_id: int,
    role: Annotated[str | None, Form()] = None, is_active: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        data = UserUpdate(role=role or None,  # type: ignore[arg-type]
                          is_active=None if is_active is None else is_active == "true", password=password or None)
    except ValidationError as exc:
        raise Invalid("; ".join(f"{k}: {v}" for k, v in form_errors(exc).items())) from exc
    try:
        user = service.update_user(session=session, actor=admin, user_id=user_id, data=data)
    except Conflict as exc:
        return _refused(request, session, user_id=user_id, exc=exc)
    flash(request, "success", f"User {user.username} updated.")
    return RedirectResponse("/settings/users", status_code=303)


@pages.post("/settings/users/{user_id}/sessions/revoke")
def users_end_sessions(request: Request, session: SessionDep, admin: RequireAdmin, user_id: int) -> Response:
    ended, _ = service.end_user_sessions(session=session, actor=admin, user_id=user_id)
    flash(request, "success", f"{ended} session(s) ended.")
    return RedirectResponse("/settings/users", status_code=303)


@pages.post("/settings/users/{user_id}/two-factor/reset")
def users_reset_two_factor(request: Request, session: SessionDep, admin: RequireAdmin, user_id: int,
                           addr: RemoteAddr) -> Response:
    totp.disable(session=session, actor=admin, user_id=user_id, remote_addr=addr)
    flash(request, "success", "Two-factor login turned off for that user: they set it up again at their next login "
                              "if their role requires it.")
    return RedirectResponse("/settings/users", status_code=303)


@pages.post("/settings/two-factor-roles")
def users_two_factor_roles(request: Request, session: SessionDep, admin: RequireAdmin,
                           roles: Annotated[list[str] | None, Form()] = None) -> Response:
    chosen = totp.set_required_roles(session=session, actor=admin, roles=roles or [])
    flash(request, "success", "Two-factor login is now required for: "
          + (", ".join(role.value for role in chosen) or "nobody") + ".")
    return RedirectResponse("/settings/users#two-factor-roles", status_code=303)


@pages.post("/settings/users/{user_id}/delete")
def users_delete(request: Request, session: SessionDep, admin: RequireAdmin, user_id: int) -> Response:
    try:
        service.delete_user(session=session, actor=admin, user_id=user_id)
    except Conflict as exc:
        return _refused(request, session, user_id=user_id, exc=exc)
    flash(request, "success", "User deleted.")
    return RedirectResponse("/settings/users", status_code=303)


# -- tokens (pages) ------------------------------------------------------------------------------------------

def _tokens_page(request: Request, session: SessionDep, user: User, *, status_code: int = 200,
                 **extra: object) -> Response:
    is_admin = service.has_role(user, Role.ADMIN)
    tokens = service.list_tokens(session=session, actor=user, all_users=is_admin)
    users = service.list_users(session=session, limit=500) if is_admin else []
    return render(request, "auth/tokens.html", {"tokens": tokens, "users": users, "new_token": None,
                                               "now": utcnow(), "error": "", **extra},
                  status_code=status_code, nav="settings")


@pages.get("/settings/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    return _tokens_page(request, session, user)


@pages.post("/settings/tokens", response_class=HTMLResponse)
def tokens_create(
    request: Request, session: SessionDep, user: CurrentUser, scopes: TokenScopes,
    name: Annotated[str, Form()] = "", username: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "", expires: Annotated[str, Form()] = "",
) -> Response:
    try:
        owner = service.get_user_by_username(session=session, username=username) if username else user
        token, raw = service.create_token(session=session, actor=user, owner=owner, name=name,
                                          scopes=[scope] if scope else None, actor_scopes=scopes,
                                          expires_at=service.parse_expiry(expires) if expires else None)
    except Invalid as exc:
        session.rollback()
        return _tokens_page(request, session, user, status_code=exc.status_code, error=exc.message)
    response = _tokens_page(request, session, user, new_token=raw, new_token_name=token.name)
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/settings/tokens/{token_id}/revoke")
def tokens_revoke(request: Request, session: SessionDep, user: CurrentUser, token_id: int) -> Response:
    token = service.revoke_token(session=session, actor=user, token_id=token_id)
    flash(request, "success", f"Token {token.name!r} revoked.")
    return RedirectResponse("/settings/tokens", status_code=303)


# -- JSON API --------------------------------------------------------------------------------------------------

@api.get("/me", response_model=UserPublic)
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@api.get("/users", response_model=UserListPublic)
def api_list_users(
    session: SessionDep, admin: RequireAdmin, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> UserListPublic:
    users = service.list_users(session=session, limit=limit, after_id=id_cursor(cursor))
    return UserListPublic(items=[UserPublic.model_validate(u) for u in users],
                          next_cursor=next_id_cursor([u.id for u in users], limit))


@api.post("/users", response_model=UserPublic, status_code=201)
def api_create_user(session: SessionDep, admin: RequireAdmin, data: UserCreate) -> UserPublic:
    return UserPublic.model_validate(service.create_user(session=session, actor=admin, data=data))


@api.get("/users/{user_id}", response_model=UserPublic)
def api_get_user(session: SessionDep, admin: RequireAdmin, user_id: int) -> UserPublic:
    return UserPublic.model_validate(service.get_user(session=session, user_id=user_id))


@api.patch("/users/{user_id}", response_model=UserPublic)
def api_update_user(session: SessionDep, admin: RequireAdmin, user_id: int, data: UserUpdate) -> UserPublic:
    return UserPublic.model_validate(service.update_user(session=session, actor=admin, user_id=user_id,
                                                         data=data))


@api.delete("/users/{user_id}", status_code=204)
def api_delete_user(session: SessionDep, admin: RequireAdmin, user_id: int) -> Response:
    service.delete_user(session=session, actor=admin, user_id=user_id)
    return Response(status_code=204)


@api.get("/tokens", response_model=TokenListPublic)
def api_list_tokens(
    session: SessionDep, user: CurrentUser, scopes: TokenScopes, all: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> TokenListPublic:
    """Newest first; `all=true` lists every user's tokens (admins only)."""
    tokens = service.list_tokens(session=session, actor=user, all_users=all, limit=limit,
                                 before_id=id_cursor(cursor), actor_scopes=scopes)
    return TokenListPublic(items=[TokenPublic.model_validate(service.token_public(t)) for t in tokens],
                           next_cursor=next_id_cursor([t.id for t in tokens], limit))


@api.post("/tokens", response_model=TokenCreated, status_code=201)
def api_create_token(session: SessionDep, user: CurrentUser, scopes: TokenScopes, data: TokenCreate) -> TokenCreated:
    """`scopes`: any of read, write, admin (default: all the owner's role allows; asking for more is a 422);
    `expires_at`: when it stops working (a time in the past is a 422)."""
    owner = service.get_user_by_username(session=session, username=data.username) if data.username else user
    token, raw = service.create_token(session=session, actor=user, owner=owner, name=data.name, scopes=data.scopes,
                                      expires_at=data.expires_at, actor_scopes=scopes)
    return TokenCreated.model_validate({**service.token_public(token), "token": raw})


@api.delete("/tokens/{token_id}", status_code=204)
def api_revoke_token(session: SessionDep, user: CurrentUser, scopes: TokenScopes, token_id: int) -> Response:
    service.revoke_token(session=session, actor=user, token_id=token_id, actor_scopes=scopes)
    return Response(status_code=204)


# -- sessions (JSON API) -----------------------------------------------------------------------------------------

def _session_public(row: LoginSession, current_hash: str | None) -> SessionPublic:
    public = SessionPublic.model_validate(row)
    public.current = row.token_hash == current_hash
    return public


@api.get("/me/sessions", response_model=SessionListPublic)
def api_my_sessions(
    request: Request, session: SessionDep, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> SessionListPublic:
    """Your unexpired browser sessions, newest first (`current`: the one this request came with)."""
    rows = service.own_sessions(session=session, user=user, limit=limit, before_id=id_cursor(cursor))
    current = getattr(request.state, "session_hash", None)
    return SessionListPublic(items=[_session_public(row, current) for row in rows],
                             next_cursor=next_id_cursor([row.id for row in rows], limit))


@api.delete("/me/sessions/{session_id}", status_code=204)
def api_end_my_session(session: SessionDep, user: CurrentUser, addr: RemoteAddr, session_id: int) -> Response:
    """End one of your sessions (that browser is logged out at its next request)."""
    service.end_own_session(session=session, user=user, session_id=session_id, remote_addr=addr)
    return Response(status_code=204)


@api.post("/users/{user_id}/sessions/revoke", response_model=SessionsEnded)
def api_end_user_sessions(session: SessionDep, admin: RequireAdmin, user_id: int,
                          tokens: Annotated[bool, Query(description="Revoke the user's API tokens too.")] = False,
                          ) -> SessionsEnded:
    """End every browser session of a user at once (admins); with `tokens=true` also revoke their API tokens."""
    ended, revoked = service.end_user_sessions(session=session, actor=admin, user_id=user_id, revoke_tokens=tokens)
    return SessionsEnded(ended=ended, tokens_revoked=revoked)
