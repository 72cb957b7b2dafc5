"""Single sign-on: the settings of the OpenID Connect and LDAP logins, the rule that may require SSO, and
users made (or updated) from what a provider says about them. No FastAPI here.

The protocols themselves live beside this module: ``auth.oidc`` (authorization code with PKCE, the ID
token checked) and ``auth.ldap`` (a bind to the directory). Both end here, in ``sign_in_external``: the
user is found (by issuer and subject for OpenID, by username for LDAP) or created, and their role is
set from the groups the provider names, at every login.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from calcifer.audit import service as audit_service
from calcifer.auth import ldap, oidc
from calcifer.auth.choices import AuthSource, ProviderKind, Role
from calcifer.auth.models import ExternalIdentity, IdentityProvider, User
from calcifer.auth.roles import has_role
from calcifer.auth.schemas import LdapConfig, OidcConfig
from calcifer.auth.service import DirectoryLogin, user_snapshot
from calcifer.db import utcnow
from calcifer.errors import Invalid, Problem
from calcifer.sealed import SealError, seal, unseal

SECRET_PURPOSES = {ProviderKind.OIDC: "oidc-client-secret", ProviderKind.LDAP: "ldap-bind-password"}
# An external user's password hash: not an argon2 hash, so no password ever matches it.
UNUSABLE_PASSWORD = "!external"
_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")

ConfigT = TypeVar("ConfigT", OidcConfig, LdapConfig)


# -- settings ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProviderSettings:
    """One provider's settings as the settings page shows them (never the secret itself)."""

    kind: ProviderKind
    enabled: bool
    config: BaseModel
    has_secret: bool


def _row(session: Session, kind: ProviderKind) -> IdentityProvider | None:
    return session.get(IdentityProvider, kind.value)


def _config(row: IdentityProvider | None, schema: type[ConfigT]) -> ConfigT:
    if row is None:
        return schema()
    try:
        return schema.model_validate(row.config or {})
    except ValidationError:  # written by a newer version, or edited by hand: the defaults, not a crash
        return schema()


def provider_settings(*, session: Session, kind: ProviderKind) -> ProviderSettings:
    row = _row(session, kind)
    config: BaseModel = _config(row, OidcConfig) if kind is ProviderKind.OIDC else _config(row, LdapConfig)
    return ProviderSettings(kind=kind, enabled=bool(row and row.enabled), config=config,
                            has_secret=bool(row and row.secret_sealed))


def oidc_config(*, session: Session) -> OidcConfig | None:
    """The OpenID Connect settings when that login is turned on, else None."""
    row = _row(session, ProviderKind.OIDC)
    return _config(row, OidcConfig) if row is not None and row.enabled else None


def ldap_config(*, session: Session) -> LdapConfig | None:
    """The LDAP settings when that login is turned on, else None."""
    row = _row(session, ProviderKind.LDAP)
    return _config(row, LdapConfig) if row is not None and row.enabled else None


def provider_secret(*, session: Session, kind: ProviderKind, secret_key: str) -> str:
    """The unsealed client secret / bind password ("" when none is set). Raises Invalid when it was
    sealed by another instance's key (an admin sets it again)."""
    row = _row(session, kind)
    if row is None or not row.secret_sealed:
        return ""
    try:
        return unseal(secret_key, SECRET_PURPOSES[kind], row.secret_sealed)
    except SealError as exc:
        raise Invalid(f"The stored {kind.value.upper()} secret cannot be read with this instance's key: an admin "
                      "sets it again under Settings → Single sign-on.", code="secret_unreadable") from exc


def _enable_problems(session: Session, kind: ProviderKind, config: BaseModel, has_secret: bool) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(config, OidcConfig):
        if not config.issuer:
            problems.append(Problem("issuer", "give the issuer URL"))
        if not config.client_id:
            problems.append(Problem("client_id", "give the client id registered at the provider"))
        if not has_secret:
            problems.append(Problem("client_secret", "give the client secret registered at the provider"))
        if config.require_sso:
            admin = session.scalar(select(User).where(func.lower(User.username) == config.break_glass_admin.lower()))
            if admin is None or admin.auth_source != AuthSource.LOCAL or not has_role(admin, Role.ADMIN):
                problems.append(Problem("break_glass_admin", "name an active local admin who may still log in "
                                                             "with a password when SSO is required"))
    elif isinstance(config, LdapConfig):
        if not config.server_uri:
            problems.append(Problem("server_uri", "give the server as ldap://host or ldaps://host"))
        if not config.bind_dn_template and not config.search_base:
            problems.append(Problem("bind_dn_template", "give a bind DN template or a search base"))
    return problems


def _store_provider(*, session: Session, actor: User, kind: ProviderKind, enabled: bool, config: BaseModel,
                    secret: str | None, secret_key: str) -> set[str]:
    """Store one provider's settings (not committed); the issuers whose cached metadata and keys
    (``oidc.forget``) are to be dropped once committed."""
    row = _row(session, kind)
    has_secret = bool(secret) if secret is not None else bool(row and row.secret_sealed)
    if enabled:
        problems = _enable_problems(session, kind, config, has_secret)
        if problems:
            raise Invalid("To turn this login on, " + "; ".join(f"{p.code.replace('_', ' ')}: {p.message}"
                                                               for p in problems) + ".",
                          details=[p.as_dict() for p in problems], code="sso_incomplete")
    before = None if row is None else {"enabled": row.enabled, **row.config}
    if row is None:
        row = IdentityProvider(kind=kind.value, secret_sealed="")
        session.add(row)
    row.enabled = enabled
    row.config = config.model_dump(mode="json")
    if secret is not None:
        row.secret_sealed = seal(secret_key, SECRET_PURPOSES[kind], secret) if secret else ""
    audit_service.record(session=session, actor=actor, action="sso.update", object_type="identity_provider",
                         object_id=kind.value, summary=f"updated the {kind.value.upper()} login settings",
                         before=before, after={"enabled": enabled, **row.config, "secret_changed": secret is not None})
    if kind is not ProviderKind.OIDC:
        return set()
    return {str((before or {}).get("issuer") or ""), str(row.config.get("issuer") or "")} - {""}


def save_provider(*, session: Session, actor: User, kind: ProviderKind, enabled: bool, config: BaseModel,
                  secret: str | None, secret_key: str) -> ProviderSettings:
    """Store a provider's settings (audited, the secret never). ``secret`` None keeps the stored one, ""
    removes it. Raises Invalid listing every setting a provider needs before it can be turned on (and,
    when SSO is to be required, that the break-glass admin is an active local admin)."""
    stale = _store_provider(session=session, actor=actor, kind=kind, enabled=enabled, config=config, secret=secret,
                            secret_key=secret_key)
    session.commit()
    oidc.forget(stale)  # what this process kept of the provider is read again at the next sign-in
    return provider_settings(session=session, kind=kind)


@dataclass(frozen=True)
class ProviderChange:
    """One provider's new settings, as the API takes them: ``secret`` None keeps the stored one."""

    kind: ProviderKind
    enabled: bool
    config: BaseModel
    secret: str | None


def save_providers(*, session: Session, actor: User, changes: list[ProviderChange], secret_key: str) -> None:
    """Store several providers' settings at once (each audited): all of them, or none when one is refused.
    Raises Invalid as ``save_provider`` does, its message and each detail's ``field`` naming the provider
    (``oidc.issuer``)."""
    if not changes:
        raise Invalid("Give the settings of oidc, ldap or both.", code="sso_nothing_given",
                      details=[{"field": "oidc", "message": "Give the oidc or the ldap settings."}])
    stale: set[str] = set()
    for change in changes:
        try:
            stale |= _store_provider(session=session, actor=actor, kind=change.kind, enabled=change.enabled,
                                     config=change.config, secret=change.secret, secret_key=secret_key)
        except Invalid as exc:
            session.rollback()
            details = [{**detail, "field": f"{change.kind.value}.{detail['code']}"} for detail in exc.details or []]
            raise Invalid(f"{change.kind.value.upper()} login: {exc.message}", code=exc.code,
                          details=details) from exc
    session.commit()
    oidc.forget(stale)


# -- who may use a password --------------------------------------------------------------------------------------

def password_login_refusal(*, session: Session, username: str) -> str | None:
    """Why a password login by ``username`` is refused (SSO is required and they are not the break-glass
    admin), or None when it may go ahead."""
    config = oidc_config(session=session)
    if config is None or not config.require_sso:
        return None
    if config.break_glass_admin and username.strip().lower() == config.break_glass_admin.lower():
        return None
    return (f"Password login is turned off here: use “Sign in with {config.name}”. (Only the break-glass admin "
            "may log in with a password.)")


# -- users from a provider ---------------------------------------------------------------------------------------

def role_for_groups(groups: Collection[str], mapping: dict[str, Role], default: Role) -> Role:
    """The strongest role any of ``groups`` maps to, else ``default``."""
    mapped = [mapping[group] for group in groups if group in mapping]
    return max(mapped, key=lambda role: role.rank) if mapped else default


@dataclass(frozen=True)
class ExternalPerson:
    """What a provider vouched for: who (``issuer`` and ``subject``), a username to start from, groups."""

    source: AuthSource
    issuer: str
    subject: str
    username: str
    groups: tuple[str, ...] = ()
    display_name: str = ""
    email: str = ""


def _free_username(session: Session, wanted: str, subject: str) -> str:
    base = _USERNAME_CHARS.sub("-", wanted).strip("-._")[:56] or "user"
    if not base[0].isalnum():
        base = "u" + base
    candidates = [base] + [f"{base}-{n}" for n in range(2, 10)] + [f"{base}-{secrets.token_hex(3)}"]
    for candidate in candidates:
        if not session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower())):
            return candidate
    return f"{base[:40]}-{secrets.token_hex(6)}"


def _find(session: Session, person: ExternalPerson) -> User | None:
    if person.source is AuthSource.LDAP:
        # The directory's username is the Calcifer username (only users marked ldap, or new ones, get here).
        return session.scalar(select(User).where(func.lower(User.username) == person.username.lower()))
    link = session.scalar(select(ExternalIdentity).where(ExternalIdentity.issuer == person.issuer,
                                                         ExternalIdentity.subject == person.subject))
    return None if link is None else session.get(User, link.user_id)


def sign_in_external(*, session: Session, person: ExternalPerson, mapping: dict[str, Role], default_role: Role,
                     remote_addr: str = "", record_login: bool = True) -> User:
    """The Calcifer user ``person`` is: created on first login, else found; its role set from the groups
    (``mapping``, else ``default_role``) at every login. Raises Invalid when that user is disabled."""
    role = role_for_groups(person.groups, mapping, default_role)
    user = _find(session, person)
    if user is not None and not user.is_active:
        raise Invalid("This account is disabled: ask an admin.", code="account_disabled")
    now = utcnow()
    if user is None:
        user = User(username=_free_username(session, person.username, person.subject),
                    password_hash=UNUSABLE_PASSWORD, role=role.value, auth_source=person.source.value,
                    display_name=person.display_name[:200], email=person.email[:254], is_active=True,
                    last_login_at=now)
        session.add(user)
        try:
            session.flush()
        except IntegrityError as exc:  # the same person's first login twice at once: the other one won
            session.rollback()
            raise Invalid("Signing in failed because of a second sign-in at the same time: try again.") from exc
        if person.source is AuthSource.OIDC:
            session.add(ExternalIdentity(user_id=user.id, issuer=person.issuer, subject=person.subject,
                                         last_login_at=now))
        audit_service.record(session=session, actor=user, action="user.create", object_type="user",
                             object_id=user.id, summary=f"created user {user.username} ({user.role}) at first "
                             f"{person.source.value} login", after=user_snapshot(user), remote_addr=remote_addr)
    else:
        before = user_snapshot(user)
        user.role = role.value
        if person.display_name:
            user.display_name = person.display_name[:200]
        if person.email:
            user.email = person.email[:254]
        user.last_login_at = now
        if person.source is AuthSource.OIDC:
            for link in session.scalars(select(ExternalIdentity).where(ExternalIdentity.user_id == user.id,
                                                                       ExternalIdentity.issuer == person.issuer)):
                link.last_login_at = now
        if before["role"] != user.role:
            audit_service.record(session=session, actor=user, action="user.update", object_type="user",
                                 object_id=user.id, summary=f"role of {user.username} set to {user.role} from "
                                 f"the {person.source.value} groups", before=before, after=user_snapshot(user),
                                 remote_addr=remote_addr)
    if record_login:  # (a password login records its own)
        audit_service.record(session=session, actor=user, action="login", object_type="user", object_id=user.id,
                             summary=f"logged in through {person.source.value}", remote_addr=remote_addr)
    session.commit()
    return user


def directory_login(*, session: Session, secret_key: str, remote_addr: str = "") -> DirectoryLogin | None:
    """The LDAP check ``auth.service.authenticate`` calls for users not local, or None when LDAP login is
    off. A directory user disabled here is refused like a wrong password."""
    config = ldap_config(session=session)
    if config is None:
        return None

    def check(*, username: str, password: str) -> User | None:
        service_password = provider_secret(session=session, kind=ProviderKind.LDAP, secret_key=secret_key)
        found = ldap.check_password(config=config, username=username, password=password,
                                    service_password=service_password)
        if found is None:
            return None
        person = ExternalPerson(source=AuthSource.LDAP, issuer=config.server_uri, subject=found.dn,
                                username=username, groups=found.groups, display_name=found.display_name,
                                email=found.email)
        try:
            return sign_in_external(session=session, person=person, mapping=config.group_roles,
                                    default_role=config.default_role, remote_addr=remote_addr, record_login=False)
        except Invalid:
            session.rollback()
            return None

    return check
