"""Notifications for each person: turning outbox events into notifications, the inbox itself,
preferences, and the mail and apprise deliveries.

- ``fan_out`` reads the outbox after this subscriber's cursor (``outbox.events_after``), writes one
  notification per person and event, and moves the cursor in the same transaction (a conditional update:
  of several processes one wins, the others roll back): each event notifies each person once.
- Who hears what: the assignee (``assigned``), people @mentioned (``mention``; of an edited comment, only
  those no earlier version of it named), a work item's watchers
  (``review_requested``, ``merged``, ``cancelled``, ``comment``), its author and assignee (``reviewed``),
  a target's watchers (``comment``), a service's owner and watchers (``incident``). Nobody hears of
  what they did themselves. Creators, assignees and reviewers start watching here.
- Mail: the first notification goes out at once; more within ``digest_minutes`` of the last mail wait and
  leave together as one digest. Each mail carries a signed unsubscribe link (no login needed). A sender
  claims the rows it mails (a token and the time): a claim older than ``MAIL_LEASE`` has lapsed (its
  sender died), and the next round claims and sends those rows. A sender checks that its claim still
  holds before it connects, and marks rows sent only under its own token, so a sent row is not sent again.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import smtplib
import ssl
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.orm import Session

from calcifer.auth import queries as people
from calcifer.auth.models import User
from calcifer.catalog import queries as catalog_queries
from calcifer.db import utcnow
from calcifer.discussion import service as discussion
from calcifer.discussion.choices import TargetKind, WatchReason
from calcifer.errors import Invalid, NotFound
from calcifer.inbox.choices import DEFAULT_PREFERENCES, Channel, MailState, NotificationKind
from calcifer.inbox.models import KnownAssignee, Notification, PersonSettings, SmtpSettings
from calcifer.inbox.schemas import PreferencesUpdate, SmtpUpdate
from calcifer.notify import service as notify_service
from calcifer.outbox import service as outbox
from calcifer.outbox.choices import EventName
from calcifer.outbox.service import OutboxEvent
from calcifer.sealed import SealError, seal, unseal

SUBSCRIBER = "inbox"
# How long a sender's claim on mails holds: past it the rows count as abandoned (their sender died, or
# hung far beyond its SMTP timeouts) and the next round sends them.
MAIL_LEASE = dt.timedelta(minutes=5)
APPRISE_PURPOSE = "inbox-apprise"
SMTP_PURPOSE = "inbox-smtp"
UNSUBSCRIBE_PURPOSE = b"inbox-unsubscribe"
ALL_KINDS = "all"


@dataclass(frozen=True, slots=True)
class Notice:
    user_id: int
    kind: NotificationKind
    text: str
    url: str


# -- from events to notices --------------------------------------------------------------------------------------

def _ids(session: Session, names: Iterable[str | None]) -> dict[str, int]:
    return {p.username: p.id for p in people.people_named(session=session, usernames=[n for n in names if n])}


def _work_item_notices(session: Session, event: OutboxEvent) -> list[Notice]:
    item = event.data.get("work_item") or {}
    key, url, title = str(item.get("id")), str(item.get("url") or ""), f"#{item.get('id')} {item.get('title', '')}"
    author, assignee = item.get("author"), item.get("assignee")
    ids = _ids(session, [author, assignee])
    notices: list[Notice] = []
    if event.name in (EventName.WORK_ITEM_CREATED, EventName.WORK_ITEM_UPDATED):
        if event.name == EventName.WORK_ITEM_CREATED and author in ids:
            discussion.auto_watch(session=session, kind=TargetKind.WORK_ITEM, key=key, user_ids=[ids[author]],
                                  reason=WatchReason.CREATOR)
        known = session.get(KnownAssignee, int(item["id"]))
        if known is None:
            known = KnownAssignee(work_item_id=int(item["id"]), username=None)
            session.add(known)
        if assignee and assignee != known.username and assignee in ids:
            discussion.auto_watch(session=session, kind=TargetKind.WORK_ITEM, key=key, user_ids=[ids[assignee]],
                                  reason=WatchReason.ASSIGNEE)
            if assignee != author or event.name == EventName.WORK_ITEM_UPDATED:
                notices.append(Notice(ids[assignee], NotificationKind.ASSIGNED, f"{title} is assigned to you", url))
        known.username = assignee
        return notices
    watchers = discussion.watchers(session=session, kind=TargetKind.WORK_ITEM, key=key)
    if event.name == EventName.WORK_ITEM_REVIEWED:
        review = event.data.get("review") or {}
        reviewer = review.get("reviewer")
        reviewer_id = _ids(session, [reviewer]).get(str(reviewer))
        if review.get("verdict") == "requested":
            return [Notice(uid, NotificationKind.REVIEW_REQUESTED, f"{reviewer} asks for a review of {title}", url)
                    for uid in watchers if uid != reviewer_id]
        if reviewer_id is not None:
            discussion.auto_watch(session=session, kind=TargetKind.WORK_ITEM, key=key, user_ids=[reviewer_id],
                                  reason=WatchReason.REVIEWER)
        said = "approved" if review.get("verdict") == "approve" else "requested changes on"
        return [Notice(uid, NotificationKind.REVIEWED, f"{reviewer} {said} {title}", url)
                for uid in sorted(set(ids.values())) if uid != reviewer_id]
    kind, did = ((NotificationKind.MERGED, "was merged") if event.name == EventName.WORK_ITEM_MERGED
                 else (NotificationKind.CANCELLED, "was cancelled"))
    return [Notice(uid, kind, f"{title} {did}", url) for uid in watchers]


def _comment_notices(session: Session, event: OutboxEvent) -> list[Notice]:
    comment = event.data.get("comment") or {}
    author = str(comment.get("author") or "")
    url, where = str(comment.get("url") or ""), str(comment.get("target_title") or "")
    edited = event.name == EventName.COMMENT_EDITED
    named = _ids(session, [author, *(comment.get("new_mentions" if edited else "mentions") or [])])
    author_id = named.pop(author, None)
    notices = [Notice(uid, NotificationKind.MENTION, f"{author} mentioned you on {where}", url)
               for uid in sorted(named.values()) if uid != author_id]
    if edited:  # an edit tells only the people it newly names; watchers heard of the comment already
        return notices
    mentioned = {n.user_id for n in notices}
    try:
        kind = TargetKind(str(comment.get("target_kind")))
    except ValueError:
        return notices
    for uid in discussion.watchers(session=session, kind=kind, key=str(comment.get("target_key"))):
        if uid != author_id and uid not in mentioned:
            notices.append(Notice(uid, NotificationKind.COMMENT, f"{author} commented on {where}", url))
    return notices


def _incident_notices(session: Session, event: OutboxEvent) -> list[Notice]:
    incident = event.data.get("incident") or {}
    slug = incident.get("service")
    if not slug:
        return []
    ids = set(discussion.watchers(session=session, kind=TargetKind.SERVICE, key=str(slug)))
    records = catalog_queries.service_records(session=session, slugs=[str(slug)])
    owners = [r.owner for r in records if r.owner]
    unwatched = discussion.unwatched(session=session, kind=TargetKind.SERVICE, key=str(slug))
    ids |= {uid for uid in _ids(session, owners).values() if uid not in unwatched}
    text = f"Incident on {slug}: {incident.get('endpoint')} is down" + (
        f" ({incident.get('message')})" if incident.get("message") else "")
    return [Notice(uid, NotificationKind.INCIDENT, text[:480], str(incident.get("url") or "")) for uid in sorted(ids)]


def notices_for(*, session: Session, event: OutboxEvent) -> list[Notice]:
    """Who hears of one outbox event, and what they read (also starts automatic watches)."""
    if event.name in (EventName.WORK_ITEM_CREATED, EventName.WORK_ITEM_UPDATED, EventName.WORK_ITEM_REVIEWED,
                      EventName.WORK_ITEM_MERGED, EventName.WORK_ITEM_CANCELLED):
        return _work_item_notices(session, event)
    if event.name in (EventName.COMMENT_CREATED, EventName.COMMENT_EDITED):
        return _comment_notices(session, event)
    if event.name == EventName.INCIDENT_OPENED:
        return _incident_notices(session, event)
    return []


# -- preferences -------------------------------------------------------------------------------------------------

def _merged_preferences(stored: dict[str, Any] | None) -> dict[str, dict[str, bool]]:
    merged = {kind: dict(channels) for kind, channels in DEFAULT_PREFERENCES.items()}
    for kind, channels in (stored or {}).items():
        if kind in merged and isinstance(channels, dict):
            for channel, on in channels.items():
                if channel in merged[kind] and isinstance(on, bool):
                    merged[kind][channel] = on
    return merged


def _settings_of(session: Session, ids: Iterable[int]) -> dict[int, PersonSettings]:
    ordered = sorted(set(ids))
    found: dict[int, PersonSettings] = {}
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        for row in session.scalars(select(PersonSettings).where(PersonSettings.user_id.in_(chunk))
                                   .execution_options(populate_existing=True)):  # claims update in bulk
            found[row.user_id] = row
    return found


def fan_out(*, session: Session, limit: int = 200) -> int:
    """Turn up to ``limit`` outbox events after the cursor into notifications; commits. Returns how many
    events were read (0: nothing new, or another process took them)."""
    cursor, events = outbox.events_after(session=session, subscriber=SUBSCRIBER, limit=limit)
    if not events:
        session.rollback()
        return 0
    notices: list[tuple[int, Notice]] = []
    for event in events:
        seen: set[tuple[int, str]] = set()
        for notice in notices_for(session=session, event=event):
            if (notice.user_id, notice.kind.value) not in seen:
                seen.add((notice.user_id, notice.kind.value))
                notices.append((event.id, notice))
    recipients = people.people(session=session, ids={n.user_id for _, n in notices})
    settings = _settings_of(session, recipients)
    now = utcnow()
    rows = []
    for event_id, notice in notices:
        person = recipients.get(notice.user_id)
        if person is None:
            continue
        mine = settings.get(person.id)
        prefs = _merged_preferences(mine.preferences if mine else None)[notice.kind.value]
        mail = prefs[Channel.EMAIL.value] and bool(person.email)
        push = prefs[Channel.APPRISE.value] and bool(mine and mine.apprise_sealed)
        if not (prefs[Channel.IN_APP.value] or mail or push):
            continue
        rows.append({"user_id": person.id, "event_id": event_id, "kind": notice.kind.value, "text": notice.text[:500],
                     "url": notice.url[:500], "read": False, "in_app": prefs[Channel.IN_APP.value],
                     "created_at": now, "mail_state": (MailState.PENDING if mail else MailState.NONE).value,
                     "mail_claim": None, "push_pending": push})
    for start in range(0, len(rows), 1000):
        session.execute(insert(Notification), rows[start:start + 1000])
    if not outbox.advance(session=session, subscriber=SUBSCRIBER, from_id=cursor, to_id=events[-1].id):
        session.rollback()
        return 0
    session.commit()
    return len(events)


# -- the inbox -----------------------------------------------------------------------------------------------------

def list_notifications(*, session: Session, user: User, limit: int = 50, before_id: int | None = None,
                       unread_only: bool = False) -> list[Notification]:
    """Newest first, a page at a time."""
    query = (select(Notification).where(Notification.user_id == user.id, Notification.in_app.is_(True))
             .order_by(Notification.id.desc()).limit(limit))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    if unread_only:
        query = query.where(Notification.read.is_(False))
    return list(session.scalars(query))


def unread_count(*, session: Session, user: User) -> int:
    return int(session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.in_app.is_(True), Notification.read.is_(False))) or 0)


def mark_read(*, session: Session, user: User, notification_id: int) -> Notification:
    """Raises NotFound (no such notification of this person)."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"You have no notification {notification_id}.")
    row.read = True
    session.commit()
    return row


def mark_all_read(*, session: Session, user: User) -> None:
    session.execute(update(Notification).where(Notification.user_id == user.id, Notification.read.is_(False))
                    .values(read=True))
    session.commit()


def public(row: Notification) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "text": row.text, "url": row.url, "read": row.read,
            "created_at": row.created_at}


def get_preferences(*, session: Session, user: User) -> dict[str, Any]:
    row = session.get(PersonSettings, user.id)
    masked = None
    if row and row.apprise_sealed:
        masked = "(set)"
    return {"preferences": _merged_preferences(row.preferences if row else None),
            "apprise_url_set": bool(row and row.apprise_sealed), "apprise_url": masked, "email": user.email}


def _own_settings(session: Session, user_id: int) -> PersonSettings:
    row = session.get(PersonSettings, user_id)
    if row is None:
        row = PersonSettings(user_id=user_id, apprise_sealed="", preferences={})
        session.add(row)
    return row


def set_preferences(*, session: Session, user: User, secret_key: str, data: PreferencesUpdate) -> dict[str, Any]:
    """Store the person's preferences (and apprise URL, sealed). Raises Invalid naming unknown kinds or
    channels, or an apprise URL apprise cannot use."""
    kinds = {k.value for k in NotificationKind}
    channels = {c.value for c in Channel}
    bad = [k for k in data.preferences if k not in kinds]
    bad += [f"{k}.{c}" for k, v in data.preferences.items() for c in v if c not in channels]
    if bad:
        raise Invalid(f"Unknown kinds or channels: {', '.join(bad)}. Kinds: {', '.join(sorted(kinds))}; "
                      f"channels: {', '.join(sorted(channels))}.", details=[{"field": "preferences",
                                                                             "message": "unknown"}])
    row = _own_settings(session, user.id)
    merged = _merged_preferences(row.preferences)
    for kind, values in data.preferences.items():
        merged[kind].update(values)
    row.preferences = merged
    if data.apprise_url is not None:
        url = data.apprise_url.strip()
        row.apprise_sealed = seal(secret_key, APPRISE_PURPOSE, notify_service.validate_url(url)) if url else ""
    session.commit()
    return get_preferences(session=session, user=user)


# -- unsubscribe links --------------------------------------------------------------------------------------------

def _signature(secret_key: str, user_id: int, kind: str) -> str:
    key = hashlib.sha256(UNSUBSCRIBE_PURPOSE + secret_key.encode()).digest()
    mac = hmac.new(key, f"{user_id}:{kind}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode()


def unsubscribe_token(*, secret_key: str, user_id: int, kind: str = ALL_KINDS) -> str:
    return f"{user_id}.{kind}.{_signature(secret_key, user_id, kind)}"


def read_unsubscribe_token(*, secret_key: str, token: str) -> tuple[int, str]:
    """``(user_id, kind)`` of a genuine token. Raises Invalid for anything else."""
    parts = token.split(".")
    if len(parts) == 3 and parts[0].isdigit() and len(parts[0]) < 10 and \
            (parts[1] == ALL_KINDS or parts[1] in {k.value for k in NotificationKind}) and \
            hmac.compare_digest(parts[2], _signature(secret_key, int(parts[0]), parts[1])):
        return int(parts[0]), parts[1]
    raise Invalid("This unsubscribe link is not valid: copy the whole link from the mail, or change your "
                  "notification settings after logging in.", code="bad_token")


def unsubscribe(*, session: Session, secret_key: str, token: str) -> str:
    """Turn e-mail off for the token's kind (or every kind); returns the kind. Raises Invalid."""
    user_id, kind = read_unsubscribe_token(secret_key=secret_key, token=token)
    if user_id not in people.people(session=session, ids=[user_id]):
        raise Invalid("This unsubscribe link is for an account that no longer exists.", code="bad_token")
    row = _own_settings(session, user_id)
    merged = _merged_preferences(row.preferences)
    for name, channels in merged.items():
        if kind in (ALL_KINDS, name):
            channels[Channel.EMAIL.value] = False
    row.preferences = merged
    pending = update(Notification).where(Notification.user_id == user_id,
                                         Notification.mail_state == MailState.PENDING.value)
    if kind != ALL_KINDS:
        pending = pending.where(Notification.kind == kind)
    session.execute(pending.values(mail_state=MailState.NONE.value))
    session.commit()
    return kind


# -- SMTP settings ---------------------------------------------------------------------------------------------------

def get_smtp(*, session: Session) -> SmtpSettings:
    row = session.get(SmtpSettings, 1)
    return row if row is not None else SmtpSettings(id=1, host="", port=25, security="none", username="",
                                                    password_sealed="", sender="", base_url="", digest_minutes=10)


def smtp_public(row: SmtpSettings) -> dict[str, Any]:
    return {"host": row.host, "port": row.port, "security": row.security, "username": row.username,
            "password_set": bool(row.password_sealed), "sender": row.sender, "base_url": row.base_url,
            "digest_minutes": row.digest_minutes}


def set_smtp(*, session: Session, actor: User, secret_key: str, data: SmtpUpdate) -> SmtpSettings:
    """Store the SMTP settings (password sealed). Raises Invalid when a host is given without a sender."""
    from calcifer.audit import service as audit_service

    if data.host and "@" not in data.sender:
        raise Invalid("Give the sender address mails come from (e.g. calcifer@example.org).",
                      details=[{"field": "sender", "message": "required with a host"}])
    row = session.get(SmtpSettings, 1)
    if row is None:
        row = SmtpSettings(id=1, password_sealed="")
        session.add(row)
    row.host, row.port, row.security = data.host.strip(), data.port, data.security
    row.username, row.sender = data.username, data.sender.strip()
    row.base_url, row.digest_minutes = data.base_url.strip().rstrip("/"), data.digest_minutes
    if data.password is not None:
        row.password_sealed = seal(secret_key, SMTP_PURPOSE, data.password) if data.password else ""
    audit_service.record(session=session, actor=actor, action="inbox.smtp", object_type="settings",
                         object_id="smtp", summary=f"SMTP settings: {row.host or 'off'}:{row.port}")
    session.commit()
    return row


# -- delivery ----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Mail:
    user_id: int
    to: str
    ids: list[int]
    message: Message
    claim: str  # the token its rows were claimed with


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def compose(*, smtp: SmtpSettings, to: str, rows: list[Notification], unsubscribe_url: str) -> Message:
    """One mail (plain text and HTML) for one notification, or a digest of several. Built with the
    ``email.mime`` classes: a quarter of ``EmailMessage``'s cost, which a fan-out of 1,000 mails feels."""
    base = smtp.base_url

    def link(url: str) -> str:
        return f"{base}{url}" if url.startswith("/") else url

    message = MIMEMultipart("alternative")
    message["From"] = smtp.sender
    message["To"] = to
    subject = f"[Calcifer] {rows[0].text}" if len(rows) == 1 else f"[Calcifer] {len(rows)} notifications"
    message["Subject"] = Header(subject[:200], "utf-8").encode()
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    lines = [f"- {r.text}\n  {link(r.url)}" for r in rows]
    message.attach(MIMEText("\n".join(lines) + f"\n\nStop these mails: {unsubscribe_url}\n", "plain", "utf-8"))
    items = "".join(f'<li><a href="{html.escape(link(r.url))}">{html.escape(r.text)}</a></li>' for r in rows)
    message.attach(MIMEText(f"<!doctype html><html><body><ul>{items}</ul><p><a href=\"{html.escape(unsubscribe_url)}\">"
                            "Stop these mails</a></p></body></html>", "html", "utf-8"))
    return message


def _lapsed(now: dt.datetime) -> ColumnElement[bool]:
    """Rows claimed longer than ``MAIL_LEASE`` ago (or before claims had a time)."""
    return (Notification.mail_state == MailState.CLAIMED.value) & or_(
        Notification.mail_claimed_at.is_(None), Notification.mail_claimed_at <= now - MAIL_LEASE)


def claim_mail(*, session: Session, secret_key: str, now: dt.datetime | None = None,
               max_people: int = 500) -> list[Mail]:
    """Claim the pending notifications of people whose digest window has passed, and every row whose
    claim lapsed (``MAIL_LEASE``: its sender died before sending it; it goes now, with that person's
    pending ones); one mail each. The claim is a conditional update: of several senders one takes a row.
    Commits."""
    smtp = get_smtp(session=session)
    if not smtp.host:
        return []
    now = now or utcnow()
    window = dt.timedelta(minutes=smtp.digest_minutes)
    pending = Notification.mail_state == MailState.PENDING.value
    abandoned = list(session.scalars(select(Notification.user_id).where(_lapsed(now)).distinct()
                                     .limit(max_people)))
    user_ids = list(session.scalars(select(Notification.user_id).where(pending).distinct().limit(max_people * 2)))
    if not user_ids and not abandoned:
        return []
    settings = _settings_of(session, [*user_ids, *abandoned])
    due = [uid for uid in user_ids if settings.get(uid) is None or settings[uid].last_mail_at is None
           or now - _aware(settings[uid].last_mail_at) >= window]  # type: ignore[arg-type]
    due = list(dict.fromkeys([*abandoned, *due]))[:max_people]
    if not due:
        return []
    token = uuid.uuid4().hex
    # Everything is read: the writes follow in a few statements (SQLite's one writer is held briefly).
    session.execute(update(Notification).where(Notification.user_id.in_(due), or_(pending, _lapsed(now)))
                    .values(mail_state=MailState.CLAIMED.value, mail_claim=token, mail_claimed_at=now)
                    .execution_options(synchronize_session=False))
    session.execute(update(PersonSettings).where(PersonSettings.user_id.in_([u for u in due if u in settings]))
                    .values(last_mail_at=now).execution_options(synchronize_session=False))
    missing = [u for u in due if u not in settings]
    if missing:
        session.execute(insert(PersonSettings), [{"user_id": u, "apprise_sealed": "", "preferences": {},
                                                  "last_mail_at": now} for u in missing])
    session.commit()
    claimed = list(session.scalars(select(Notification).where(Notification.mail_claim == token)
                                   .order_by(Notification.user_id, Notification.id)))
    recipients = people.people(session=session, ids={r.user_id for r in claimed})
    by_user: dict[int, list[Notification]] = {}
    for row in claimed:
        by_user.setdefault(row.user_id, []).append(row)
    mails = []
    nobody: list[int] = []
    for uid, rows in by_user.items():
        person = recipients.get(uid)
        if person is None or not person.email:  # disabled, or no address any more: nothing to send
            nobody.extend(r.id for r in rows)
            continue
        url = f"{smtp.base_url}/unsubscribe?token={unsubscribe_token(secret_key=secret_key, user_id=uid)}"
        mails.append(Mail(uid, person.email, [r.id for r in rows],
                          compose(smtp=smtp, to=person.email, rows=rows, unsubscribe_url=url), token))
    if nobody:
        for start in range(0, len(nobody), 500):
            session.execute(update(Notification).where(Notification.id.in_(nobody[start:start + 500]),
                                                       Notification.mail_claim == token)
                            .values(mail_state=MailState.NONE.value, mail_claim=None, mail_claimed_at=None)
                            .execution_options(synchronize_session=False))
        session.commit()
    return mails


def _still_claimed(session: Session, mails: list[Mail]) -> list[Mail]:
    """The mails whose rows all still carry their claim (a sender slower than the lease lost them)."""
    mine: set[int] = set()
    for claim in {m.claim for m in mails}:
        ids = [i for m in mails if m.claim == claim for i in m.ids]
        for start in range(0, len(ids), 500):
            mine.update(session.scalars(select(Notification.id).where(
                Notification.id.in_(ids[start:start + 500]), Notification.mail_claim == claim,
                Notification.mail_state == MailState.CLAIMED.value)))
    session.rollback()
    return [m for m in mails if all(i in mine for i in m.ids)]


def send_mail(*, session: Session, secret_key: str, mails: list[Mail], timeout: float = 30.0) -> int:
    """Hand the mails to the SMTP server over one connection; marks them sent (or pending again), each row
    only while it still carries the claim it was mailed under. Returns how many were accepted."""
    mails = _still_claimed(session, mails)
    if not mails:
        return 0
    smtp = get_smtp(session=session)
    sent: list[Mail] = []
    failed: list[Mail] = []
    try:
        client: smtplib.SMTP = (smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout,
                                                 context=ssl.create_default_context())
                                if smtp.security == "tls" else smtplib.SMTP(smtp.host, smtp.port, timeout=timeout))
        with client:
            if smtp.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                password = ""
                if smtp.password_sealed:
                    try:
                        password = unseal(secret_key, SMTP_PURPOSE, smtp.password_sealed)
                    except SealError:
                        password = ""
                client.login(smtp.username, password)
            for mail in mails:
                try:
                    client.send_message(mail.message)
                    sent.append(mail)
                except smtplib.SMTPException:
                    failed.append(mail)
    except (OSError, smtplib.SMTPException):
        handled = {id(m) for m in (*sent, *failed)}
        failed.extend(m for m in mails if id(m) not in handled)
    for state, done in ((MailState.SENT, sent), (MailState.PENDING, failed)):
        for claim in {m.claim for m in done}:
            ids = [i for m in done if m.claim == claim for i in m.ids]
            for start in range(0, len(ids), 500):
                session.execute(update(Notification).where(Notification.id.in_(ids[start:start + 500]),
                                                           Notification.mail_claim == claim)
                                .values(mail_state=state.value, mail_claim=None, mail_claimed_at=None)
                                .execution_options(synchronize_session=False))
    session.commit()
    return len(sent)


def send_pushes(*, session: Session, secret_key: str, limit: int = 100) -> int:
    """Send pending notifications to their people's own apprise URLs (one message each); commits."""
    rows = list(session.scalars(select(Notification).where(Notification.push_pending.is_(True))
                                .order_by(Notification.id).limit(limit)))
    if not rows:
        return 0
    ids = [r.id for r in rows]
    session.execute(update(Notification).where(Notification.id.in_(ids)).values(push_pending=False))
    session.commit()
    settings = _settings_of(session, {r.user_id for r in rows})
    done = 0
    for row in rows:
        mine = settings.get(row.user_id)
        if not mine or not mine.apprise_sealed:
            continue
        try:
            url = unseal(secret_key, APPRISE_PURPOSE, mine.apprise_sealed)
        except SealError:
            continue
        if notify_service.send_now(url, title="Calcifer", body=row.text).ok:
            done += 1
    return done
