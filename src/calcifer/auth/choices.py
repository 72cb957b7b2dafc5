from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Roles, weakest first: each role can do everything the ones before it can."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Scope(StrEnum):
    """What an API token may do, weakest first; each scope includes the ones before it."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)


class AuthSource(StrEnum):
    """Where a user's password (or sign-in) is checked."""

    LOCAL = "local"
    LDAP = "ldap"
    OIDC = "oidc"


class ProviderKind(StrEnum):
    """The ways to log in an admin can set up besides local passwords."""

    OIDC = "oidc"
    LDAP = "ldap"
