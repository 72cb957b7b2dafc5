"""The one role check every route, page, template, service and command goes through.

API tokens carry scopes (read < write < admin) that narrow what their user's role allows; the scope
a request needs is decided here too (``needed_scope``), and checked with ``has_role(..., scopes=...)``
or ``scope_allows``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from calcifer.auth.choices import Role, Scope

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The strongest scope each role may give a token.
_SCOPE_OF_ROLE = {Role.VIEWER: Scope.READ, Role.EDITOR: Scope.WRITE, Role.ADMIN: Scope.ADMIN}


class HasRole(Protocol):
    role: str
    is_active: bool


def has_role(user: HasRole | None, role: Role | str, *, scopes: Collection[str] | None = None) -> bool:
    """Whether ``user`` holds ``role`` or a stronger one (viewer < editor < admin).

    False for nobody, a disabled user or a role name this version does not know. With ``scopes`` (the
    request came with an API token) the admin role also needs the token's admin scope.
    """
    if user is None or not user.is_active:
        return False
    try:
        allowed = Role(user.role).allows(Role(role))
    except ValueError:
        return False
    if allowed and scopes is not None and Role(role) is Role.ADMIN:
        return scope_allows(scopes, Scope.ADMIN)
    return allowed


def scope_allows(scopes: Collection[str] | None, needed: Scope) -> bool:
    """Whether a token with ``scopes`` may do what needs ``needed``; None (a browser session) may do anything."""
    if scopes is None:
        return True
    return needed.value in scopes


# POST routes that only compute an answer from the body and change nothing (a preview, a validation):
# a read token may call them. Each is listed here by (method, path as declared), on purpose by hand.
READ_ONLY_ROUTES = frozenset({("POST", "/api/v1/docs/preview"), ("POST", "/api/v1/catalog/validate/{kind}")})


def needed_scope(method: str, role: Role | str, path: str = "") -> Scope:
    """The scope a request needs: admin for a route that needs the admin role, write for any other
    change (every method but GET, HEAD and OPTIONS, unless the route is in READ_ONLY_ROUTES), read
    otherwise. ``path`` is the route's path as declared (``/api/v1/work-items/{item_id}``)."""
    if Role(role) is Role.ADMIN:
        return Scope.ADMIN
    method = method.upper()
    return Scope.READ if method in SAFE_METHODS or (method, path) in READ_ONLY_ROUTES else Scope.WRITE


def scopes_for_role(role: str) -> list[Scope]:
    """Every scope a user of ``role`` may give a token (none for an unknown role)."""
    try:
        strongest = _SCOPE_OF_ROLE[Role(role)]
    except ValueError:
        return []
    return [scope for scope in Scope if scope.rank <= strongest.rank]


def expand_scopes(scopes: Collection[str]) -> list[Scope]:
    """``scopes`` with the ones each includes (write includes read, admin both), weakest first."""
    strongest = max((Scope(s).rank for s in scopes), default=-1)
    return [scope for scope in Scope if scope.rank <= strongest]
