"""Route dependencies, defined once as `Annotated` aliases (SessionDep, CurrentUser, RequireEditor...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from calcifer.auth.choices import Role
from calcifer.auth.models import User
from calcifer.auth.roles import has_role
from calcifer.config import Settings
from calcifer.errors import NotAuthenticated, NotFound, PermissionDenied
from calcifer.web.context import AppContext
from calcifer.web.security import CSRF_FIELD, CSRF_HEADER, csrf_valid

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Called by scripts, authenticated by a secret in the path, never by a cookie: nothing to forge.
CSRF_EXEMPT_PREFIXES = ("/api/v1/push/",)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_session(request: Request) -> Iterator[Session]:
    session = get_ctx(request).session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def get_settings(request: Request) -> Settings:
    return get_ctx(request).settings


def current_user(request: Request) -> User:
    user: User | None = getattr(request.state, "user", None)
    if user is None:
        raise NotAuthenticated("Log in first.")
    return user


def require_role(role: Role):  # type: ignore[no-untyped-def]
    def checker(user: Annotated[User, Depends(current_user)]) -> User:
        if not has_role(user, role):
            raise PermissionDenied(f"This needs the {role.value} role; you are {user.role}.")
        return user

    return checker


async def verify_csrf(request: Request) -> None:
    """Every state-changing request from a browser carries the CSRF token (form field or header).

    Requests authenticated with a bearer token are exempt: browsers never send those by themselves.
    """
    if request.method not in UNSAFE_METHODS or request.state.auth_method == "token":
        return
    if request.url.path.startswith(CSRF_EXEMPT_PREFIXES):
        return
    presented = request.headers.get(CSRF_HEADER)
    if not presented and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not csrf_valid(request, presented):
        raise PermissionDenied("The form's security token is missing or expired: reload the page and "
                               "try again.", code="csrf_failed")


# The largest id of the rows a path can name (their id columns are 32-bit on PostgreSQL): a larger one
# names nothing.
MAX_ROW_ID = 2**31 - 1


def bounded_path_ids(request: Request) -> None:
    """A numeric id in the path beyond what the database stores is a 404, before any route queries it
    (PostgreSQL refuses to compare it with an integer column, SQLite's driver overflows past 64 bits)."""
    for name, value in request.path_params.items():
        if (name.endswith("_id") or name == "index") and isinstance(value, str) and value.lstrip("-").isdigit() \
                and value.isascii() and abs(int(value)) > MAX_ROW_ID:
            raise NotFound(f"There is nothing at this address: no {name.removesuffix('_id')} has that number.")


def remote_addr(request: Request) -> str:
    return request.client.host if request.client else ""


CtxDep = Annotated[AppContext, Depends(get_ctx)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CurrentUser = Annotated[User, Depends(current_user)]
RequireViewer = Annotated[User, Depends(require_role(Role.VIEWER))]
RequireEditor = Annotated[User, Depends(require_role(Role.EDITOR))]
RequireAdmin = Annotated[User, Depends(require_role(Role.ADMIN))]
RemoteAddr = Annotated[str, Depends(remote_addr)]
