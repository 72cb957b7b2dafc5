"""The one role check every route, page, template, service and command goes through."""

from __future__ import annotations

from typing import Protocol

from calcifer.auth.choices import Role


class HasRole(Protocol):
    role: str
    is_active: bool


def has_role(user: HasRole | None, role: Role | str) -> bool:
    """Whether ``user`` holds ``role`` or a stronger one (viewer < editor < admin).

    False for nobody, a disabled user or a role name this version does not know.
    """
    if user is None or not user.is_active:
        return False
    try:
        return Role(user.role).allows(Role(role))
    except ValueError:
        return False
