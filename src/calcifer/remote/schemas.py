"""Shapes of the remote API: the settings an admin sends, the state shown back (never a secret)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from calcifer.remote.choices import AuthKind, FetchOutcome, PushScope
from calcifer.work.schemas import WorkItemCreate

URL_MAX = 1000
USERNAME_MAX = 200
TOKEN_MAX = 4000
WEBHOOK_SECRET_MAX = 200
HOST_KEY_MAX = 4000


class RemoteUpdate(BaseModel):
    """Connect (or reconnect) the managed repository to its remote."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=URL_MAX, description="https://, ssh://, git://, file:// or user@host:path.")
    auth: AuthKind = Field(default=AuthKind.NONE, description="none, token (HTTPS) or ssh (a key Calcifer "
                           "generates; its public half is in the answer).")
    username: str = Field(default="", max_length=USERNAME_MAX, description="HTTPS user (optional with a token).")
    token: str | None = Field(default=None, max_length=TOKEN_MAX, description="HTTPS token or password; "
                              "omit to keep the stored one.")
    new_ssh_key: bool = Field(default=False, description="Generate a new SSH key even if one exists.")
    push_scope: PushScope = Field(default=PushScope.MAIN, description="main, or main_and_work (also the "
                                  "branches of open work items).")
    ssh_host_key: str | None = Field(default=None, max_length=HOST_KEY_MAX,
                                     description="The SSH server's host key to trust (a line of `ssh-keyscan` "
                                     "or the key the forge publishes); omit to keep the trusted one, empty to "
                                     "read it from the server again. Without one, the key the server shows at "
                                     "the first connection is trusted.")
    webhook_secret: str | None = Field(default=None, max_length=WEBHOOK_SECRET_MAX,
                                       description="Shared secret the forge signs webhook calls with; omit "
                                       "to keep the stored one, empty to remove it.")


class RemotePublic(BaseModel):
    url: str
    auth: AuthKind
    username: str
    has_token: bool
    public_key: str | None = Field(description="Add this key to the forge (deploy key with write access).")
    ssh_host_key: str | None = Field(description="The SSH server's host key Calcifer trusts; a connection "
                                     "showing another key is refused.")
    ssh_host_key_fingerprint: str | None = Field(description="Its SHA256 fingerprint, as `ssh` prints it: "
                                                 "compare it with the one your forge publishes.")
    push_scope: PushScope
    has_webhook_secret: bool
    last_push_at: dt.datetime | None
    last_push_commit: str | None
    last_push_error: str | None = Field(description="The remote's message when the last push failed.")
    next_push_at: dt.datetime | None
    unpushed_commits: int | None = Field(description="Commits on main the remote lacks (None: never synced).")
    last_fetch_at: dt.datetime | None
    last_fetch_outcome: FetchOutcome | None
    last_fetch_error: str | None
    last_fetch_files: list[str] = Field(description="Files in conflict, or refused content, of the last fetch.")


class FetchReportPublic(BaseModel):
    outcome: FetchOutcome
    message: str
    main: str = Field(description="main's commit after the fetch.")
    outside_changes: list[str] = Field(description="Commits recorded as outside changes by this fetch.")
    files: list[str] = Field(description="Files in conflict, or content refused.")


class PushReportPublic(BaseModel):
    pushed: str | None = Field(description="main's commit as pushed (None: the push failed).")
    error: str | None


class OutsideChangePublic(BaseModel):
    sha: str
    summary: str
    author_name: str
    author_email: str
    committed_at: dt.datetime
    found_at: dt.datetime
    main_commit: str
    work_item_id: int | None
    adopted_at: dt.datetime | None


class OutsideChangeList(BaseModel):
    items: list[OutsideChangePublic]
    next_cursor: str | None


class AdoptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_text: str | None = Field(default=None, max_length=500, description="The changelog entry (default: "
                                   "the commit's summary).")
    notes: str | None = Field(default=None, max_length=20_000, description="The work item's notes (default: "
                              "what the commit is and who made it).")


class BranchWorkItemCreate(WorkItemCreate):
    """A work item whose branch is a branch someone pushed to the remote."""

    branch: str = Field(max_length=200, description="The remote's branch name, e.g. laptop/fix-dns.")


class BranchWorkItemPublic(BaseModel):
    work_item_id: int
    branch: str = Field(description="The work item's own branch, now at the remote branch's tip.")


class WebhookAnswer(BaseModel):
    outcome: FetchOutcome
    message: str
