"""Notifications: channels (apprise URLs), routing, the delivery outbox and the notifier that sends it.

- The status-change hook only inserts delivery rows, in the scheduler's transaction (no network).
  ``(channel_id, event_key)`` is unique and rows are inserted with ON CONFLICT DO NOTHING: never more
  than one message per event per channel, however often the hook fires.
- The notifier (a background thread) claims due rows one at a time with a conditional UPDATE (only one
  of several notifiers wins a row), sends them with apprise, and marks them sent, or pending again
  with a back-off, or failed after the last attempt. Every few seconds it also queues reminders for
  endpoints still down and certificate notices.
- Channel URLs hold secrets: they are stored as given (they must work) but never shown back, logged
  or audited; ``mask_url`` is what people see, and apprise's error messages are scrubbed of every
  part of the URL before they are stored.
- Alerts for endpoints in maintenance are recorded as ``held`` and never sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.catalog import index as catalog_index
from calcifer.db import utcnow
from calcifer.errors import Conflict, Invalid, NotFound
from calcifer.events import EndpointStatus as Status
from calcifer.events import EndpointStatusChanged as StatusChange
from calcifer.instance import AppContext
from calcifer.monitoring import queries as monitoring
from calcifer.notify import channels
from calcifer.notify.choices import ALL_EVENTS, DeliveryKind, DeliveryStatus, NotifyEvent
from calcifer.notify.models import Channel, Delivery
from calcifer.notify.schemas import ChannelUpdate, clean_reminder

log = logging.getLogger("calcifer.notify")
# Apprise logs request URLs (with their secrets) at DEBUG; keep its own logger at WARNING and above,
# whose messages name hosts only. Its messages reach us through each send's result, scrubbed.
logging.getLogger("apprise").setLevel(logging.WARNING)
_active_urls: dict[int, str] = {}   # sends in flight (apprise sends from its own threads)
_active_lock = threading.Lock()


class _ScrubWhileSending(logging.Filter):
    """Scrubs the URLs of notifications being sent from the HTTP libraries' log records (urllib3 logs
    request paths at DEBUG, and tokens live in paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with _active_lock:
            urls = list(_active_urls.values())
        if urls:
            text = record.getMessage()
            for url in urls:
                text = scrub(text, url)
            record.msg, record.args = text, ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.response", "requests", "apprise"):
    logging.getLogger(_name).addFilter(_ScrubWhileSending())

MAX_ATTEMPTS = 4
BACKOFF = (dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=8))
CLAIM_LEASE = dt.timedelta(minutes=2)   # a claimed row whose notifier died is sent again after this
SEND_TIMEOUT_S = 20
URL_MAX = 2000
MASK = "…"


# -- secrets ---------------------------------------------------------------------------------------------

# localhost, an IPv6 or IPv4 address, or a dotted host name: shown. Anything else may be a token.
_HOSTLIKE = re.compile(r"^(localhost|[0-9a-f]*:[0-9a-f:.]+|\d{1,3}(\.\d{1,3}){3}|[a-z0-9-]+(\.[a-z0-9-]+)+)$",
                       re.IGNORECASE)


def mask_url(url: str) -> str:
    """What people see of a channel URL: the scheme, and the host when it looks like a host name or an
    address; never user, password, port, path or query (apprise puts tokens in any of them, and
    some services put a token where the host goes: ``slack://T0/B0/X`` shows as ``slack://…``).
    ``json://user:pw@127.0.0.1:8080/hook`` shows as ``json://127.0.0.1…``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return MASK
    scheme = re.sub(r"[^a-z0-9+.-]", "", parts.scheme.lower())[:20]
    if not scheme:
        return MASK
    host = ""
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    shown = host if host and _HOSTLIKE.match(host) and len(host) <= 100 else ""
    return f"{scheme}://{shown}{MASK}"


def _secret_parts(url: str) -> list[str]:
    """Every piece of `url` that may be a secret (to scrub from error messages), longest first."""
    pieces: set[str] = {url}
    try:
        parts = urlsplit(url)
        for value in (parts.netloc, parts.username, parts.password, parts.path, parts.query, parts.fragment):
            if value:
                pieces.add(value)
                pieces.add(unquote(value))
        for piece in re.split(r"[/@:?&=#,;]+", url.split("://", 1)[-1]):
            if len(piece) >= 4:
                pieces.add(piece)
                pieces.add(unquote(piece))
        host = parts.hostname or ""
        if host and _HOSTLIKE.match(host):
            pieces.discard(host)  # shown anyway; keeps "connection error to 127.0.0.1" readable
    except ValueError:
        pass
    return sorted((p for p in pieces if p), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """`text` with every part of `url` that could be secret replaced by …"""
    for piece in _secret_parts(url):
        text = text.replace(piece, MASK)
    return text


# -- channels --------------------------------------------------------------------------------------------

def _clean_list(values: list[str] | None, what: str) -> list[str]:
    cleaned = sorted({" ".join(str(v).split()) for v in values or [] if str(v).strip()})
    if len(cleaned) > 500:
        raise Invalid(f"List at most 500 {what}.", details=[{"field": what, "message": "too many"}])
    for value in cleaned:
        if len(value) > 100:
            raise Invalid(f"{what.capitalize()} are at most 100 characters each.",
                          details=[{"field": what, "message": "too long"}])
    return cleaned


def _clean_events(events: list[str] | None) -> list[str]:
    if events is None:
        return list(ALL_EVENTS)
    unknown = sorted(set(events) - set(ALL_EVENTS))
    if unknown:
        raise Invalid(f"Unknown event(s) {', '.join(unknown)}; choose from {', '.join(ALL_EVENTS)}.",
                      details=[{"field": "events", "message": "unknown event"}])
    return [e for e in ALL_EVENTS if e in set(events)]


def validate_url(url: str) -> str:
    """The URL, stripped, when apprise can use it. Raises Invalid (the message never repeats the URL)."""
    url = (url or "").strip()
    if not url:
        raise Invalid("Give the channel's apprise URL (e.g. ntfy://ntfy.sh/topic).",
                      details=[{"field": "url", "message": "required"}])
    if len(url) > URL_MAX or any(ord(c) < 32 for c in url):
        raise Invalid(f"The URL must be one line of at most {URL_MAX} characters.",
                      details=[{"field": "url", "message": "too long or not one line"}])
    resolved = channels.resolve(url)
    if resolved.channel is None:
        raise Invalid(f"This URL ({mask_url(url)}) cannot be used: {resolved.problem}.",
                      details=[{"field": "url", "message": resolved.problem}])
    problem = resolved.channel.check_url(url)
    if problem:
        raise Invalid(f"{problem} ({mask_url(url)}); check the service's URL format in the documentation of its "
                      f"channel type ({resolved.channel.kind}).",
                      details=[{"field": "url", "message": f"not a {resolved.channel.kind} URL"}])
    return url


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise Invalid("Give the channel a name of 1 to 100 characters.",
                      details=[{"field": "name", "message": "1 to 100 characters"}])
    return name


def snapshot(channel: Channel) -> dict[str, Any]:
    """What the audit log keeps of a channel: the masked URL only."""
    return {"name": channel.name, "url": channel.url_masked, "enabled": channel.enabled,
            "services": channel.services, "tags": channel.tags, "endpoints": channel.endpoints,
            "events": channel.events, "reminder_minutes": channel.reminder_minutes}


def _name_taken(session: Session, name: str, except_id: int | None = None) -> bool:
    query = select(Channel.id).where(Channel.name == name)
    if except_id is not None:
        query = query.where(Channel.id != except_id)
    return session.scalar(query) is not None


def create_channel(
    *, session: Session, actor: User, name: str, url: str, services: list[str] | None = None,
    tags: list[str] | None = None, endpoints: list[str] | None = None, events: list[str] | None = None,
    reminder_minutes: int = 0, enabled: bool = True,
) -> Channel:
    """Create a channel. Empty services, tags and endpoints: every endpoint; events None: all of them.

    Raises Invalid (bad name, URL, events, lists) or Conflict (the name is taken).
    """
    name = _clean_name(name)
    url = validate_url(url)
    if _name_taken(session, name):
        raise Conflict(f"A channel named {name!r} exists already; choose another name.", code="name_taken")
    channel = Channel(name=name, url=url, url_masked=mask_url(url), enabled=enabled,
                      services=_clean_list(services, "services"), tags=_clean_list(tags, "tags"),
                      endpoints=_clean_list(endpoints, "endpoints"), events=_clean_events(events),
                      reminder_minutes=clean_reminder(reminder_minutes), created_by_name=actor.username)
    session.add(channel)
    session.flush()
    audit_service.record(session=session, actor=actor, action="notify.channel_create", object_type="notify_channel",
                         object_id=channel.id, summary=f"created notification channel {name}",
                         after=snapshot(channel))
    session.commit()
    return channel


def update_channel(*, session: Session, actor: User, channel_id: int, data: ChannelUpdate) -> Channel:
    channel = get_channel(session=session, channel_id=channel_id)
    before = snapshot(channel)
    fields = data.model_fields_set
    if "name" in fields and data.name is not None:
        name = _clean_name(data.name)
        if _name_taken(session, name, except_id=channel.id):
            raise Conflict(f"A channel named {name!r} exists already; choose another name.", code="name_taken")
        channel.name = name
    if data.url and data.url.strip():
        channel.url = validate_url(data.url)
        channel.url_masked = mask_url(channel.url)
    if "enabled" in fields and data.enabled is not None:
        channel.enabled = data.enabled
    if "services" in fields:
        channel.services = _clean_list(data.services, "services")
    if "tags" in fields:
        channel.tags = _clean_list(data.tags, "tags")
    if "endpoints" in fields:
        channel.endpoints = _clean_list(data.endpoints, "endpoints")
    if "events" in fields:
        channel.events = _clean_events(data.events if data.events is not None else [])
    if "reminder_minutes" in fields and data.reminder_minutes is not None:
        channel.reminder_minutes = clean_reminder(data.reminder_minutes)
    channel.updated_at = utcnow()
    after = snapshot(channel)
    if data.url and data.url.strip():
        after["url_changed"] = True
    audit_service.record(session=session, actor=actor, action="notify.channel_update", object_type="notify_channel",
                         object_id=channel.id, summary=f"updated notification channel {channel.name}",
                         before=before, after=after)
    session.commit()
    return channel


def delete_channel(*, session: Session, actor: User, channel_id: int) -> None:
    channel = get_channel(session=session, channel_id=channel_id)
    before = snapshot(channel)
    session.execute(delete(Delivery).where(Delivery.channel_id == channel.id))
    session.delete(channel)
    audit_service.record(session=session, actor=actor, action="notify.channel_delete", object_type="notify_channel",
                         object_id=channel_id, summary=f"deleted notification channel {before['name']}",
                         before=before)
    session.commit()


def get_channel(*, session: Session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"No notification channel #{channel_id}.")
    return channel


def list_channels(*, session: Session, limit: int = 200, after_name: str | None = None) -> list[Channel]:
    """By name, keyset-paginated (pass the last name seen as ``after_name``)."""
    query = select(Channel).order_by(Channel.name).limit(max(1, min(limit, 1000)))
    if after_name is not None:
        query = query.where(Channel.name > after_name)
    return list(session.scalars(query))


def public(channel: Channel) -> dict[str, Any]:
    """A channel as the API shows it: never its URL, only the masked form."""
    return {"id": channel.id, "name": channel.name, "url_masked": channel.url_masked, "enabled": channel.enabled,
            "services": channel.services, "tags": channel.tags, "endpoints": channel.endpoints,
            "events": channel.events, "reminder_minutes": channel.reminder_minutes,
            "created_by": channel.created_by_name, "created_at": channel.created_at.isoformat(),
            "updated_at": channel.updated_at.isoformat()}


def delivery_public(delivery: Delivery) -> dict[str, Any]:
    return {"id": delivery.id, "channel_id": delivery.channel_id, "event_key": delivery.event_key,
            "kind": delivery.kind, "endpoint": delivery.endpoint_slug, "title": delivery.title,
            "status": delivery.status, "attempts": delivery.attempts, "last_error": delivery.last_error,
            "created_at": delivery.created_at.isoformat(),
            "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None}


def list_deliveries(*, session: Session, channel_id: int | None = None, limit: int = 50,
                    before_id: int | None = None) -> list[Delivery]:
    """Newest first, keyset-paginated by id."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(max(1, min(limit, 500)))
    if channel_id is not None:
        query = query.where(Delivery.channel_id == channel_id)
    if before_id is not None:
        query = query.where(Delivery.id < before_id)
    return list(session.scalars(query))


@dataclass(frozen=True)
class DeliveryNote:
    created_at: dt.datetime
    kind: str
    status: str
    channel_name: str


def deliveries_about(*, session: Session, endpoint_slug: str, since: dt.datetime, until: dt.datetime,
                     limit: int = 50) -> list[DeliveryNote]:
    """Messages queued about an endpoint in a time range (for an incident's timeline)."""
    query = (select(Delivery.created_at, Delivery.kind, Delivery.status, Channel.name)
             .join(Channel, Channel.id == Delivery.channel_id)
             .where(Delivery.endpoint_slug == endpoint_slug, Delivery.created_at >= since,
                    Delivery.created_at <= until + dt.timedelta(minutes=1))
             .order_by(Delivery.id).limit(limit))
    return [DeliveryNote(*row) for row in session.execute(query)]


# -- sending --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""


def send_now(url: str, *, title: str, body: str, kind: str = DeliveryKind.TEST.value,
             timeout: float = SEND_TIMEOUT_S) -> SendResult:
    """Send one message through the channel type of its URL (apprise unless a plugin claims the
    scheme), typed by the delivery `kind` (down: failure, recovery: success).
    Never raises; the error text is scrubbed of the URL's secrets."""
    token = id(object())
    with _active_lock:
        _active_urls[token] = url
    try:
        resolved = channels.resolve(url)
        if resolved.channel is None:
            return SendResult(False, scrub(resolved.problem, url)[:500])
        ok, error = resolved.channel.send(url, title=title, body=body, kind=kind, timeout=timeout)
        if ok:
            return SendResult(True)
    except Exception as exc:  # noqa: BLE001 - any failure of a plugin is a failed delivery, never a crash
        error = f"{type(exc).__name__}: {exc}"
    finally:
        with _active_lock:
            _active_urls.pop(token, None)
    return SendResult(False, scrub(error, url)[:500])


def send_test(*, session: Session, actor: User, channel_id: int) -> Delivery:
    """Send a test message to the channel now (also when it is disabled) and record it as a delivery."""
    channel = get_channel(session=session, channel_id=channel_id)
    now = utcnow()
    delivery = Delivery(channel_id=channel.id, event_key=f"test:{uuid.uuid4().hex}", kind=DeliveryKind.TEST.value,
                        endpoint_slug=None, title="[TEST] Calcifer notification",
                        body=f"A test message from Calcifer to the channel {channel.name!r}, sent by "
                             f"{actor.username} at {now:%Y-%m-%d %H:%M:%S} UTC.",
                        status=DeliveryStatus.SENDING.value, attempts=1, next_attempt_at=now + CLAIM_LEASE)
    session.add(delivery)
    session.commit()
    result = send_now(channel.url, title=delivery.title, body=delivery.body, kind=delivery.kind)
    delivery.status = DeliveryStatus.SENT.value if result.ok else DeliveryStatus.FAILED.value
    delivery.last_error = result.error
    delivery.sent_at = utcnow() if result.ok else None
    audit_service.record(session=session, actor=actor, action="notify.channel_test", object_type="notify_channel",
                         object_id=channel.id, summary=f"sent a test message to {channel.name}: "
                         + ("sent" if result.ok else "failed"))
    session.commit()
    return delivery


# -- routing and queueing ----------------------------------------------------------------------------------------

class _Tags:
    """Tags of services, read once per hook call."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[str, set[str]] = {}

    def of(self, service: str | None) -> set[str]:
        if not service:
            return set()
        if service not in self._known:
            try:
                self._known[service] = set(catalog_index.get_service(session=self._session, slug=service).tags or [])
            except NotFound:
                self._known[service] = set()
        return self._known[service]


def routes_to(channel: Channel, *, slug: str, service: str | None, tags: set[str]) -> bool:
    """Whether the channel hears about this endpoint (all three lists empty: every endpoint)."""
    if not channel.services and not channel.tags and not channel.endpoints:
        return True
    return (slug in channel.endpoints or (service is not None and service in channel.services)
            or bool(tags & set(channel.tags)))


def _enabled_channels(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).where(Channel.enabled.is_(True)).order_by(Channel.id)))


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert delivery rows, skipping any whose (channel, event key) exists: one message per event."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(Delivery).values(rows).on_conflict_do_nothing(
            index_elements=["channel_id", "event_key"]))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(Delivery).values(rows).on_conflict_do_nothing(
            index_elements=["channel_id", "event_key"]))


def _row(channel: Channel, *, key: str, kind: DeliveryKind, slug: str | None, title: str, body: str, held: bool,
         now: dt.datetime) -> dict[str, Any]:
    return {"channel_id": channel.id, "event_key": key[:200], "kind": kind.value, "endpoint_slug": slug,
            "title": title[:300], "body": body, "attempts": 0, "last_error": "", "created_at": now,
            "status": (DeliveryStatus.HELD if held else DeliveryStatus.PENDING).value, "next_attempt_at": now,
            "sent_at": None}


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _message_for(change: StatusChange) -> tuple[NotifyEvent, DeliveryKind, str, str] | None:
    where = f"{change.slug}" + (f" (service {change.service})" if change.service else "")
    detail = f": {change.message}" if change.message else ""
    if change.new == Status.DOWN and change.old != Status.DOWN:
        return (NotifyEvent.DOWN, DeliveryKind.DOWN, f"[DOWN] {change.slug} is down",
                f"{where} is down since {_when(change.at)}{detail}")
    if change.new == Status.DEGRADED and change.old != Status.DEGRADED:
        return (NotifyEvent.DEGRADED, DeliveryKind.DEGRADED, f"[DEGRADED] {change.slug} is degraded",
                f"{where} is degraded since {_when(change.at)} (was {change.old}){detail}")
    if change.new == Status.UP and change.old in (Status.DOWN, Status.DEGRADED):
        return (NotifyEvent.RECOVERY, DeliveryKind.RECOVERY, f"[UP] {change.slug} is up again",
                f"{where} is up again since {_when(change.at)} (was {change.old}).")
    return None


def queue_status_notifications(session: Session, changes: list[StatusChange]) -> None:
    """Queue one delivery per routed channel for each down/degraded/recovery change (held in maintenance).

    Runs in the scheduler's transaction: inserts rows only. The event key is the endpoint, the new
    status and the change's time, so the same change queued twice is one message.
    """
    channels = _enabled_channels(session)
    if not channels:
        return
    tags = _Tags(session)
    now = utcnow()
    rows = []
    for change in changes:
        message = _message_for(change)
        if message is None:
            continue
        event, kind, title, body = message
        key = f"{kind.value}:{change.endpoint_id}:{_ms(change.at)}"
        for channel in channels:
            if event.value in channel.events and routes_to(channel, slug=change.slug, service=change.service,
                                                           tags=tags.of(change.service)):
                rows.append(_row(channel, key=key, kind=kind, slug=change.slug, title=title, body=body,
                                 held=change.in_maintenance, now=now))
    _insert(session, rows)


def queue_reminders(*, session: Session, now: dt.datetime | None = None) -> int:
    """For every open incident: a reminder per channel each `reminder_minutes` it stays down (key: the
    incident and the reminder's number, so each is sent once), and one "still down" alert when its
    down alert was held by a maintenance window that has ended since. Returns rows offered."""
    now = now or utcnow()
    channels = [c for c in _enabled_channels(session) if NotifyEvent.DOWN.value in c.events]
    if not channels:
        return 0
    open_incidents = monitoring.open_incidents(session=session, limit=1000)
    if not open_incidents:
        return 0
    in_maintenance = monitoring.endpoints_in_maintenance(session=session, now=now)
    tags = _Tags(session)
    rows = []
    for incident in open_incidents:
        held = incident.endpoint_slug in in_maintenance
        down_for = now - incident.started_at
        minutes = int(down_for.total_seconds() // 60)
        for channel in channels:
            if not routes_to(channel, slug=incident.endpoint_slug, service=incident.service,
                             tags=tags.of(incident.service)):
                continue
            if channel.reminder_minutes > 0:
                number = minutes // channel.reminder_minutes
                if number >= 1:
                    rows.append(_row(channel, key=f"reminder:{incident.id}:{number}", kind=DeliveryKind.REMINDER,
                                     slug=incident.endpoint_slug, held=held, now=now,
                                     title=f"[STILL DOWN] {incident.endpoint_slug} is still down",
                                     body=f"{incident.endpoint_slug} has been down for {minutes} minutes, since "
                                          f"{_when(incident.started_at)} (incident #{incident.id})."))
            if incident.in_maintenance and not held:
                rows.append(_row(channel, key=f"after-maintenance:{incident.id}", kind=DeliveryKind.DOWN,
                                 slug=incident.endpoint_slug, held=False, now=now,
                                 title=f"[DOWN] {incident.endpoint_slug} is down",
                                 body=f"{incident.endpoint_slug} went down at {_when(incident.started_at)} during "
                                      f"maintenance and is still down now that the maintenance is over "
                                      f"(incident #{incident.id})."))
    _insert(session, rows)
    session.commit()
    return len(rows)


def queue_certificate_notices(*, session: Session, warn_days: float, now: dt.datetime | None = None) -> int:
    """One notice per channel and certificate (key: endpoint and the certificate's expiry/serial) for
    endpoints whose certificate has fewer than `warn_days` days left. Returns rows offered."""
    now = now or utcnow()
    channels = [c for c in _enabled_channels(session) if NotifyEvent.CERT_EXPIRY.value in c.events]
    if not channels:
        return 0
    expiring = monitoring.expiring_certificates(session=session, warn_days=warn_days)
    if not expiring:
        return 0
    in_maintenance = monitoring.endpoints_in_maintenance(session=session, now=now)
    tags = _Tags(session)
    rows = []
    for cert in expiring:
        try:
            service = catalog_index.get_endpoint(session=session, slug=cert.slug).service
        except NotFound:
            continue  # no longer in the catalog
        identity = cert.serial or (cert.expires_at.isoformat() if cert.expires_at else "unknown")
        expires = f" on {_when(cert.expires_at)}" if cert.expires_at else ""
        for channel in channels:
            if routes_to(channel, slug=cert.slug, service=service, tags=tags.of(service)):
                rows.append(_row(channel, key=f"cert:{cert.slug}:{identity}", kind=DeliveryKind.CERT_EXPIRY,
                                 slug=cert.slug, held=cert.slug in in_maintenance, now=now,
                                 title=f"[CERTIFICATE] {cert.slug}: certificate expires in {cert.days_left:.0f} days",
                                 body=f"The TLS certificate of {cert.slug} expires{expires} "
                                      f"({cert.days_left:.1f} days left; warning below {warn_days:g})."))
    _insert(session, rows)
    session.commit()
    return len(rows)


def _claim(session: Session, delivery_id: int, now: dt.datetime) -> bool:
    """Atomically take a due delivery; of several notifiers exactly one gets True."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.next_attempt_at <= now,
               Delivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]))
        .values(status=DeliveryStatus.SENDING.value, next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False))
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


Sender = Callable[..., SendResult]


def send_due(*, session_factory: sessionmaker[Session], now: dt.datetime | None = None, limit: int = 50,
             sender: Sender = send_now) -> int:
    """Send due deliveries (pending, or claimed by a notifier whose lease ran out). Returns how many
    were attempted by this call."""
    now = now or utcnow()
    attempted = 0
    with session_factory() as session:
        due = list(session.scalars(
            select(Delivery.id).where(Delivery.next_attempt_at <= now, Delivery.status.in_(
                [DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]))
            .order_by(Delivery.id).limit(limit)))
        for delivery_id in due:
            if not _claim(session, delivery_id, now):
                continue
            delivery = session.get(Delivery, delivery_id)
            channel = session.get(Channel, delivery.channel_id) if delivery else None
            if delivery is None:
                continue
            attempted += 1
            delivery.attempts += 1
            if channel is None or not channel.enabled:
                delivery.status = DeliveryStatus.FAILED.value
                delivery.last_error = "the channel was disabled before the message was sent"
                session.commit()
                continue
            url, title, body, kind = channel.url, delivery.title, delivery.body, delivery.kind
            session.commit()  # no transaction stays open while the network call runs
            result = sender(url, title=title, body=body, kind=kind)
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:
                continue
            if result.ok:
                delivery.status = DeliveryStatus.SENT.value
                delivery.sent_at = utcnow()
                delivery.last_error = ""
            elif delivery.attempts < MAX_ATTEMPTS:
                delivery.status = DeliveryStatus.PENDING.value
                delivery.next_attempt_at = now + BACKOFF[min(delivery.attempts, len(BACKOFF)) - 1]
                delivery.last_error = result.error
                log.warning("notification %s to channel #%s failed (attempt %s): %s", delivery.id,
                            delivery.channel_id, delivery.attempts, result.error)
            else:
                delivery.status = DeliveryStatus.FAILED.value
                delivery.last_error = result.error
                log.warning("notification %s to channel #%s failed for good after %s attempts: %s",
                            delivery.id, delivery.channel_id, delivery.attempts, result.error)
            session.commit()
    return attempted


# -- the notifier (a background service) -------------------------------------------------------------------------

class Notifier:
    """A thread that sends due deliveries every `poll` seconds, queues reminders every
    `reminder_every` and certificate notices every `cert_every` seconds."""

    def __init__(self, ctx: AppContext, *, poll: float = 1.0, reminder_every: float = 30.0,
                 cert_every: float = 300.0) -> None:
        self.ctx = ctx
        self.poll = poll
        self.reminder_every = reminder_every
        self.cert_every = cert_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="calcifer-notifier", daemon=True)

    def start(self) -> Notifier:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def run_once(self, *, now: dt.datetime | None = None, reminders: bool = True, certificates: bool = True) -> int:
        factory = self.ctx.session_factory
        if reminders:
            with factory() as session:
                queue_reminders(session=session, now=now)
        if certificates:
            with factory() as session:
                queue_certificate_notices(session=session, warn_days=self.ctx.settings.monitor_cert_warn_days,
                                          now=now)
        return send_due(session_factory=factory, now=now)

    def _run(self) -> None:
        next_reminders = next_certificates = 0.0
        while not self._stop.is_set():
            clock = time.monotonic()
            reminders, certificates = clock >= next_reminders, clock >= next_certificates
            try:
                self.run_once(reminders=reminders, certificates=certificates)
            except Exception:  # noqa: BLE001 - the notifier keeps running; the next round retries
                log.exception("notifier round failed")
            if reminders:
                next_reminders = clock + self.reminder_every
            if certificates:
                next_certificates = clock + self.cert_every
            self._stop.wait(self.poll)


def start_notifier(ctx: AppContext) -> Callable[[], None]:
    """Start the notifier thread; returns its stop function (`calcifer worker` can call this too)."""
    notifier = Notifier(ctx).start()
    return notifier.stop


def start_in_web(ctx: AppContext) -> Callable[[], None] | None:
    # Runs where the scheduler runs: inside the web app when monitor_in_web (default), else in
    # `calcifer worker`. Several notifiers are safe (each delivery is claimed by one).
    if not ctx.settings.monitor_in_web:
        return None
    return start_notifier(ctx)
