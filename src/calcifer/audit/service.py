"""The audit log: every state-changing action records who, what, when, before and after."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from calcifer.audit.models import AuditEntry
from calcifer.auth.models import User

# Where each audited kind of object lives in the app. Users, tokens and channels have no page of their
# own: their row on the admin page carries the id as an anchor.
_OBJECT_PAGES: dict[str, str] = {
    "work_item": "/work/{id}",
    "endpoint": "/monitoring/endpoints/{id}",
    "service": "/services/{id}",
    "incident": "/incidents/{id}",
    "maintenance": "/maintenance",
    "user": "/settings/users#user-{id}",
    "api_token": "/settings/tokens#token-{id}",
    "notify_channel": "/settings/notifications#channel-{id}",
    "checklist_template": "/settings/checklists",
    "backup": "/settings/backups",
}
_NUMERIC_IDS = {"work_item", "incident", "user", "api_token", "notify_channel"}
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def object_url(*, object_type: str, object_id: str) -> str | None:
    """The app page of an audited object, or None when it has none (or the id cannot be one: a failed
    login names a username that may not exist)."""
    pattern = _OBJECT_PAGES.get(object_type)
    if pattern is None:
        return None
    if "{id}" in pattern:
        wanted_digits = object_type in _NUMERIC_IDS
        if not object_id or (wanted_digits and not object_id.isdigit()) or \
                (not wanted_digits and not set(object_id.lower()) <= _SLUG_CHARS):
            return None
    return pattern.replace("{id}", object_id)


def actor_url(entry: AuditEntry) -> str | None:
    """The users-page row of the person who acted (None for the command line, a failed login, a deleted user)."""
    return f"/settings/users#user-{entry.actor_id}" if entry.actor_id is not None else None


def record(
    *,
    session: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: str | int = "",
    summary: str = "",
    before: Any = None,
    after: Any = None,
    remote_addr: str = "",
    actor_name: str | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (committed with the caller's unit of work)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_name=actor_name or (actor.username if actor else "system"),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        summary=summary[:500],
        before=before,
        after=after,
        remote_addr=remote_addr[:64],
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def list_entries(
    *, session: Session, filters: AuditFilter, limit: int = 50, before_id: int | None = None
) -> list[AuditEntry]:
    """Newest first, keyset-paginated by id (pass the last id seen as `before_id`)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if filters.actor:
        query = query.where(AuditEntry.actor_name == filters.actor)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.since:
        query = query.where(AuditEntry.at >= filters.since)
    if filters.until:
        query = query.where(AuditEntry.at < filters.until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list(session.scalars(query))


def distinct_actions(*, session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))


def entry_as_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor_name,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": entry.summary,
        "before": entry.before,
        "after": entry.after,
    }
