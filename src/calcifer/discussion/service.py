"""Comments, mentions, watching and the work-item timeline.

Rules:
- Anyone logged in (viewers too) may comment on and watch what they can read: a comment is talk, not a
  change to anything Calcifer manages.
- A comment's markdown is rendered and sanitised by the docs renderer, after ``@name``, ``#123`` and
  ``service:slug`` (outside code) become links; hostile input renders inert exactly like a doc.
- Its author may edit it for ``EDIT_WINDOW`` and delete it at any time; an admin may delete any (moderation,
  audited). Every edit keeps the previous body (``CommentEdit``).
- Commenting makes the author watch the target. A comment writes ``comment.created`` to the outbox in its
  transaction, an edit ``comment.edited`` (with ``new_mentions``: the people it names that no earlier
  version of it named); who hears of it is decided later, by the inbox's consumer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.audit.service import AuditFilter
from calcifer.auth import queries as people
from calcifer.auth.choices import Role
from calcifer.auth.models import User
from calcifer.auth.roles import has_role
from calcifer.catalog import queries as catalog_queries
from calcifer.db import utcnow
from calcifer.discussion.choices import WATCHABLE, TargetKind, TimelineKind, WatchReason
from calcifer.discussion.models import Comment, CommentEdit, Watch
from calcifer.discussion.schemas import BODY_MAX
from calcifer.docs import service as docs_service
from calcifer.docs.render import render_markdown
from calcifer.errors import Invalid, NotFound, PermissionDenied
from calcifer.monitoring import incidents
from calcifer.outbox import service as outbox
from calcifer.outbox.choices import EventName
from calcifer.work import service as work_service

EDIT_WINDOW = dt.timedelta(minutes=15)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CODE = re.compile(r"(```.*?```|~~~.*?~~~|`[^`\n]*`)", re.DOTALL)
MENTION = re.compile(r"(?<![\w@/.\[])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})(?<![.])")
_ITEM = re.compile(r"(?<![\w&#/\[])#([0-9]{1,9})\b")
_SERVICE = re.compile(r"(?<![\w/:\[(])service:([a-z0-9][a-z0-9-]{0,62})\b")


@dataclass(frozen=True, slots=True)
class Target:
    kind: TargetKind
    key: str
    title: str
    url: str


# -- targets ----------------------------------------------------------------------------------------------

def resolve_target(*, session: Session, repo_path: Path, kind: TargetKind | str, key: str) -> Target:
    """The thing a comment or watch is about. Raises NotFound (no such thing) or Invalid (bad kind/key)."""
    try:
        kind = TargetKind(kind)
    except ValueError as exc:
        raise Invalid(f"Comments are on {', '.join(k.value for k in TargetKind)}; not {kind!r}.") from exc
    if kind in (TargetKind.WORK_ITEM, TargetKind.INCIDENT):
        if not key.isdigit() or len(key) > 9:
            raise NotFound(f"There is no {kind.value.replace('_', ' ')} {key!r}.")
        if kind is TargetKind.WORK_ITEM:
            item = work_service.get_work_item(session=session, item_id=int(key))
            return Target(kind, str(item.id), f"#{item.id} {item.title}", f"/work/{item.id}")
        incident = incidents.get_incident(session=session, incident_id=int(key))
        return Target(kind, str(incident.id), f"incident {incident.id} on {incident.endpoint_slug}",
                      f"/incidents/{incident.id}")
    if kind is TargetKind.SERVICE:
        records = catalog_queries.service_records(session=session, slugs=[key]) if len(key) <= 100 else []
        if not records:
            raise NotFound(f"There is no service {key!r}.")
        return Target(kind, key, f"service {records[0].name or key}", f"/services/{key}")
    doc = docs_service.read_doc(repo_path=repo_path, path=key)
    return Target(kind, doc.path, doc.path, f"/docs/view/{doc.path}")


# -- rendering ----------------------------------------------------------------------------------------------

def _linkify(text: str) -> str:
    text = _ITEM.sub(lambda m: f"[#{m.group(1)}](/work/{m.group(1)})", text)
    text = _SERVICE.sub(lambda m: f"[service:{m.group(1)}](service:{m.group(1)})", text)
    return MENTION.sub(lambda m: f"**@{m.group(1)}**", text)


def _outside_code(text: str) -> str:
    parts = _CODE.split(text)
    return "".join(part if index % 2 else _linkify(part) for index, part in enumerate(parts))


def render(body: str) -> str:
    """A comment's sanitised HTML (the docs renderer and sanitiser; links for mentions, #123, service:x)."""
    return render_markdown(_outside_code(body), doc_path="docs/comment.md").html


def mentions(body: str) -> list[str]:
    """The ``@names`` in a comment outside code, in order, each once (not checked against users)."""
    found: list[str] = []
    for index, part in enumerate(_CODE.split(body)):
        if index % 2 == 0:
            for match in MENTION.finditer(part):
                if match.group(1) not in found:
                    found.append(match.group(1))
    return found[:50]


def _clean_body(body: str) -> str:
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise Invalid("Write something: a comment cannot be empty.", details=[{"field": "body", "message": "empty"}])
    if len(body) > BODY_MAX:
        raise Invalid(f"A comment holds at most {BODY_MAX:,} characters; this one has {len(body):,}.",
                      details=[{"field": "body", "message": "too long"}])
    if _CONTROL.search(body):
        raise Invalid("The comment contains control characters; remove them.",
                      details=[{"field": "body", "message": "control characters"}])
    return body


def comment_url(target_url: str, comment_id: int) -> str:
    return f"{target_url}#comment-{comment_id}"


def target_url(kind: str, key: str) -> str:
    return {TargetKind.WORK_ITEM.value: f"/work/{key}", TargetKind.INCIDENT.value: f"/incidents/{key}",
            TargetKind.SERVICE.value: f"/services/{key}"}.get(kind, f"/docs/view/{key}")


# -- comments -----------------------------------------------------------------------------------------------

def add_comment(*, session: Session, actor: User, target: Target, body: str) -> Comment:
    """Add a comment (the author starts watching the target); writes comment.created. Raises Invalid."""
    body = _clean_body(body)
    comment = Comment(target_kind=target.kind.value, target_key=target.key, author_id=actor.id,
                      author_name=actor.username, body=body)
    session.add(comment)
    session.flush()
    if target.kind in WATCHABLE:
        auto_watch(session=session, kind=target.kind, key=target.key, user_ids=[actor.id],
                   reason=WatchReason.COMMENTER)
    _emit(session, EventName.COMMENT_CREATED, comment, target, actor)
    session.commit()
    session.refresh(comment)
    return comment


def _emit(session: Session, name: EventName, comment: Comment, target: Target, actor: User,
          new_mentions: list[str] | None = None) -> None:
    """The comment's event (``comment.created`` or ``comment.edited``), in the caller's transaction.
    ``mentions``: the existing users its body names; an edit adds ``new_mentions``, those of them no earlier
    version named (the only ones the inbox tells of an edit)."""
    named = [p.username for p in people.people_named(session=session, usernames=mentions(comment.body))]
    data: dict[str, object] = {
        "id": comment.id, "target_kind": target.kind.value, "target_key": target.key, "target_title": target.title,
        "author": actor.username, "mentions": named, "url": comment_url(target.url, comment.id),
        "excerpt": comment.body[:200]}
    if new_mentions is not None:
        data["new_mentions"] = [n for n in named if n in set(new_mentions)]
    outbox.emit(session=session, name=name, data={"comment": data},
                service=target.key if target.kind is TargetKind.SERVICE else None)


def _target_of(session: Session, repo_path: Path, comment: Comment) -> Target:
    """The comment's target as events describe it; a target gone since (a deleted doc) keeps its key."""
    try:
        return resolve_target(session=session, repo_path=repo_path, kind=comment.target_kind, key=comment.target_key)
    except (NotFound, Invalid):
        kind = TargetKind(comment.target_kind)
        return Target(kind, comment.target_key, f"{kind.value.replace('_', ' ')} {comment.target_key}",
                      target_url(comment.target_kind, comment.target_key))


def get_comment(*, session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None:
        raise NotFound(f"There is no comment {comment_id}.")
    return comment


def list_comments(*, session: Session, kind: TargetKind, key: str, limit: int = 50,
                  after_id: int | None = None) -> list[Comment]:
    """Oldest first, a page at a time."""
    query = (select(Comment).where(Comment.target_kind == kind.value, Comment.target_key == key)
             .order_by(Comment.id).limit(limit))
    if after_id is not None:
        query = query.where(Comment.id > after_id)
    return list(session.scalars(query))


def can_edit(comment: Comment, user: User | None, *, now: dt.datetime | None = None) -> bool:
    if user is None or comment.author_id != user.id:
        return False
    created = comment.created_at if comment.created_at.tzinfo else comment.created_at.replace(tzinfo=dt.UTC)
    return (now or utcnow()) - created <= EDIT_WINDOW


def can_delete(comment: Comment, user: User | None) -> bool:
    return user is not None and (comment.author_id == user.id or has_role(user, Role.ADMIN))


def edit_comment(*, session: Session, repo_path: Path, actor: User, comment_id: int, body: str) -> Comment:
    """Replace the body (its author, within ``EDIT_WINDOW``); the old body goes to the history; writes
    comment.edited (people named by no earlier version are its ``new_mentions``).
    Raises NotFound, PermissionDenied (someone else's, or the window has passed) or Invalid."""
    comment = get_comment(session=session, comment_id=comment_id)
    if comment.author_id != actor.id:
        raise PermissionDenied("Only its author edits a comment.", code="not_author")
    if not can_edit(comment, actor):
        raise PermissionDenied(f"Comments can be edited for {int(EDIT_WINDOW.total_seconds() // 60)} minutes; "
                               "this one is older. Add a new comment instead.", code="edit_window_passed")
    body = _clean_body(body)
    if body == comment.body:
        return comment
    earlier = {name for text in [comment.body, *(e.body for e in history(session=session, comment_id=comment.id))]
               for name in mentions(text)}
    session.add(CommentEdit(comment_id=comment.id, body=comment.body, editor_name=actor.username))
    comment.body = body
    comment.edited_at = utcnow()
    _emit(session, EventName.COMMENT_EDITED, comment, _target_of(session, repo_path, comment), actor,
          new_mentions=[name for name in mentions(body) if name not in earlier])
    session.commit()
    session.refresh(comment)
    return comment


def history(*, session: Session, comment_id: int) -> list[CommentEdit]:
    return list(session.scalars(select(CommentEdit).where(CommentEdit.comment_id == comment_id)
                                .order_by(CommentEdit.id)))


def delete_comment(*, session: Session, actor: User, comment_id: int) -> None:
    """Delete one's own comment, or any as an admin (audited as moderation). Raises NotFound or PermissionDenied."""
    comment = get_comment(session=session, comment_id=comment_id)
    if not can_delete(comment, actor):
        raise PermissionDenied("Only its author or an admin deletes a comment.", code="not_author")
    if comment.author_id != actor.id:
        audit_service.record(session=session, actor=actor, action="comment.moderate", object_type="comment",
                             object_id=comment.id, summary=f"deleted a comment by {comment.author_name} on "
                             f"{comment.target_kind} {comment.target_key}")
    session.delete(comment)
    session.commit()


def public(comment: Comment) -> dict[str, object]:
    return {"id": comment.id, "target_kind": comment.target_kind, "target_key": comment.target_key,
            "author": comment.author_name, "body": comment.body, "html": render(comment.body),
            "created_at": comment.created_at, "edited_at": comment.edited_at, "mentions": mentions(comment.body),
            "url": comment_url(target_url(comment.target_kind, comment.target_key), comment.id)}


# -- watching -----------------------------------------------------------------------------------------------

def auto_watch(*, session: Session, kind: TargetKind, key: str, user_ids: list[int], reason: WatchReason) -> None:
    """Make these people watch (in the caller's transaction); someone who unwatched stays unwatched."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    have = set(session.scalars(select(Watch.user_id).where(Watch.target_kind == kind.value, Watch.target_key == key,
                                                           Watch.user_id.in_(ids))))
    for user_id in ids:
        if user_id not in have:
            session.add(Watch(target_kind=kind.value, target_key=key, user_id=user_id, watching=True,
                              reason=reason.value))
    session.flush()


def set_watching(*, session: Session, actor: User, target: Target, watching: bool) -> bool:
    """Watch or unwatch by hand. Raises Invalid for a doc (docs are not watched)."""
    if target.kind not in WATCHABLE:
        raise Invalid("Work items, services and incidents can be watched; docs cannot.")
    row = session.get(Watch, (target.kind.value, target.key, actor.id))
    if row is None:
        session.add(Watch(target_kind=target.kind.value, target_key=target.key, user_id=actor.id,
                          watching=watching, reason=WatchReason.MANUAL.value))
    else:
        row.watching = watching
    session.commit()
    return watching


def is_watching(*, session: Session, user: User, kind: TargetKind, key: str) -> bool:
    row = session.get(Watch, (kind.value, key, user.id))
    return bool(row and row.watching)


def watchers(*, session: Session, kind: TargetKind, key: str) -> list[int]:
    """Ids of the people watching (the inbox's read model)."""
    return list(session.scalars(select(Watch.user_id).where(Watch.target_kind == kind.value,
                                                            Watch.target_key == key, Watch.watching.is_(True))))


def unwatched(*, session: Session, kind: TargetKind, key: str) -> set[int]:
    """Ids of the people who said they do not watch this (automatic watches never override them)."""
    return set(session.scalars(select(Watch.user_id).where(Watch.target_kind == kind.value,
                                                           Watch.target_key == key, Watch.watching.is_(False))))


def clear_watches(*, session: Session, user_id: int) -> None:
    session.execute(update(Watch).where(Watch.user_id == user_id).values(watching=False))


# -- the work item's timeline ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TimelineEntry:
    kind: TimelineKind
    at: dt.datetime
    actor: str
    text: str
    comment_id: int | None = None
    html: str | None = None


_AUDIT_KINDS = {"work_item.create": TimelineKind.CREATED, "work_item.checklist": TimelineKind.CHECKLIST,
                "work_item.commit": TimelineKind.COMMIT, "work_item.review": TimelineKind.REVIEW,
                "work_item.merge": TimelineKind.MERGE, "work_item.cancel": TimelineKind.STATUS}


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def timeline(*, session: Session, item_id: int, limit: int = 500) -> list[TimelineEntry]:
    """Comments, commits, checklist changes, reviews, status changes and the merge of a work item, oldest
    first (the audit log's entries for it and its comments, merged by time). Raises NotFound."""
    work_service.get_work_item(session=session, item_id=item_id)
    entries: list[TimelineEntry] = []
    for entry in audit_service.list_entries(session=session, limit=limit,
                                            filters=AuditFilter(object_type="work_item", object_id=str(item_id))):
        kind = _AUDIT_KINDS.get(entry.action)
        if kind is None:
            before, after = entry.before or {}, entry.after or {}
            status_changed = isinstance(before, dict) and isinstance(after, dict) and \
                before.get("status") != after.get("status") and "status" in after
            kind = TimelineKind.STATUS if status_changed else TimelineKind.CHANGE
        entries.append(TimelineEntry(kind, _aware(entry.at), entry.actor_name, entry.summary))
    for comment in list_comments(session=session, kind=TargetKind.WORK_ITEM, key=str(item_id), limit=limit):
        entries.append(TimelineEntry(TimelineKind.COMMENT, _aware(comment.created_at), comment.author_name,
                                     comment.body[:200], comment.id, render(comment.body)))
    entries.sort(key=lambda e: e.at)
    return entries
