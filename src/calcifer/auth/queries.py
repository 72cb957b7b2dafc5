"""Read model of users for other slices (discussion's mentions, the inbox's recipients)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.auth.models import User
from calcifer.listing import like_pattern


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    username: str
    email: str
    role: str


def _people(session: Session, query: object) -> list[Person]:
    rows = session.execute(query)  # type: ignore[call-overload]
    return [Person(*row) for row in rows]


_COLUMNS = (User.id, User.username, User.email, User.role)


def usernames_like(*, session: Session, prefix: str, limit: int = 10) -> list[str]:
    """Active users whose username starts with ``prefix`` (any case), by username."""
    pattern = like_pattern(prefix)[1:]  # anchored at the start
    query = (select(User.username).where(User.is_active.is_(True), User.username.ilike(pattern, escape="\\"))
             .order_by(User.username).limit(limit))
    return list(session.scalars(query))


def people_named(*, session: Session, usernames: Collection[str]) -> list[Person]:
    """Active users with these usernames (exact; unknown names are left out)."""
    names = sorted(set(usernames))[:500]
    if not names:
        return []
    return _people(session, select(*_COLUMNS).where(User.is_active.is_(True), User.username.in_(names)))


def people(*, session: Session, ids: Collection[int]) -> dict[int, Person]:
    """Active users by id."""
    found: dict[int, Person] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 500):
        for person in _people(session, select(*_COLUMNS).where(User.is_active.is_(True),
                                                               User.id.in_(ordered[start:start + 500]))):
            found[person.id] = person
    return found
