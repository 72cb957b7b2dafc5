"""Push heartbeats: the secret URL a cron job or script calls, and recording each call.

The token is ``HMAC-SHA256(secret key, "push:" + slug)``, first 32 hex characters: stable for the
endpoint's life, never stored, and useless for guessing another endpoint's token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from calcifer.catalog import queries as catalog_queries
from calcifer.catalog.choices import EndpointType
from calcifer.db import utcnow
from calcifer.errors import Invalid, NotFound
from calcifer.monitoring.checks.base import PushSeen
from calcifer.monitoring.choices import Status
from calcifer.monitoring.models.checks import PushHeartbeat

PUSH_PATH = "/api/v1/push/"
MESSAGE_LIMIT = 300
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# What a caller may report; anything else is refused (a typo must not read as "up").
REPORTABLE = {"up": Status.UP, "ok": Status.UP, "down": Status.DOWN, "fail": Status.DOWN, "error": Status.DOWN}


def push_token(secret_key: str, slug: str) -> str:
    """The heartbeat token of push endpoint ``slug``."""
    digest = hmac.new(secret_key.encode(), b"push:" + slug.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def push_url(secret_key: str, slug: str, base_url: str = "") -> str:
    """The heartbeat URL of ``slug``: absolute when ``base_url`` (e.g. ``str(request.base_url)``) is given."""
    return base_url.rstrip("/") + PUSH_PATH + push_token(secret_key, slug)


def _unknown() -> NotFound:
    # One message for every wrong token: it must not tell which endpoints exist.
    return NotFound("No push endpoint has this token. Copy the heartbeat URL again from the endpoint's "
                    "monitoring page (the token changes when the endpoint's slug changes).",
                    code="unknown_push_token")


def _slug_for(session: Session, secret_key: str, token: str) -> str:
    if not _TOKEN.match(token):
        raise _unknown()
    slugs = sorted(catalog_queries.endpoint_slugs(session=session, endpoint_type=EndpointType.PUSH.value, enabled=True))
    found = None
    for slug in slugs:
        # Compare every one (constant time each, no early exit) so timing does not single one out.
        if hmac.compare_digest(push_token(secret_key, slug), token):
            found = slug
    if found is None:
        raise _unknown()
    return found


def clean_message(message: str | None) -> str:
    return _CONTROL.sub(" ", message or "").strip()[:MESSAGE_LIMIT]


def record_push(*, session: Session, secret_key: str, token: str, status: str = "up", message: str = "",
                at: dt.datetime | None = None) -> str:
    """Record one heartbeat call and commit; returns the endpoint's slug.

    ``status`` is what the caller reports (``up`` or ``down``; ``ok``/``fail``/``error`` too).
    Raises NotFound for a token no enabled push endpoint has, Invalid for an unknown status.
    """
    reported = REPORTABLE.get((status or "up").strip().lower())
    if reported is None:
        raise Invalid(f"status must be up or down, not {status[:20]!r}", code="invalid_push_status")
    slug = _slug_for(session, secret_key, token)
    when = at or utcnow()
    values = {"slug": slug, "last_push_at": when, "reported_status": reported.value,
              "message": clean_message(message), "pushes": 1}
    # One statement, safe when two calls race for the first heartbeat.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(PushHeartbeat).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[PushHeartbeat.slug],
        set_={"last_push_at": statement.excluded.last_push_at,
              "reported_status": statement.excluded.reported_status,
              "message": statement.excluded.message,
              "pushes": PushHeartbeat.pushes + 1})
    session.execute(statement)
    session.commit()
    return slug


def heartbeats(*, session: Session, slugs: list[str] | None = None) -> dict[str, PushSeen]:
    """The last heartbeat of every push endpoint (or of ``slugs``), as the push check reads them."""
    query = select(PushHeartbeat)
    if slugs is not None:
        query = query.where(PushHeartbeat.slug.in_(slugs))
    return {row.slug: PushSeen(at=row.last_push_at, reported_status=Status(row.reported_status),
                               message=row.message)
            for row in session.scalars(query)}


def heartbeat(*, session: Session, slug: str) -> PushHeartbeat | None:
    """The stored heartbeat row of ``slug`` (count, last call), or None before the first call."""
    return session.get(PushHeartbeat, slug)
