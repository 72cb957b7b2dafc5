"""Webhooks: admins' definitions, the fan-out from the domain-event outbox, claiming and recording
deliveries (the deliverer in ``deliverer.py`` does the sending), redeliver and send test.

- Fan-out reads undispatched outbox events (``outbox.service``), writes one delivery row per matching
  webhook with ON CONFLICT DO NOTHING on ``(webhook_id, dedupe_key)`` and marks the events dispatched, in
  one transaction: an event reaches each webhook at most once, and a crash in between repeats nothing.
- A delivery is claimed with a conditional UPDATE (status and due time) stamped with a random token, so
  of several deliverers exactly one sends it; a claim is a lease: a deliverer that died mid-send leaves
  a row that is due again when the lease runs out.
- Failed attempts are retried with exponential back-off until 24 hours after the delivery was queued,
  then the delivery is ``failed``. Everything lives in the database: a restart loses nothing.
- The secret is sealed (``calcifer.sealed``, purpose ``webhook-secret``); no answer, page, log or audit
  entry carries it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.catalog import queries as catalog_queries
from calcifer.db import utcnow
from calcifer.errors import Invalid, NotFound
from calcifer.outbox import service as outbox
from calcifer.sealed import SealError, seal, unseal
from calcifer.urls import url_problem
from calcifer.webhooks import transport
from calcifer.webhooks.choices import ALL_EVENTS, SCHEMA_VERSION, TEST_EVENT, DeliveryKind, DeliveryStatus
from calcifer.webhooks.models import Webhook, WebhookDelivery
from calcifer.webhooks.schemas import (
    FILTER_ITEM_MAX,
    FILTER_MAX,
    NAME_MAX,
    SECRET_MAX,
    WebhookCreate,
    WebhookUpdate,
)

log = logging.getLogger("calcifer.webhooks")

SECRET_PURPOSE = "webhook-secret"
RETRY_WINDOW = dt.timedelta(hours=24)
TEST_TIMEOUT_S = 10.0


# -- validation ----------------------------------------------------------------------------------------------

def _field_error(field: str, message: str, hint: str) -> Invalid:
    return Invalid(message, details=[{"field": field, "message": hint}])


def clean_url(url: str | None) -> str:
    url = (url or "").strip()
    if not url:
        raise _field_error("url", "Give the URL deliveries are POSTed to (http:// or https://).", "required")
    problem = url_problem(url)
    if problem is not None:
        raise _field_error("url", f"The webhook URL is not usable: {problem}.", problem)
    return url


def clean_events(events: list[str] | None) -> list[str]:
    chosen = {str(e).strip() for e in events or [] if str(e).strip()}
    if not chosen:
        raise _field_error("events", f"Choose at least one event ({', '.join(ALL_EVENTS)}).", "required")
    unknown = sorted(chosen - set(ALL_EVENTS))
    if unknown:
        raise _field_error("events", f"Unknown event(s) {', '.join(unknown)}; choose from {', '.join(ALL_EVENTS)}.",
                           "unknown event")
    return [e for e in ALL_EVENTS if e in chosen]


def clean_secret(secret: str | None) -> str:
    secret = secret or ""
    if not secret.strip():
        raise _field_error("secret", "Give a secret: every delivery is signed with it (X-Calcifer-Signature).",
                           "required")
    if len(secret) > SECRET_MAX or any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise _field_error("secret", f"The secret is one line of at most {SECRET_MAX} characters.",
                           "too long or not one line")
    return secret


def clean_list(values: list[str] | None, field: str) -> list[str]:
    cleaned = sorted({" ".join(str(v).split()) for v in values or [] if str(v).strip()})
    if len(cleaned) > FILTER_MAX:
        raise _field_error(field, f"List at most {FILTER_MAX} {field}.", "too many")
    if any(len(value) > FILTER_ITEM_MAX for value in cleaned):
        raise _field_error(field, f"{field.capitalize()} are at most {FILTER_ITEM_MAX} characters each.", "too long")
    return cleaned


def clean_name(name: str | None, url: str) -> str:
    name = " ".join((name or "").split())
    if len(name) > NAME_MAX:
        raise _field_error("name", f"The name is at most {NAME_MAX} characters.", "too long")
    if not name:
        from urllib.parse import urlsplit

        name = (urlsplit(url).hostname or "webhook")[:NAME_MAX]
    return name


# -- webhooks ------------------------------------------------------------------------------------------------

def snapshot(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook: everything but the secret."""
    return {"name": webhook.name, "url": webhook.url, "events": webhook.events, "services": webhook.services,
            "tags": webhook.tags, "categories": webhook.categories, "enabled": webhook.enabled}


def public(webhook: Webhook) -> dict[str, Any]:
    """A webhook as the API shows it: never its secret."""
    return {**snapshot(webhook), "id": webhook.id, "secret_set": True, "created_by": webhook.created_by_name,
            "created_at": webhook.created_at, "updated_at": webhook.updated_at}


def create_webhook(*, session: Session, actor: User, secret_key: str, data: WebhookCreate) -> Webhook:
    """Create a webhook. Raises Invalid (URL, events, secret, filters) with what to fix."""
    url = clean_url(data.url)
    webhook = Webhook(name=clean_name(data.name, url), url=url, events=clean_events(data.events),
                      secret_sealed=seal(secret_key, SECRET_PURPOSE, clean_secret(data.secret)),
                      services=clean_list(data.services, "services"), tags=clean_list(data.tags, "tags"),
                      categories=clean_list(data.categories, "categories"), enabled=data.enabled,
                      created_by_name=actor.username)
    session.add(webhook)
    session.flush()
    audit_service.record(session=session, actor=actor, action="webhook.create", object_type="webhook",
                         object_id=webhook.id, summary=f"created webhook {webhook.name}", after=snapshot(webhook))
    session.commit()
    return webhook


def update_webhook(*, session: Session, actor: User, secret_key: str, webhook_id: int,
                   data: WebhookUpdate) -> Webhook:
    webhook = get_webhook(session=session, webhook_id=webhook_id)
    before = snapshot(webhook)
    fields = data.model_fields_set
    if "url" in fields and data.url is not None:
        webhook.url = clean_url(data.url)
    if "name" in fields and data.name is not None:
        webhook.name = clean_name(data.name, webhook.url)
    if "events" in fields:
        webhook.events = clean_events(data.events)
    if data.secret:
        webhook.secret_sealed = seal(secret_key, SECRET_PURPOSE, clean_secret(data.secret))
    for field in ("services", "tags", "categories"):
        if field in fields:
            setattr(webhook, field, clean_list(getattr(data, field), field))
    if "enabled" in fields and data.enabled is not None:
        webhook.enabled = data.enabled
    webhook.updated_at = utcnow()
    after = snapshot(webhook)
    if data.secret:
        after["secret_changed"] = True
    audit_service.record(session=session, actor=actor, action="webhook.update", object_type="webhook",
                         object_id=webhook.id, summary=f"updated webhook {webhook.name}", before=before, after=after)
    session.commit()
    return webhook


def delete_webhook(*, session: Session, actor: User, webhook_id: int) -> None:
    webhook = get_webhook(session=session, webhook_id=webhook_id)
    before = snapshot(webhook)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    session.delete(webhook)
    audit_service.record(session=session, actor=actor, action="webhook.delete", object_type="webhook",
                         object_id=webhook_id, summary=f"deleted webhook {before['name']}", before=before)
    session.commit()


def get_webhook(*, session: Session, webhook_id: int) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise NotFound(f"No webhook #{webhook_id}.")
    return webhook


def list_webhooks(*, session: Session, limit: int = 50, after_id: int | None = None) -> list[Webhook]:
    """By id, keyset-paginated (pass the last id seen as ``after_id``)."""
    query = select(Webhook).order_by(Webhook.id).limit(max(1, min(limit, 500)))
    if after_id is not None:
        query = query.where(Webhook.id > after_id)
    return list(session.scalars(query))


# -- deliveries: the log ---------------------------------------------------------------------------------------

def delivery_public(delivery: WebhookDelivery) -> dict[str, Any]:
    pending = delivery.status in (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)
    return {"id": delivery.id, "delivery": delivery.uid, "webhook_id": delivery.webhook_id, "kind": delivery.kind,
            "event": delivery.event, "event_id": delivery.event_id, "status": delivery.status,
            "attempts": delivery.attempts, "response_code": delivery.response_code,
            "response_ms": delivery.response_ms, "last_error": delivery.last_error,
            "created_at": delivery.created_at, "last_attempt_at": delivery.last_attempt_at,
            "next_attempt_at": delivery.next_attempt_at if pending else None,
            "delivered_at": delivery.delivered_at}


def list_deliveries(*, session: Session, webhook_id: int, limit: int = 50,
                    before_id: int | None = None) -> list[WebhookDelivery]:
    """Newest first, keyset-paginated by id."""
    query = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
             .order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 500))))
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    return list(session.scalars(query))


def get_delivery(*, session: Session, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook_id:
        raise NotFound(f"Webhook #{webhook_id} has no delivery #{delivery_id}.")
    return delivery


# -- bodies ------------------------------------------------------------------------------------------------------

def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def body(*, event: str, event_id: int | None, occurred_at: dt.datetime, webhook_id: int,
         data: dict[str, Any]) -> str:
    """The JSON a delivery POSTs (docs/webhooks.schema.json, version ``SCHEMA_VERSION``)."""
    return json.dumps({"schema_version": SCHEMA_VERSION, "event": event, "event_id": event_id,
                       "occurred_at": _iso(occurred_at), "webhook": {"id": webhook_id}, "data": data},
                      separators=(",", ":"), ensure_ascii=False)


# -- fan-out ---------------------------------------------------------------------------------------------------

def matches(webhook: Webhook, event: outbox.OutboxEvent, tags: set[str]) -> bool:
    """Whether ``webhook`` hears ``event``: it subscribes to the name, every filter it sets matches, and
    the event happened after the webhook was created (a new webhook is not sent the backlog)."""
    if event.name not in webhook.events or event.occurred_at < webhook.created_at:
        return False
    if webhook.services and event.service not in webhook.services:
        return False
    if webhook.tags and not tags & set(webhook.tags):
        return False
    return not (webhook.categories and event.category not in webhook.categories)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(WebhookDelivery).values(rows).on_conflict_do_nothing(
            index_elements=["webhook_id", "dedupe_key"]))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(WebhookDelivery).values(rows).on_conflict_do_nothing(
            index_elements=["webhook_id", "dedupe_key"]))


def _delivery_row(webhook_id: int, *, key: str, kind: DeliveryKind, event: str, event_id: int | None,
                  event_at: dt.datetime, text: str, now: dt.datetime) -> dict[str, Any]:
    return {"uid": str(uuid.uuid4()), "webhook_id": webhook_id, "dedupe_key": key, "kind": kind.value,
            "event": event, "event_id": event_id, "event_at": event_at, "body": text,
            "status": DeliveryStatus.PENDING.value, "attempts": 0, "next_attempt_at": now,
            "give_up_at": now + RETRY_WINDOW, "claim": None, "response_code": None, "response_ms": None,
            "last_error": "", "created_at": now, "last_attempt_at": None, "delivered_at": None}


def fan_out(*, session: Session, limit: int = 500, commit: bool = True) -> int:
    """Turn up to ``limit`` undispatched outbox events into deliveries for the webhooks that match; marks
    them dispatched in the same transaction (committed unless ``commit`` is False). Returns how many
    events were taken."""
    events = outbox.pending_events(session=session, limit=limit)
    if not events:
        return 0
    webhooks = list(session.scalars(select(Webhook).where(Webhook.enabled.is_(True)).order_by(Webhook.id)))
    tags: dict[str, set[str]] = {}
    if any(w.tags for w in webhooks):
        ordered = sorted({e.service for e in events if e.service})
        for start in range(0, len(ordered), 500):
            for record in catalog_queries.service_records(session=session, slugs=ordered[start:start + 500]):
                tags[record.slug] = set(record.tags)
    now = utcnow()
    rows = []
    for event in events:
        event_tags = tags.get(event.service or "", set())
        for webhook in webhooks:
            if matches(webhook, event, event_tags):
                rows.append(_delivery_row(
                    webhook.id, key=f"event:{event.id}", kind=DeliveryKind.EVENT, event=event.name,
                    event_id=event.id, event_at=event.occurred_at, now=now,
                    text=body(event=event.name, event_id=event.id, occurred_at=event.occurred_at,
                              webhook_id=webhook.id, data=event.data)))
    for start in range(0, len(rows), 200):
        _insert_ignoring_duplicates(session, rows[start:start + 200])
    outbox.mark_dispatched(session=session, ids=[e.id for e in events])
    if commit:
        session.commit()
    return len(events)


# -- claiming and recording (the deliverer's database side) ----------------------------------------------------

@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery, with what sending it needs (the secret unsealed)."""

    id: int
    uid: str
    webhook_id: int
    url: str
    secret: str
    event: str
    body: str
    attempts: int
    give_up_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    attempt: transport.Attempt
    at: dt.datetime


_DUE = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


def claim_due(*, session: Session, secret_key: str, free_slots: Callable[[int], int], lease: dt.timedelta,
              now: dt.datetime | None = None) -> list[Job]:
    """Claim due deliveries of enabled webhooks, at most ``free_slots(webhook_id)`` each (so a slow receiver
    never takes the others' turn). Committed; each returned job is this caller's alone until ``lease``."""
    now = now or utcnow()
    webhooks = {w.id: w for w in session.scalars(select(Webhook).where(Webhook.enabled.is_(True)))}
    ids: list[int] = []
    for webhook_id in webhooks:
        free = free_slots(webhook_id)
        if free <= 0:
            continue
        ids += session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status.in_(_DUE),
            WebhookDelivery.next_attempt_at <= now).order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(free))
    if not ids:
        session.commit()  # what the caller wrote before in this transaction (outcomes, fan-out)
        return []
    token = uuid.uuid4().hex
    session.execute(update(WebhookDelivery).where(
        WebhookDelivery.id.in_(ids), WebhookDelivery.status.in_(_DUE), WebhookDelivery.next_attempt_at <= now)
        .values(status=DeliveryStatus.SENDING.value, claim=token, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False))
    rows = session.execute(select(WebhookDelivery.id, WebhookDelivery.uid, WebhookDelivery.webhook_id,
                                  WebhookDelivery.event, WebhookDelivery.body, WebhookDelivery.attempts,
                                  WebhookDelivery.give_up_at)
                           .where(WebhookDelivery.claim == token).order_by(WebhookDelivery.id)).all()
    session.commit()
    secrets: dict[int, str | None] = {}
    jobs = []
    for row in rows:
        webhook = webhooks[row.webhook_id]
        if row.webhook_id not in secrets:
            try:
                secrets[row.webhook_id] = unseal(secret_key, SECRET_PURPOSE, webhook.secret_sealed)
            except SealError:
                secrets[row.webhook_id] = None
                log.error("webhook #%s: its secret cannot be unsealed with this instance's key", row.webhook_id)
        secret = secrets[row.webhook_id]
        if secret is None:
            continue  # left claimed: due again after the lease, and its error shows on the page
        jobs.append(Job(id=row.id, uid=row.uid, webhook_id=row.webhook_id, url=webhook.url, secret=secret,
                        event=row.event, body=row.body, attempts=row.attempts, give_up_at=row.give_up_at))
    return jobs


def backoff(attempts: int, *, base: float, cap: float) -> dt.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: base, 2×base, 4×base... up to cap."""
    return dt.timedelta(seconds=min(cap, base * (2 ** max(0, attempts - 1))))


def record_outcomes(*, session: Session, outcomes: list[Outcome], base: float, cap: float,
                    commit: bool = True) -> None:
    """Write what each attempt did: delivered, pending again after a back-off, or failed once the next
    attempt would fall past ``give_up_at``. Committed unless ``commit`` is False."""
    if not outcomes:
        return
    rows = []
    for outcome in outcomes:
        job, attempt = outcome.job, outcome.attempt
        attempts = job.attempts + 1
        values: dict[str, Any] = {"id": job.id, "attempts": attempts, "response_code": attempt.code,
                                  "response_ms": attempt.ms, "last_attempt_at": outcome.at, "claim": None,
                                  "last_error": attempt.error[:500]}
        if attempt.ok:
            values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=outcome.at)
        else:
            retry_at = outcome.at + backoff(attempts, base=base, cap=cap)
            if retry_at > job.give_up_at:
                values.update(status=DeliveryStatus.FAILED.value)
            else:
                values.update(status=DeliveryStatus.PENDING.value, next_attempt_at=retry_at)
        rows.append(values)
    session.execute(update(WebhookDelivery), rows)
    if commit:
        session.commit()


def expire(*, session: Session, now: dt.datetime | None = None) -> int:
    """Mark failed the deliveries still pending past their 24 hours (a receiver that never came back, or
    a webhook disabled all that time). Returns how many (commits)."""
    result = session.execute(update(WebhookDelivery).where(
        WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.give_up_at < (now or utcnow()))
        .values(status=DeliveryStatus.FAILED.value,
                last_error="not delivered within 24 hours: the receiver did not answer in time")
        .execution_options(synchronize_session=False))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def prune(*, session: Session, delivered_before: dt.datetime) -> int:
    """Delete finished deliveries created before ``delivered_before`` and the outbox's dispatched events
    from before it. Returns the deliveries deleted (commits)."""
    result = session.execute(delete(WebhookDelivery).where(
        WebhookDelivery.status.in_([DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value]),
        WebhookDelivery.created_at < delivered_before))
    session.commit()
    outbox.prune(session=session, before=delivered_before)
    return int(getattr(result, "rowcount", 0) or 0)


# -- redeliver and send test ---------------------------------------------------------------------------------------

def redeliver(*, session: Session, actor: User, webhook_id: int, delivery_id: int) -> WebhookDelivery:
    """Queue a new delivery (a new X-Calcifer-Delivery id) of an earlier delivery's exact body; the deliverer
    sends it within a moment and retries it like any other."""
    webhook = get_webhook(session=session, webhook_id=webhook_id)
    original = get_delivery(session=session, webhook_id=webhook_id, delivery_id=delivery_id)
    now = utcnow()
    row = _delivery_row(webhook.id, key=f"redeliver:{uuid.uuid4().hex}", kind=DeliveryKind.REDELIVERY,
                        event=original.event, event_id=original.event_id, event_at=original.event_at,
                        text=original.body, now=now)
    delivery = WebhookDelivery(**row)
    session.add(delivery)
    session.flush()
    audit_service.record(session=session, actor=actor, action="webhook.redeliver", object_type="webhook",
                         object_id=webhook.id, summary=f"redelivered delivery #{original.id} to {webhook.name}",
                         after={"delivery": original.id, "new_delivery": delivery.id})
    session.commit()
    return delivery


def send_test(*, session: Session, actor: User, secret_key: str, webhook_id: int) -> WebhookDelivery:
    """Send a ``webhook.test`` delivery now (also to a disabled webhook) and record it; not retried."""
    webhook = get_webhook(session=session, webhook_id=webhook_id)
    try:
        secret = unseal(secret_key, SECRET_PURPOSE, webhook.secret_sealed)
    except SealError as exc:
        raise Invalid("This webhook's secret cannot be read with this instance's key; set a new secret.") from exc
    now = utcnow()
    text = body(event=TEST_EVENT, event_id=None, occurred_at=now, webhook_id=webhook.id,
                data={"message": f"A test delivery from Calcifer to the webhook {webhook.name!r}.",
                      "sent_by": actor.username})
    row = _delivery_row(webhook.id, key=f"test:{uuid.uuid4().hex}", kind=DeliveryKind.TEST, event=TEST_EVENT,
                        event_id=None, event_at=now, text=text, now=now)
    delivery = WebhookDelivery(**{**row, "status": DeliveryStatus.SENDING.value,
                                  "next_attempt_at": now + RETRY_WINDOW})
    session.add(delivery)
    session.commit()
    url, uid = webhook.url, delivery.uid

    async def send() -> transport.Attempt:
        async with transport.new_session() as http:
            return await transport.post(http, url=url, secret=secret, event=TEST_EVENT, delivery=uid, body=text,
                                        timeout=TEST_TIMEOUT_S)

    attempt = asyncio.run(send())
    delivery.attempts = 1
    delivery.status = (DeliveryStatus.DELIVERED if attempt.ok else DeliveryStatus.FAILED).value
    delivery.response_code, delivery.response_ms, delivery.last_error = attempt.code, attempt.ms, attempt.error
    delivery.last_attempt_at = utcnow()
    delivery.delivered_at = delivery.last_attempt_at if attempt.ok else None
    audit_service.record(session=session, actor=actor, action="webhook.test", object_type="webhook",
                         object_id=webhook.id, summary=f"sent a test delivery to {webhook.name}: "
                         + ("delivered" if attempt.ok else "failed"))
    session.commit()
    return delivery
