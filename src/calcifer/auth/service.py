"""Users, sessions, API tokens and login throttling. No FastAPI here."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.choices import AuthSource, Role, Scope
from calcifer.auth.models import ApiToken, LoginSession, LoginThrottle, User
from calcifer.auth.roles import expand_scopes, has_role, scope_allows, scopes_for_role
from calcifer.auth.schemas import UserCreate, UserUpdate
from calcifer.db import utcnow
from calcifer.errors import Conflict, Invalid, NotFound, PermissionDenied, Problem, TooManyRequests

_hasher = PasswordHasher()  # argon2id with the library's current parameters
TOKEN_PREFIX = "cal_"
# A real hash of a random password: verifying against it costs the same time as a real check, so
# unknown usernames are not revealed by timing.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def user_snapshot(user: User) -> dict[str, object]:
    """What the audit log keeps of a user (never the password hash)."""
    return {"username": user.username, "role": user.role, "display_name": user.display_name,
            "email": user.email, "is_active": user.is_active}


# -- users --------------------------------------------------------------------------------------

def has_users(*, session: Session) -> bool:
    return session.scalar(select(func.count(User.id))) != 0


def count_active_users(*, session: Session) -> int:
    return int(session.scalar(select(func.count(User.id)).where(User.is_active.is_(True))) or 0)


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def get_user_by_username(*, session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def list_users(*, session: Session, limit: int = 100, after_id: int | None = None) -> list[User]:
    query = select(User).order_by(User.id).limit(limit)
    if after_id is not None:
        query = query.where(User.id > after_id)
    return list(session.scalars(query))


def create_user(*, session: Session, actor: User | None, data: UserCreate, actor_name: str | None = None) -> User:
    """Create a user; raises Conflict when the username is taken. Audited as ``actor``, else as
    ``actor_name`` (e.g. the command line), else as the new user (first-run setup)."""
    if session.scalar(select(User.id).where(func.lower(User.username) == data.username.lower())):
        raise Conflict(f"The username {data.username!r} is taken; choose another.", code="username_taken")
    user = User(username=data.username, password_hash=hash_password(data.password), role=data.role.value,
                display_name=data.display_name, email=data.email, is_active=True)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(f"The username {data.username!r} is taken; choose another.",
                       code="username_taken") from exc
    audit_service.record(session=session, actor=actor or (None if actor_name else user), actor_name=actor_name,
                         action="user.create", object_type="user", object_id=user.id,
                         summary=f"created user {user.username} ({user.role})", after=user_snapshot(user))
    session.commit()
    return user


def create_first_admin(*, session: Session, data: UserCreate) -> User:
    """First-run setup: only allowed while no user exists."""
    if has_users(session=session):
        raise NotFound("Setup is finished.")
    return create_user(session=session, actor=None, data=data.model_copy(update={"role": Role.ADMIN}))


def _active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count(User.id)).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
    ) or 0


def update_user(*, session: Session, actor: User, user_id: int, data: UserUpdate) -> User:
    user = get_user(session=session, user_id=user_id)
    before = user_snapshot(user)
    demoting = data.role is not None and data.role != Role.ADMIN and has_role(user, Role.ADMIN)
    disabling = data.is_active is False and has_role(user, Role.ADMIN)
    if (demoting or disabling) and user.is_active and _active_admins(session) <= 1:
        raise Conflict("This is the last active admin; make another admin first.", code="last_admin")
    if data.role is not None:
        user.role = data.role.value
    if data.display_name is not None:
        user.display_name = data.display_name
    if data.email is not None:
        user.email = data.email
    if data.is_active is not None:
        user.is_active = data.is_active
    revoked = 0
    if data.is_active is False:
        # A disabled user is out at once: every session ends and every token is revoked (re-enabling
        # does not bring them back).
        revoked = _end_credentials(session, user_id=user.id)
    if data.password is not None:
        user.password_hash = hash_password(data.password)
        revoked = _end_credentials(session, user_id=user.id)
    after = user_snapshot(user)
    audit_service.record(session=session, actor=actor, action="user.update", object_type="user",
                         object_id=user.id, summary=f"updated user {user.username}",
                         before=before, after={**after, "password_changed": data.password is not None,
                                               **({"tokens_revoked": revoked} if revoked else {})})
    session.commit()
    return user


def _end_credentials(session: Session, *, user_id: int) -> int:
    """End every session and revoke every API token of a user whose password was reset.

    A reset means the password may have leaked; a token made with it is as suspect as a session.
    Returns how many tokens were revoked.
    """
    session.execute(delete(LoginSession).where(LoginSession.user_id == user_id)
                    .execution_options(synchronize_session=False))
    result = session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                             .values(revoked_at=utcnow()).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def delete_user(*, session: Session, actor: User, user_id: int) -> None:
    user = get_user(session=session, user_id=user_id)
    if user.id == actor.id:
        raise Conflict("You cannot delete your own account.", code="self_delete")
    if has_role(user, Role.ADMIN) and user.is_active and _active_admins(session) <= 1:
        raise Conflict("This is the last active admin; make another admin first.", code="last_admin")
    before = user_snapshot(user)
    session.delete(user)
    audit_service.record(session=session, actor=actor, action="user.delete", object_type="user",
                         object_id=user_id, summary=f"deleted user {before['username']}", before=before)
    session.commit()


# -- login and sessions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ThrottleLimits:
    """How many failures a (username, address) pair and an address get before they must wait."""

    per_user_and_address: int
    per_address: int
    window_minutes: int  # failures older than this are forgotten; also the longest wait


FIRST_WAIT = dt.timedelta(minutes=1)
_CAS_ATTEMPTS = 50


def _pair_key(username: str, remote_addr: str) -> str:
    return f"user:{username}\n{remote_addr}"


def _addr_key(remote_addr: str) -> str:
    return f"addr:{remote_addr}"


def _wait_after(failures: int, limit: int, window: dt.timedelta) -> dt.datetime | None:
    if failures < limit:
        return None
    return utcnow() + min(FIRST_WAIT * 2 ** min(failures - limit, 20), window)


def _reserve(session: Session, *, key: str, username: str, remote_addr: str, limit: int,
             window: dt.timedelta) -> dt.datetime | None:
    """Count one attempt under `key` before its password is checked; None when it may go ahead.

    Returns the time until which the key must wait when it is throttled. The counter is raised by a
    compare-and-set UPDATE whose WHERE holds the value read, so of concurrent attempts exactly one
    wins each step and the rest re-read: no more than `limit` attempts pass per back-off step. Each
    step commits by itself, so on SQLite the write is the first statement of its transaction (no
    stale snapshot) and on PostgreSQL the row lock decides.
    """
    for _ in range(_CAS_ATTEMPTS):
        now = utcnow()
        row = session.execute(
            select(LoginThrottle.failures, LoginThrottle.blocked_until, LoginThrottle.updated_at)
            .where(LoginThrottle.key == key)
        ).one_or_none()
        session.rollback()  # end the read, so the write below starts its own transaction
        if row is None:
            session.add(LoginThrottle(key=key, username=username, remote_addr=remote_addr, failures=1,
                                      blocked_until=_wait_after(1, limit, window), updated_at=now))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            return None
        stale = row.updated_at < now - window
        if not stale and row.blocked_until is not None and row.blocked_until > now:
            return row.blocked_until
        failures = 1 if stale else row.failures + 1
        changed = session.execute(
            update(LoginThrottle).where(LoginThrottle.key == key, LoginThrottle.failures == row.failures)
            .values(failures=failures, blocked_until=_wait_after(failures, limit, window), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if changed.rowcount == 1:  # type: ignore[attr-defined]
            return None
    # Only under a storm of attempts on one key: refusing is the safe answer.
    return utcnow() + FIRST_WAIT


def _throttled(session: Session, *, key: str, until: dt.datetime, remote_addr: str, why: str) -> TooManyRequests:
    minutes = max(1, math.ceil((until - utcnow()).total_seconds() / 60))
    audit_service.record(session=session, actor=None, actor_name=key or "?", action="login.throttled",
                         object_type="user", object_id=key, summary=f"login refused: too many failures {why}",
                         remote_addr=remote_addr)
    session.commit()
    wait = f"{minutes} minute" + ("" if minutes == 1 else "s")
    return TooManyRequests(f"Too many failed logins {why}. Try again in {wait}, or ask an admin to lift "
                           "the wait (calcifer user unlock USERNAME).")


class DirectoryLogin(Protocol):
    """A directory that checks passwords itself (LDAP, ``auth.sso.directory_login``): the user it vouches
    for (created or updated), or None when the password is wrong, the user unknown or disabled."""

    def __call__(self, *, username: str, password: str) -> User | None: ...


def authenticate(
    *, session: Session, username: str, password: str, limits: ThrottleLimits, remote_addr: str = "",
    directory: DirectoryLogin | None = None,
) -> User:
    """Check a username and password. Raises TooManyRequests while throttled, Invalid when wrong.

    Throttling is per (username, address) and per address, never per account alone, so nobody can
    lock a user out from everywhere: the real user's own address keeps its own allowance. With a
    ``directory``, users not known here and users marked ``ldap`` are checked by it instead (local users
    never are, so a directory entry cannot take over a local account); its answer is throttled the same.
    """
    key = username.strip().lower()[:64]
    addr = remote_addr[:64]
    window = dt.timedelta(minutes=limits.window_minutes)
    until = _reserve(session, key=_addr_key(addr), username="", remote_addr=addr,
                     limit=limits.per_address, window=window)
    if until is not None:
        raise _throttled(session, key=key, until=until, remote_addr=addr, why="from this address")
    until = _reserve(session, key=_pair_key(key, addr), username=key, remote_addr=addr,
                     limit=limits.per_user_and_address, window=window)
    if until is not None:
        raise _throttled(session, key=key, until=until, remote_addr=addr, why="for this user from this address")
    user = session.scalar(select(User).where(func.lower(User.username) == key))
    if directory is not None and (user is None or user.auth_source == AuthSource.LDAP.value):
        session.rollback()
        user = directory(username=key, password=password)
        ok = user is not None
    else:
        ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    user_id = user.id if user is not None and ok and user.is_active else None
    # The writes below start fresh transactions: on SQLite a write after a read in one transaction
    # fails at once when another login committed in between.
    session.rollback()
    if user is None or user_id is None:
        audit_service.record(session=session, actor=None, actor_name=key or "?", action="login.failed",
                             object_type="user", object_id=key, summary="wrong username or password",
                             remote_addr=remote_addr)
        session.commit()
        raise Invalid("Wrong username or password.", code="bad_credentials")
    # The attempt was counted before the check; a success takes it back and clears the pair.
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == _pair_key(key, addr)))
    session.execute(update(LoginThrottle).where(LoginThrottle.key == _addr_key(addr), LoginThrottle.failures > 0)
                    .values(failures=LoginThrottle.failures - 1, blocked_until=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(User).where(User.id == user_id).values(last_login_at=utcnow())
                    .execution_options(synchronize_session=False))
    audit_service.record(session=session, actor=user, action="login", object_type="user",
                         object_id=user.id, summary="logged in", remote_addr=remote_addr)
    session.commit()
    return user


def unlock_user(*, session: Session, username: str) -> int:
    """Lift the login back-off of `username` from every address (and of those addresses).

    Returns how many throttle records were cleared. Raises NotFound for an unknown username.
    """
    user = get_user_by_username(session=session, username=username)
    key = user.username.lower()
    addrs = list(session.scalars(select(LoginThrottle.remote_addr).where(LoginThrottle.username == key)))
    cleared = session.execute(
        delete(LoginThrottle).where(LoginThrottle.username == key)
    ).rowcount  # type: ignore[attr-defined]
    if addrs:
        cleared += session.execute(
            delete(LoginThrottle).where(LoginThrottle.key.in_([_addr_key(a) for a in addrs]))
        ).rowcount  # type: ignore[attr-defined]
    audit_service.record(session=session, actor=None, actor_name="cli", action="login.unlock",
                         object_type="user", object_id=user.id,
                         summary=f"lifted the login back-off of {user.username}")
    session.commit()
    return int(cleared)


def start_session(*, session: Session, user: User, hours: int, replaces: str | None = None,
                  remote_addr: str = "", user_agent: str = "") -> str:
    """Create a login session and return the cookie value (only its hash is stored).

    `replaces` is the session cookie the browser sent, if any: that session ends. The address and
    user agent are kept to show the person which session is which.
    """
    if replaces:
        session.execute(delete(LoginSession).where(LoginSession.token_hash == sha256(replaces)))
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(LoginSession(token_hash=sha256(raw), user_id=user.id, expires_at=now + dt.timedelta(hours=hours),
                             last_seen_at=now, remote_addr=remote_addr[:64], user_agent=user_agent[:300]))
    session.commit()
    return raw


def user_for_session(*, session: Session, raw: str) -> User | None:
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == sha256(raw)))
    now = utcnow()
    if row is None or row.expires_at < now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    # Last seen at most once a minute: a page load makes several requests.
    if row.last_seen_at is None or now - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = now
        session.commit()
    return user


def end_session(*, session: Session, raw: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == sha256(raw)))
    session.commit()


# -- API tokens -----------------------------------------------------------------------------------

_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str) -> dt.datetime:
    """A token expiry from the command line: a duration from now (``30d``, ``12h``, ``90m``, ``2w``) or an
    ISO 8601 date or time (UTC unless it says otherwise). Raises Invalid saying what to write."""
    value = text.strip()
    unit = _DURATION_UNITS.get(value[-1:].lower())
    if unit and value[:-1].isdigit():
        return utcnow() + dt.timedelta(**{unit: int(value[:-1])})
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{text!r} is not an expiry: give a duration such as 30d, 12h or 90m, or a time such as "
                      "2027-01-31 or 2027-01-31T18:00:00Z.", details=[Problem("expires", "unreadable").as_dict()]
                      ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class TokenAuth:
    """What a bearer token resolved to: its user and scopes, or why it does not authenticate."""

    user: User | None
    scopes: tuple[str, ...] = ()
    expired_at: dt.datetime | None = None  # set when the token is known but past its expiry
    name: str = ""


def _check_scopes(*, owner: User, scopes: list[str] | None, actor_scopes: Collection[str] | None) -> list[Scope]:
    """The scopes a new token of ``owner`` gets: ``scopes`` with those each includes, or by default all
    the owner's role allows (and the creating token holds). Raises Invalid naming what is too much."""
    allowed = [s for s in scopes_for_role(owner.role) if scope_allows(actor_scopes, s)]
    if scopes is None:
        return allowed
    unknown = [s for s in scopes if s not in {known.value for known in Scope}]
    if unknown:
        raise Invalid(f"Unknown scope {', '.join(map(repr, unknown))}: use read, write or admin.",
                      details=[Problem("scopes", f"unknown scope {s!r}").as_dict() for s in unknown],
                      code="unknown_scope")
    if not scopes:
        raise Invalid("Give the token at least one scope: read, write or admin.",
                      details=[Problem("scopes", "empty").as_dict()])
    wanted = expand_scopes(scopes)
    too_much = [s for s in wanted if s not in allowed]
    if too_much:
        names = ", ".join(s.value for s in too_much)
        why = (f"{owner.username}'s role ({owner.role}) allows only "
               f"{', '.join(s.value for s in scopes_for_role(owner.role)) or 'nothing'}")
        if actor_scopes is not None:
            why += f", and the token you are using has {', '.join(sorted(actor_scopes)) or 'no scope'}"
        raise Invalid(f"A token cannot have the scope {names}: {why}.",
                      details=[Problem("scopes", f"{s.value} is more than allowed").as_dict() for s in too_much],
                      code="scope_not_allowed")
    return wanted


def create_token(*, session: Session, actor: User, owner: User, name: str, actor_name: str | None = None,
                 scopes: list[str] | None = None, expires_at: dt.datetime | None = None,
                 actor_scopes: Collection[str] | None = None) -> tuple[ApiToken, str]:
    """Create a token for `owner`; returns (row, raw token). Only admins create tokens for others.
    With ``actor_name`` (the command line) the audit names it, not ``actor``.

    ``scopes`` default to all the owner's role allows; ``actor_scopes`` are those of the token the
    request came with (None for a browser session or the command line): a token never makes a
    stronger one. ``expires_at`` must lie in the future."""
    if owner.id != actor.id and not has_role(actor, Role.ADMIN, scopes=actor_scopes):
        raise PermissionDenied("Only admins (with a token of admin scope) can create tokens for other users.")
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("Give the token a name of 1 to 100 characters.",
                      details=[Problem("name", "1 to 100 characters").as_dict()])
    granted = _check_scopes(owner=owner, scopes=scopes, actor_scopes=actor_scopes)
    if not granted:
        raise Invalid(f"{owner.username}'s role ({owner.role}) allows no token scope.", code="scope_not_allowed")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        if expires_at <= utcnow():
            raise Invalid(f"The expiry {expires_at:%Y-%m-%d %H:%M} UTC is in the past; give a future time or none.",
                          details=[Problem("expires_at", "in the past").as_dict()], code="expiry_in_past")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=owner.id, name=name, prefix=raw[:10], token_hash=sha256(raw),
                     scopes=",".join(s.value for s in granted), expires_at=expires_at)
    session.add(token)
    session.flush()
    audit_service.record(session=session, actor=None if actor_name else actor, actor_name=actor_name,
                         action="token.create", object_type="api_token",
                         object_id=token.id, summary=f"created token {name!r} for {owner.username}",
                         after={"name": name, "user": owner.username, "prefix": token.prefix,
                                "scopes": token.scopes, "expires_at": expires_at.isoformat() if expires_at else None})
    session.commit()
    return token, raw


def token_scopes(token: ApiToken) -> list[str]:
    return [s for s in token.scopes.split(",") if s]


def resolve_token(*, session: Session, raw: str) -> TokenAuth:
    """The user and scopes of a bearer token; no user when it is unknown, revoked, expired or its user
    is disabled (``expired_at`` says when an otherwise valid token expired)."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256(raw)))
    if token is None or token.revoked_at is not None:
        return TokenAuth(user=None)
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return TokenAuth(user=None)
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        return TokenAuth(user=None, expired_at=token.expires_at, name=token.name)
    # Write last-use at most once a minute: tokens drive scripts that call in a loop.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
        session.commit()
    return TokenAuth(user=user, scopes=tuple(token_scopes(token)), name=token.name)


def user_for_token(*, session: Session, raw: str) -> User | None:
    return resolve_token(session=session, raw=raw).user


def list_tokens(*, session: Session, actor: User, all_users: bool = False, limit: int = 500,
                before_id: int | None = None, actor_scopes: Collection[str] | None = None) -> list[ApiToken]:
    """Newest first, keyset-paginated by id (pass the last id seen as ``before_id``). Everyone's tokens only
    for an admin (through a token: one with the admin scope)."""
    query = select(ApiToken).order_by(ApiToken.id.desc()).limit(max(1, min(limit, 500)))
    if before_id is not None:
        query = query.where(ApiToken.id < before_id)
    if not (all_users and has_role(actor, Role.ADMIN, scopes=actor_scopes)):
        query = query.where(ApiToken.user_id == actor.id)
    return list(session.scalars(query))


def revoke_token(*, session: Session, actor: User, token_id: int,
                 actor_scopes: Collection[str] | None = None) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and not has_role(actor, Role.ADMIN, scopes=actor_scopes)):
        raise NotFound(f"No token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit_service.record(session=session, actor=actor, action="token.revoke", object_type="api_token",
                             object_id=token.id, summary=f"revoked token {token.name!r}",
                             before={"revoked": False}, after={"revoked": True})
        session.commit()
    return token


def token_public(token: ApiToken) -> dict[str, object]:
    return {"id": token.id, "name": token.name, "prefix": token.prefix, "username": token.user.username,
            "created_at": token.created_at, "last_used_at": token.last_used_at,
            "revoked_at": token.revoked_at, "scopes": token_scopes(token), "expires_at": token.expires_at}


# -- one's own account (the account page) ------------------------------------------------------------
# Kept apart from the admin's user functions above: here the actor is always the account's owner.

def own_sessions(*, session: Session, user: User, limit: int = 500,
                 before_id: int | None = None) -> list[LoginSession]:
    """The user's unexpired browser sessions, newest first (keyset-paginated by id: pass the last id
    seen as ``before_id``)."""
    query = (select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at >= utcnow())
             .order_by(LoginSession.id.desc()).limit(max(1, min(limit, 500))))
    if before_id is not None:
        query = query.where(LoginSession.id < before_id)
    return list(session.scalars(query))


def end_own_session(*, session: Session, user: User, session_id: int, remote_addr: str = "") -> None:
    """End one of the user's own browser sessions; NotFound when it is not theirs (or gone)."""
    row = session.get(LoginSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound(f"You have no session with id {session_id}.")
    session.delete(row)
    audit_service.record(session=session, actor=user, action="session.revoke", object_type="user",
                         object_id=user.id, summary=f"ended own session {session_id}", remote_addr=remote_addr)
    session.commit()


def end_other_sessions(*, session: Session, user: User, keep_session: str | None, remote_addr: str = "") -> int:
    """End every browser session of the user but the one whose cookie is ``keep_session``; returns how many."""
    query = delete(LoginSession).where(LoginSession.user_id == user.id)
    if keep_session:
        query = query.where(LoginSession.token_hash != sha256(keep_session))
    ended = int(session.execute(query.execution_options(synchronize_session=False)).rowcount)  # type: ignore[attr-defined]
    audit_service.record(session=session, actor=user, action="session.revoke_others", object_type="user",
                         object_id=user.id, summary=f"ended {ended} other session(s)", remote_addr=remote_addr)
    session.commit()
    return ended


def end_user_sessions(*, session: Session, actor: User, user_id: int, revoke_tokens: bool = False) -> tuple[int, int]:
    """An admin ends every browser session of a user (and with ``revoke_tokens`` revokes their API tokens).
    Returns (sessions ended, tokens revoked)."""
    user = get_user(session=session, user_id=user_id)
    if revoke_tokens:
        ended = session.scalar(select(func.count(LoginSession.id)).where(LoginSession.user_id == user.id)) or 0
        revoked = _end_credentials(session, user_id=user.id)
    else:
        ended = int(session.execute(delete(LoginSession).where(LoginSession.user_id == user.id)
                                    .execution_options(synchronize_session=False)).rowcount)  # type: ignore[attr-defined]
        revoked = 0
    audit_service.record(session=session, actor=actor, action="session.revoke_all", object_type="user",
                         object_id=user.id, summary=f"ended {ended} session(s) of {user.username}"
                         + (f" and revoked {revoked} token(s)" if revoked else ""),
                         after={"sessions_ended": ended, "tokens_revoked": revoked})
    session.commit()
    return int(ended), revoked


def change_own_password(*, session: Session, user: User, current_password: str, new_password: str,
                        new_password_again: str, keep_session: str | None, remote_addr: str = "") -> int:
    """Change the user's own password and end every other browser session of theirs (the one whose cookie
    value is ``keep_session`` stays, so the person is not logged out). Returns how many sessions ended.
    Raises Invalid, listing every problem at once: the current password is wrong, the new one breaks
    the password rules, the two new ones differ."""
    problems: list[dict[str, str]] = []
    if not verify_password(user.password_hash, current_password):
        problems.append(Problem("current_password", "is not your current password").as_dict())
    try:
        UserUpdate(password=new_password)
    except ValueError:
        problems.append(Problem("new_password", "use 8 to 1024 characters").as_dict())
    if new_password != new_password_again:
        problems.append(Problem("new_password_again", "differs from the new password").as_dict())
    if problems:
        raise Invalid("The password was not changed: " + "; ".join(
            f"{p['code'].replace('_', ' ')} {p['message']}" for p in problems) + ".", details=problems)
    # The request's user may come from another session (the middleware's): change the row of this one.
    get_user(session=session, user_id=user.id).password_hash = hash_password(new_password)
    others = select(LoginSession).where(LoginSession.user_id == user.id)
    if keep_session:
        others = others.where(LoginSession.token_hash != sha256(keep_session))
    ended = 0
    for row in session.scalars(others):
        session.delete(row)
        ended += 1
    audit_service.record(session=session, actor=user, action="user.password_change", object_type="user",
                         object_id=user.id, summary=f"changed own password; ended {ended} other session(s)",
                         remote_addr=remote_addr)
    session.commit()
    return ended
