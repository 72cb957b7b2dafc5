"""The remote's settings and sync state (one row), and the outside changes found on its main."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from calcifer.db import Base, UTCDateTime, utcnow


class RemoteConfig(Base):
    """The managed repository's one remote. Secrets are sealed (``calcifer.sealed``), never shown back."""

    __tablename__ = "remote_config"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    url: Mapped[str] = mapped_column(String(1000))
    auth_kind: Mapped[str] = mapped_column(String(16), default="none")  # choices.AuthKind
    username: Mapped[str] = mapped_column(String(200), default="")
    secret_sealed: Mapped[str] = mapped_column(Text, default="")      # token or SSH private key
    public_key: Mapped[str] = mapped_column(Text, default="")
    # the SSH server's host key trusted ("ssh-ed25519 AAAA..."); "" until the first SSH connection
    ssh_host_key: Mapped[str] = mapped_column(Text, default="", server_default="")
    push_scope: Mapped[str] = mapped_column(String(16), default="main")  # choices.PushScope
    webhook_secret_sealed: Mapped[str] = mapped_column(Text, default="")
    last_push_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_push_commit: Mapped[str] = mapped_column(String(64), default="")
    last_push_error: Mapped[str] = mapped_column(Text, default="")
    push_failures: Mapped[int] = mapped_column(Integer, default=0)
    next_push_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_fetch_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_fetch_outcome: Mapped[str] = mapped_column(String(16), default="")  # choices.FetchOutcome
    last_fetch_error: Mapped[str] = mapped_column(Text, default="")
    last_fetch_files: Mapped[str] = mapped_column(Text, default="")  # conflicting/refused paths, one a line
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OutsideChange(Base):
    """A commit that reached main from the remote, not made by Calcifer; adopted into a work item later."""

    __tablename__ = "remote_outside_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha: Mapped[str] = mapped_column(String(64), unique=True)
    summary: Mapped[str] = mapped_column(String(500), default="")
    author_name: Mapped[str] = mapped_column(String(200), default="")
    author_email: Mapped[str] = mapped_column(String(320), default="")
    committed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    main_commit: Mapped[str] = mapped_column(String(64), default="")  # main after integrating it
    work_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    adopted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
