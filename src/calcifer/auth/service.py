"""Users, sessions, API tokens and login throttling. No FastAPI here."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.choices import Role
from calcifer.auth.models import ApiToken, LoginAttempt, LoginSession, User
from calcifer.auth.roles import has_role
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


def create_user(*, session: Session, actor: User | None, data: UserCreate) -> User:
    """Create a user; raises Conflict when the username is taken."""
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
    audit_service.record(session=session, actor=actor or user, action="user.create", object_type="user",
                         object_id=user.id, summary=f"created user {user.username} ({user.role})",
                         after=user_snapshot(user))
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
        if not data.is_active:
            session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    if data.password is not None:
        user.password_hash = hash_password(data.password)
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
    after = user_snapshot(user)
    audit_service.record(session=session, actor=actor, action="user.update", object_type="user",
                         object_id=user.id, summary=f"updated user {user.username}",
                         before=before, after={**after, "password_changed": data.password is not None})
    session.commit()
    return user


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

def recent_failures(*, session: Session, username: str, window_minutes: int) -> int:
    since = utcnow() - dt.timedelta(minutes=window_minutes)
    return session.scalar(
        select(func.count(LoginAttempt.id)).where(LoginAttempt.username == username.lower(),
                                                  LoginAttempt.at >= since)
    ) or 0


def authenticate(
    *, session: Session, username: str, password: str, max_failures: int, window_minutes: int,
    remote_addr: str = "",
) -> User:
    """Check a username and password. Raises TooManyRequests while throttled, Invalid when wrong."""
    key = username.strip().lower()[:64]
    if recent_failures(session=session, username=key, window_minutes=window_minutes) >= max_failures:
        audit_service.record(session=session, actor=None, actor_name=key or "?", action="login.throttled",
                             object_type="user", object_id=key,
                             summary=f"login refused: {max_failures} failures in {window_minutes} minutes",
                             remote_addr=remote_addr)
        session.commit()
        raise TooManyRequests(
            f"Too many failed logins for this user. Wait {window_minutes} minutes and try again, "
            "or ask an admin to reset the password."
        )
    user = session.scalar(select(User).where(func.lower(User.username) == key))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        session.add(LoginAttempt(username=key, remote_addr=remote_addr[:64]))
        audit_service.record(session=session, actor=None, actor_name=key or "?", action="login.failed",
                             object_type="user", object_id=key, summary="wrong username or password",
                             remote_addr=remote_addr)
        session.commit()
        raise Invalid("Wrong username or password.", code="bad_credentials")
    session.execute(delete(LoginAttempt).where(LoginAttempt.username == key))
    user.last_login_at = utcnow()
    audit_service.record(session=session, actor=user, action="login", object_type="user",
                         object_id=user.id, summary="logged in", remote_addr=remote_addr)
    session.commit()
    return user


def start_session(*, session: Session, user: User, hours: int) -> str:
    """Create a login session and return the cookie value (only its hash is stored)."""
    raw = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=sha256(raw), user_id=user.id,
                             expires_at=utcnow() + dt.timedelta(hours=hours)))
    session.commit()
    return raw


def user_for_session(*, session: Session, raw: str) -> User | None:
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == sha256(raw)))
    if row is None or row.expires_at < utcnow():
        return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


def end_session(*, session: Session, raw: str) -> None:
    session.execute(delete(LoginSession).where(LoginSession.token_hash == sha256(raw)))
    session.commit()


# -- API tokens -----------------------------------------------------------------------------------

def create_token(*, session: Session, actor: User, owner: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for `owner`; returns (row, raw token). Only admins create tokens for others."""
    if owner.id != actor.id and not has_role(actor, Role.ADMIN):
        raise PermissionDenied("Only admins can create tokens for other users.")
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("Give the token a name of 1 to 100 characters.",
                      details=[Problem("name", "1 to 100 characters").as_dict()])
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=owner.id, name=name, prefix=raw[:10], token_hash=sha256(raw))
    session.add(token)
    session.flush()
    audit_service.record(session=session, actor=actor, action="token.create", object_type="api_token",
                         object_id=token.id, summary=f"created token {name!r} for {owner.username}",
                         after={"name": name, "user": owner.username, "prefix": token.prefix})
    session.commit()
    return token, raw


def user_for_token(*, session: Session, raw: str) -> User | None:
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256(raw)))
    if token is None or token.revoked_at is not None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    # Write last-use at most once a minute: tokens drive scripts that call in a loop.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
        session.commit()
    return user


def list_tokens(*, session: Session, actor: User, all_users: bool = False, limit: int = 500,
                before_id: int | None = None) -> list[ApiToken]:
    """Newest first, keyset-paginated by id (pass the last id seen as ``before_id``)."""
    query = select(ApiToken).order_by(ApiToken.id.desc()).limit(max(1, min(limit, 500)))
    if before_id is not None:
        query = query.where(ApiToken.id < before_id)
    if not (all_users and has_role(actor, Role.ADMIN)):
        query = query.where(ApiToken.user_id == actor.id)
    return list(session.scalars(query))


def revoke_token(*, session: Session, actor: User, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and not has_role(actor, Role.ADMIN)):
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
            "revoked_at": token.revoked_at}
