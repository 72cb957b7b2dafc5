"""Route dependencies, defined once as `Annotated` aliases (SessionDep, CurrentUser, RequireEditor...)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from sqlalchemy.orm import Session

from calcifer.auth import roles
from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role, Scope
from calcifer.auth.models import User
from calcifer.config import Settings
from calcifer.db import unstorable
from calcifer.errors import Invalid, NotAuthenticated, NotFound, PermissionDenied
from calcifer.instance import AppContext
from calcifer.listing import MAX_LIMIT
from calcifer.web.security import CSRF_FIELD, CSRF_HEADER, csrf_valid

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Called by scripts, authenticated by a secret in the path, never by a cookie: nothing to forge.
# Push heartbeats (a secret in the path), the forge's webhook (a signature of the body) and remote probes
# (their own token) authenticate themselves.
CSRF_EXEMPT_PREFIXES = ("/api/v1/push/", "/api/v1/repository/webhook", "/api/v1/probes/results",
                        "/api/v1/probes/heartbeat")


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


def token_scopes(request: Request) -> tuple[str, ...] | None:
    """The scopes of the API token this request came with; None for a browser session."""
    scopes: tuple[str, ...] | None = getattr(request.state, "token_scopes", None)
    return scopes


def _check_scope(request: Request, role: Role) -> None:
    # Every route depends on current_user (the authorization matrix checks it), so a token's scope is
    # checked here once for all of them, from the method and the role the route declares.
    scopes = token_scopes(request)
    needed = roles.needed_scope(request.method, role, getattr(request.scope.get("route"), "path", ""))
    if not roles.scope_allows(scopes, needed):
        held = ", ".join(scopes or ()) or "none"
        what = "an admin route" if needed is Scope.ADMIN else f"a change ({request.method})"
        raise PermissionDenied(f"This API token has the scopes {held}; {what} needs the {needed.value} scope. "
                               f"Create a token with the {needed.value} scope.", code="insufficient_scope")


_ROLE_ATTRIBUTE = "calcifer_role"
_DECLARED_ATTRIBUTE = "calcifer_declared_role"


def _roles_declared(dependant: Dependant) -> list[Role]:
    found: list[Role] = []
    for sub in dependant.dependencies:
        role = getattr(sub.call, _ROLE_ATTRIBUTE, None)
        if isinstance(role, Role):
            found.append(role)
        found.extend(_roles_declared(sub))
    return found


def declared_role(request: Request) -> Role:
    """The strongest role the matched route declares (RequireViewer/Editor/Admin); viewer for a route
    that only needs a logged-in user."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return Role.VIEWER
    role = getattr(route, _DECLARED_ATTRIBUTE, None)
    if not isinstance(role, Role):  # worked out once per route object, kept on it
        role = max(_roles_declared(dependant), key=lambda r: r.rank, default=Role.VIEWER)
        setattr(route, _DECLARED_ATTRIBUTE, role)
    return role


def _check_role(user: User, role: Role) -> None:
    if not auth_service.has_role(user, role):
        raise PermissionDenied(f"This needs the {role.value} role; you are {user.role}.")


def current_user(request: Request) -> User:
    """The logged-in user, once the route's declared role and, for an API token, its scope allow the
    request: the one place every route's access is decided (the role first, then the scope)."""
    user: User | None = getattr(request.state, "user", None)
    if user is None:
        raise NotAuthenticated("Log in first.")
    role = declared_role(request)
    _check_role(user, role)
    _check_scope(request, role)
    return user


def require_role(role: Role):  # type: ignore[no-untyped-def]
    def checker(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
        _check_role(user, role)  # already checked by current_user when routing found the route
        _check_scope(request, role)
        return user

    setattr(checker, _ROLE_ATTRIBUTE, role)

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


_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _surely_storable(body: bytes) -> bool:
    """True when the JSON text ``body`` cannot hold an unstorable value: it is ASCII (a lone surrogate
    could only be a ``\\uD800``-``\\uDFFF`` escape), has no such escape and no run of 19 digits (an
    integer of fewer digits fits in 64 bits). Scans in C, about 0.1 ms for 100 kB; a body that fails
    them (rarely, and never wrongly) is walked value by value."""
    return (body.isascii() and _SURROGATE_ESCAPE.search(body) is None
            and body.translate(_DIGITS_AS_ZERO).find(b"0" * 19) < 0)


def _unstorable_fields(body: object) -> list[dict[str, str]]:
    # Iterative, so a deeply nested body cannot exhaust the stack (a RecursionError would be a 500).
    found: list[dict[str, str]] = []
    pending: list[tuple[object, str]] = [(body, "")]
    while pending:
        value, path = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((key, path or "body"))
                pending.append((item, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list):
            pending.extend((item, f"{path}.{index}" if path else str(index)) for index, item in enumerate(value))
        else:
            reason = unstorable(value)
            if reason is not None:
                found.append({"field": path or "body", "message": reason})
    return found


async def reject_unstorable_json(request: Request) -> None:
    """A JSON body holding text with a lone surrogate or an integer beyond 64 bits is refused (422)
    naming each field, before any route acts on it: nothing can store either (see `db.unstorable`,
    which guards every statement as well, for path, query and form values)."""
    content_type = request.headers.get("content-type", "")
    if request.method not in UNSAFE_METHODS or "json" not in content_type:
        return
    if _surely_storable(await request.body()):
        return
    try:
        body = await request.json()
    except ValueError:
        return  # malformed JSON: FastAPI's own validation says so
    found = _unstorable_fields(body)
    if found:
        message = "; ".join(f"{item['field']}: {item['message']}" for item in found[:5])
        raise Invalid(f"Invalid input: {message}.", details=found, code="unstorable_value")
# The largest id of the rows a path can name (their id columns are 32-bit on PostgreSQL): a larger one
# names nothing.
MAX_ROW_ID = 2**31 - 1


async def bounded_path_ids(request: Request) -> None:
    """A numeric id in the path beyond what the database stores is a 404, before any route queries it
    (PostgreSQL refuses to compare it with an integer column, SQLite's driver overflows past 64 bits).
    ``async``: it only reads the path, and a plain function dependency would cost every request a trip to
    the thread pool."""
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
TokenScopes = Annotated[tuple[str, ...] | None, Depends(token_scopes)]
# Paging of the lists that follow the shared conventions (default page calcifer.listing.DEFAULT_LIMIT).
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many items a page holds at most.")]
CursorQuery = Annotated[str | None, Query(description="next_cursor of the previous page")]
