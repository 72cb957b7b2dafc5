"""The one role check every route, page, template, service and command goes through."""

from __future__ import annotations

from typing import Protocol

from calcifer.auth.choices import Role


class HasRole(Protocol):
    role: str


def has_role(user: HasRole | None, role: Role | str) -> bool:
    """Whether ``user`` holds ``role`` or a stronger one (viewer < editor < admin); nobody holds any."""
    if user is None:
        return False
    try:
        held = Role(user.role)
    except ValueError:
        return False
    return held.allows(Role(role))
