from __future__ import annotations

import datetime as dt
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from calcifer.auth.choices import Role

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _check_username(value: str) -> str:
    value = value.strip()
    if not USERNAME_RE.match(value):
        raise ValueError("use 1-64 letters, digits, dots, dashes or underscores, starting with a letter "
                         "or digit")
    return value


def _check_password(value: str) -> str:
    if len(value) < 8:
        raise ValueError("use at least 8 characters")
    if len(value) > 1024:
        raise ValueError("use at most 1024 characters")
    return value


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str
    password: str
    role: Role = Role.VIEWER
    display_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)

    _username = field_validator("username")(_check_username)
    _password = field_validator("password")(_check_password)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    display_name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    is_active: bool | None = None
    password: str | None = None

    @field_validator("password")
    @classmethod
    def _password_ok(cls, value: str | None) -> str | None:
        return None if value is None else _check_password(value)


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    email: str
    role: Role
    is_active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    username: str | None = Field(default=None, description="Admins may create tokens for others.")
    scopes: list[str] | None = Field(default=None, description="Any of read, write, admin (each includes those "
                                     "before it); default: all the owner's role allows.")
    expires_at: dt.datetime | None = Field(default=None, description="When the token stops working (ISO 8601; "
                                           "UTC unless it says otherwise); default never.")


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    username: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    scopes: list[str] = Field(description="read, write, admin: what the token may do, within its user's role.")
    expires_at: dt.datetime | None = Field(description="When the token stops working; null: never.")


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")


class UserListPublic(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class TokenListPublic(BaseModel):
    items: list[TokenPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class SessionPublic(BaseModel):
    """A browser session (never its cookie)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: dt.datetime
    expires_at: dt.datetime
    last_seen_at: dt.datetime | None
    remote_addr: str
    user_agent: str
    current: bool = Field(default=False, description="The session this request came with.")


class SessionListPublic(BaseModel):
    items: list[SessionPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class SessionsEnded(BaseModel):
    ended: int = Field(description="How many sessions ended.")
    tokens_revoked: int = Field(default=0, description="How many API tokens were revoked with them.")


# -- single sign-on settings (admin, Settings → Single sign-on) ----------------------------------------------

def parse_group_roles(text: str) -> dict[str, Role]:
    """``group = role`` lines (blank lines and ``#`` comments skipped) as a mapping; raises ValueError naming
    each line that does not read."""
    mapping: dict[str, Role] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, role = line.rpartition("=")
        group, role = group.strip(), role.strip().lower()
        if not sep or not group or role not in {r.value for r in Role}:
            problems.append(f"line {number} ({line[:60]!r}): write group = viewer, editor or admin")
            continue
        mapping[group[:200]] = Role(role)
    if problems:
        raise ValueError("; ".join(problems))
    if len(mapping) > MAX_GROUPS:
        raise ValueError(f"map at most {MAX_GROUPS} groups")
    return mapping


MAX_GROUPS = 200


def _check_group_roles(value: dict[str, Role]) -> dict[str, Role]:
    if len(value) > MAX_GROUPS:
        raise ValueError(f"map at most {MAX_GROUPS} groups")
    if any(not group.strip() or len(group) > 200 for group in value):
        raise ValueError("each group is named by 1-200 characters")
    return value


def group_roles_text(mapping: dict[str, str]) -> str:
    return "\n".join(f"{group} = {role}" for group, role in mapping.items())


class OidcConfig(BaseModel):
    """OpenID Connect login: the provider, this client at it, and how its users become Calcifer users."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="single sign-on", min_length=1, max_length=60)  # "Sign in with <name>"
    issuer: str = Field(default="", max_length=500)
    client_id: str = Field(default="", max_length=200)
    scopes: str = Field(default="openid profile email groups", max_length=300)
    groups_claim: str = Field(default="groups", max_length=100)
    group_roles: dict[str, Role] = Field(default_factory=dict)
    default_role: Role = Role.VIEWER
    # Everyone must sign in through the provider but this one local admin (when the provider is down).
    require_sso: bool = False
    break_glass_admin: str = Field(default="", max_length=64)

    _group_roles = field_validator("group_roles")(_check_group_roles)

    @field_validator("issuer")
    @classmethod
    def _issuer_ok(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError("give the issuer URL, e.g. https://id.example.org/realms/main (http or https, "
                             "no query)")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes_ok(cls, value: str) -> str:
        scopes = value.split()
        if "openid" not in scopes:
            scopes.insert(0, "openid")
        if any(not re.match(r"^[\x21\x23-\x5b\x5d-\x7e]+$", scope) for scope in scopes):
            raise ValueError("scopes are words separated by spaces (no quotes or backslashes)")
        return " ".join(scopes)


class LdapConfig(BaseModel):
    """LDAP bind login: how a username becomes a DN to bind as, and which groups give which role.

    Either ``bind_dn_template`` (``uid={username},ou=people,dc=example,dc=org``: a direct bind) or
    ``search_base`` (the user is searched for with ``user_filter``, as the service account when one is
    given, then bound as).
    """

    model_config = ConfigDict(extra="forbid")

    server_uri: str = Field(default="", max_length=300)
    start_tls: bool = False
    bind_dn_template: str = Field(default="", max_length=300)
    search_base: str = Field(default="", max_length=300)
    user_filter: str = Field(default="(uid={username})", max_length=300)
    service_bind_dn: str = Field(default="", max_length=300)
    group_base: str = Field(default="", max_length=300)
    group_filter: str = Field(default="(|(member={dn})(uniqueMember={dn})(memberUid={username}))", max_length=300)
    group_roles: dict[str, Role] = Field(default_factory=dict)
    default_role: Role = Role.VIEWER

    _group_roles = field_validator("group_roles")(_check_group_roles)

    @field_validator("server_uri")
    @classmethod
    def _uri_ok(cls, value: str) -> str:
        value = value.strip()
        if value and not re.match(r"^ldaps?://[^\s/?#]+/?$", value):
            raise ValueError("give the server as ldap://host[:port] or ldaps://host[:port]")
        return value

    @field_validator("bind_dn_template")
    @classmethod
    def _template_ok(cls, value: str) -> str:
        value = value.strip()
        if value and value.count("{username}") != 1:
            raise ValueError("the bind DN template names {username} once, e.g. "
                             "uid={username},ou=people,dc=example,dc=org")
        return value

    @field_validator("user_filter")
    @classmethod
    def _filter_ok(cls, value: str) -> str:
        value = value.strip() or "(uid={username})"
        if "{username}" not in value or not (value.startswith("(") and value.endswith(")")):
            raise ValueError("the user filter is an LDAP filter in parentheses naming {username}, "
                             "e.g. (uid={username})")
        return value


# -- single sign-on settings (JSON API) ------------------------------------------------------------------------

class OidcSettingsIn(OidcConfig):
    """The OpenID Connect login's settings, all of them (a field left out takes its default)."""

    enabled: bool = Field(default=False, description="Turn the login on (refused until issuer, client id and "
                                                     "client secret are set).")
    client_secret: str | None = Field(default=None, max_length=2000, description="Write-only. Left out or null: "
                                      "the stored secret is kept; \"\": removed.")

    def config(self) -> OidcConfig:
        return OidcConfig.model_validate(self.model_dump(exclude={"enabled", "client_secret"}))


class LdapSettingsIn(LdapConfig):
    """The LDAP login's settings, all of them (a field left out takes its default)."""

    enabled: bool = Field(default=False, description="Turn the login on (refused until the server and a bind DN "
                                                     "template or a search base are set).")
    service_bind_password: str | None = Field(default=None, max_length=2000, description="Write-only. Left out "
                                              "or null: the stored password is kept; \"\": removed.")

    def config(self) -> LdapConfig:
        return LdapConfig.model_validate(self.model_dump(exclude={"enabled", "service_bind_password"}))


class SsoSettingsUpdate(BaseModel):
    """Either login's settings or both; a login left out is left as it is."""

    model_config = ConfigDict(extra="forbid")

    oidc: OidcSettingsIn | None = None
    ldap: LdapSettingsIn | None = None


class OidcSettingsPublic(OidcConfig):
    model_config = ConfigDict(extra="ignore")

    enabled: bool
    client_secret_set: bool = Field(description="Whether a client secret is stored (it is never shown).")


class LdapSettingsPublic(LdapConfig):
    model_config = ConfigDict(extra="ignore")

    enabled: bool
    service_bind_password_set: bool = Field(description="Whether a service bind password is stored (it is "
                                                        "never shown).")


class SsoSettingsPublic(BaseModel):
    oidc: OidcSettingsPublic
    ldap: LdapSettingsPublic
    redirect_uri: str = Field(description="The callback URL to register at the OpenID provider.")
