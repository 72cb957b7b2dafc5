"""TOTP second factor (RFC 6238 through pyotp): enrolment, confirmation, recovery codes, the login step.

The secret is sealed with the instance key (``calcifer.sealed``): Calcifer must read it back to check
codes. Recovery codes are only compared, so only their SHA-256 is stored. A code is accepted once: the
factor remembers the time step of the last code it took, and a code of that step or an earlier one is
refused (one step of clock drift either way is allowed). No FastAPI here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth.choices import Role
from calcifer.auth.models import LoginThrottle, RecoveryCode, TotpFactor, User
from calcifer.auth.roles import has_role
from calcifer.auth.service import ThrottleLimits, _addr_key, _reserve, _throttled, get_user, sha256
from calcifer.db import utcnow
from calcifer.errors import Conflict, Invalid, NotAuthenticated, NotFound, Problem
from calcifer.prefs import service as prefs_service
from calcifer.prefs.choices import Pref
from calcifer.sealed import SealError, seal, unseal

SECRET_PURPOSE = "totp-secret"
PENDING_PURPOSE = "pending-login"
PENDING_MINUTES = 5
RECOVERY_CODES = 10
ISSUER = "Calcifer"
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


# -- which roles must use it -------------------------------------------------------------------------------

def required_roles(*, session: Session) -> list[Role]:
    """The roles whose users must have a second factor (an admin setting; none by default)."""
    value = str(prefs_service.get(session=session, key=Pref.TOTP_REQUIRED_ROLES) or "")
    return [role for role in Role if role.value in {part.strip() for part in value.split(",")}]


def set_required_roles(*, session: Session, actor: User, roles: list[str]) -> list[Role]:
    unknown = [r for r in roles if r not in {role.value for role in Role}]
    if unknown:
        raise Invalid(f"Unknown role {', '.join(map(repr, unknown))}: use viewer, editor or admin.")
    chosen = [role for role in Role if role.value in roles]
    prefs_service.set_pref(session=session, actor=actor, key=Pref.TOTP_REQUIRED_ROLES,
                           value=",".join(role.value for role in chosen))
    return chosen


def _holds_exactly(user: User, role: Role) -> bool:
    ranked = list(Role)
    stronger = ranked[ranked.index(role) + 1:]
    return has_role(user, role) and not any(has_role(user, other) for other in stronger)


def is_required(*, session: Session, user: User) -> bool:
    """Whether ``user``'s role is one the admin setting lists (each role is listed by itself)."""
    return any(_holds_exactly(user, role) for role in required_roles(session=session))


# -- the factor -------------------------------------------------------------------------------------------

def factor(*, session: Session, user_id: int) -> TotpFactor | None:
    return session.get(TotpFactor, user_id)


def enabled_user_ids(*, session: Session) -> set[int]:
    return set(session.scalars(select(TotpFactor.user_id).where(TotpFactor.confirmed_at.is_not(None))))


def is_enabled(*, session: Session, user_id: int) -> bool:
    row = factor(session=session, user_id=user_id)
    return row is not None and row.confirmed_at is not None


def enrolment_due(*, session: Session, user: User) -> bool:
    """A user whose role requires a second factor and who has none confirmed yet."""
    return is_required(session=session, user=user) and not is_enabled(session=session, user_id=user.id)


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str

    def qr_svg(self) -> bytes:
        """The otpauth:// URI as a QR code, an SVG made here (no third party sees the secret). Dark on
        white whatever the page theme: phones read a QR code on a light background best."""
        buffer = io.BytesIO()
        segno.make(self.uri, error="m").save(buffer, kind="svg", dark="#000", light="#fff", scale=5, border=2,
                                             xmldecl=False, title="Calcifer two-factor key")
        return buffer.getvalue()


def _secret(row: TotpFactor, secret_key: str) -> str:
    return unseal(secret_key, SECRET_PURPOSE, row.secret_sealed)


def _enrolment(user: User, secret: str) -> Enrolment:
    return Enrolment(secret=secret, uri=pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER))


def start_enrolment(*, session: Session, user: User, secret_key: str) -> Enrolment:
    """A new secret for ``user`` (replacing an unconfirmed one). Raises Conflict when a factor is on."""
    row = factor(session=session, user_id=user.id)
    if row is not None and row.confirmed_at is not None:
        raise Conflict("Two-factor is already on; turn it off first to set up a new device.", code="totp_enabled")
    secret = pyotp.random_base32()
    if row is None:
        session.add(TotpFactor(user_id=user.id, secret_sealed=seal(secret_key, SECRET_PURPOSE, secret), last_step=0))
    else:
        row.secret_sealed = seal(secret_key, SECRET_PURPOSE, secret)
        row.last_step = 0
        row.created_at = utcnow()
    session.commit()
    return _enrolment(user, secret)


def pending_enrolment(*, session: Session, user: User, secret_key: str) -> Enrolment | None:
    """The unconfirmed enrolment of ``user``, to show its QR code again; None when there is none."""
    row = factor(session=session, user_id=user.id)
    if row is None or row.confirmed_at is not None:
        return None
    try:
        return _enrolment(user, _secret(row, secret_key))
    except SealError:  # sealed by another instance's key: the page starts a new set-up
        return None


def _accept_code(session: Session, row: TotpFactor, secret_key: str, code: str) -> bool:
    """Whether ``code`` is right now and newer than the last code taken; takes it (atomically) if so."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    try:
        totp = pyotp.TOTP(_secret(row, secret_key))
    except SealError:  # restored from an instance with another key: only a recovery code (or a reset) helps
        return False
    now = time.time()
    step_now = int(now // totp.interval)
    for step in (step_now, step_now - 1, step_now + 1):
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            if step <= row.last_step:
                return False  # this code (or a later one) was used already
            taken = session.execute(update(TotpFactor).where(TotpFactor.user_id == row.user_id,
                                                             TotpFactor.last_step < step)
                                    .values(last_step=step).execution_options(synchronize_session=False))
            return bool(taken.rowcount == 1)  # type: ignore[attr-defined]
    return False


def _new_recovery_codes(session: Session, user_id: int) -> list[str]:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        session.add(RecoveryCode(user_id=user_id, code_hash=sha256(code)))
    return codes


def confirm_enrolment(*, session: Session, user: User, secret_key: str, code: str, remote_addr: str = "") -> list[str]:
    """Turn the factor on once ``code`` matches; returns the recovery codes (shown once, stored hashed)."""
    row = factor(session=session, user_id=user.id)
    if row is None or row.confirmed_at is not None:
        raise NotFound("There is no two-factor set-up waiting for a code; start again.")
    if not _accept_code(session, row, secret_key, code):
        session.rollback()
        raise Invalid("That code is not right: type the 6 digits your app shows now (check the phone's clock).",
                      details=[Problem("code", "wrong or already used").as_dict()], code="bad_code")
    session.execute(update(TotpFactor).where(TotpFactor.user_id == user.id).values(confirmed_at=utcnow())
                    .execution_options(synchronize_session=False))
    codes = _new_recovery_codes(session, user.id)
    audit_service.record(session=session, actor=user, action="totp.enable", object_type="user", object_id=user.id,
                         summary="turned on two-factor login", remote_addr=remote_addr)
    session.commit()
    return codes


def regenerate_recovery_codes(*, session: Session, user: User, secret_key: str, code: str) -> list[str]:
    row = factor(session=session, user_id=user.id)
    if row is None or row.confirmed_at is None:
        raise NotFound("Two-factor is off: there are no recovery codes.")
    if not _accept_code(session, row, secret_key, code):
        session.rollback()
        raise Invalid("That code is not right: type the 6 digits your app shows now.", code="bad_code",
                      details=[Problem("code", "wrong or already used").as_dict()])
    codes = _new_recovery_codes(session, user.id)
    audit_service.record(session=session, actor=user, action="totp.recovery_codes", object_type="user",
                         object_id=user.id, summary="made new recovery codes (the old ones stop working)")
    session.commit()
    return codes


def recovery_codes_left(*, session: Session, user_id: int) -> int:
    return len(list(session.scalars(select(RecoveryCode.id).where(RecoveryCode.user_id == user_id,
                                                                  RecoveryCode.used_at.is_(None)))))


def disable(*, session: Session, actor: User | None, user_id: int, remote_addr: str = "",
            actor_name: str | None = None) -> None:
    """Turn the factor off: the user on their account page, an admin for a user who lost the device, or
    the command line (``actor`` None, ``actor_name`` "cli") for the admin who lost theirs."""
    user = get_user(session=session, user_id=user_id)
    if actor is not None and actor.id == user.id and is_required(session=session, user=user):
        raise Conflict(f"Your role ({user.role}) must use two-factor login; set up a new device instead, or ask "
                       "an admin to reset it.", code="totp_required")
    if actor is None and actor_name is None:
        raise ValueError("disable needs an actor or an actor name")
    if actor is not None and actor.id != user.id and not has_role(actor, Role.ADMIN):
        raise NotFound(f"No user with id {user_id}.")
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(TotpFactor).where(TotpFactor.user_id == user.id))
    audit_service.record(session=session, actor=actor, actor_name=actor_name, action="totp.disable",
                         object_type="user", object_id=user.id,
                         summary=f"turned off two-factor login of {user.username}", remote_addr=remote_addr)
    session.commit()


# -- the login step ---------------------------------------------------------------------------------------------

def pending_login(*, secret_key: str, user: User, next_url: str) -> str:
    """A short-lived sealed value saying who passed the password step (kept in a cookie until the code)."""
    payload = {"u": user.id, "exp": int(time.time()) + PENDING_MINUTES * 60, "next": next_url,
               "n": secrets.token_urlsafe(8)}
    return seal(secret_key, PENDING_PURPOSE, json.dumps(payload))


@dataclass(frozen=True)
class Pending:
    user_id: int
    next_url: str


def read_pending(*, secret_key: str, value: str | None) -> Pending:
    """Who is between the password and the code; NotAuthenticated when nobody, or it is too old."""
    if not value:
        raise NotAuthenticated("Log in with your password first.")
    try:
        payload = json.loads(unseal(secret_key, PENDING_PURPOSE, value))
    except (SealError, ValueError) as exc:
        raise NotAuthenticated("Log in with your password first.") from exc
    if int(payload.get("exp", 0)) < time.time():
        raise NotAuthenticated(f"The code was not given within {PENDING_MINUTES} minutes: log in again.")
    return Pending(user_id=int(payload["u"]), next_url=str(payload.get("next") or "/"))


def _code_key(username: str) -> str:
    return f"code:{username}"


def verify_login_code(*, session: Session, pending: Pending, code: str, secret_key: str, limits: ThrottleLimits,
                      remote_addr: str = "") -> User:
    """The second login step: a TOTP code or a recovery code. Failed codes count per user and per
    address (the same address allowance as passwords); raises TooManyRequests or Invalid."""
    user = session.get(User, pending.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("Log in with your password first.")
    key = user.username.lower()
    addr = remote_addr[:64]
    window = dt.timedelta(minutes=limits.window_minutes)
    until = _reserve(session, key=_addr_key(addr), username="", remote_addr=addr, limit=limits.per_address,
                     window=window)
    if until is not None:
        raise _throttled(session, key=key, until=until, remote_addr=addr, why="from this address")
    until = _reserve(session, key=_code_key(key), username=key, remote_addr=addr,
                     limit=limits.per_user_and_address, window=window)
    if until is not None:
        raise _throttled(session, key=key, until=until, remote_addr=addr, why="for this user's codes")
    row = factor(session=session, user_id=user.id)
    if row is None or row.confirmed_at is None:
        raise NotAuthenticated("Log in with your password first.")
    cleaned = "".join(code.split()).lower()
    how = ""
    if _accept_code(session, row, secret_key, cleaned):
        how = "a code"
    elif len(cleaned) == 11 and cleaned[5] == "-":
        used = session.execute(update(RecoveryCode).where(RecoveryCode.user_id == user.id,
                                                          RecoveryCode.code_hash == sha256(cleaned),
                                                          RecoveryCode.used_at.is_(None))
                               .values(used_at=utcnow()).execution_options(synchronize_session=False))
        if used.rowcount == 1:  # type: ignore[attr-defined]
            how = "a recovery code"
    if not how:
        session.rollback()
        audit_service.record(session=session, actor=None, actor_name=key, action="login.failed", object_type="user",
                             object_id=key, summary="wrong or reused two-factor code", remote_addr=remote_addr)
        session.commit()
        raise Invalid("That code is not right, or was used already: type the 6 digits your app shows now, or "
                      "one of your recovery codes.", code="bad_code")
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == _code_key(key)))
    session.execute(update(LoginThrottle).where(LoginThrottle.key == _addr_key(addr), LoginThrottle.failures > 0)
                    .values(failures=LoginThrottle.failures - 1, blocked_until=None)
                    .execution_options(synchronize_session=False))
    audit_service.record(session=session, actor=user, action="login.second_factor", object_type="user",
                         object_id=user.id, summary=f"gave {how}", remote_addr=remote_addr)
    session.commit()
    return user
