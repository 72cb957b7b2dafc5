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
