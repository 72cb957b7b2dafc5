"""Shapes of the pull-request API: the forge's settings (the token goes in, never out) and a work item's
pull request."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from calcifer.pulls.choices import ForgeKind, PullState

API_URL_MAX = 1000
REPOSITORY_MAX = 300
TOKEN_MAX = 4000


class ForgeUpdate(BaseModel):
    """Where Calcifer opens pull requests (the remote under Settings → Repository is where it pushes)."""

    model_config = ConfigDict(extra="forbid")

    kind: ForgeKind = Field(description="github, gitlab, or gitea (also for Forgejo).")
    api_url: str = Field(max_length=API_URL_MAX, description="The forge's API root: https://api.github.com, "
                         "https://gitlab.example.org/api/v4, https://gitea.example.org/api/v1.")
    repository: str = Field(max_length=REPOSITORY_MAX, description="owner/name (GitHub, Gitea); GitLab: the "
                            "project's path (group/sub/name) or its numeric id.")
    token: str | None = Field(default=None, max_length=TOKEN_MAX, description="API token that may open pull "
                              "requests and comment; omit to keep the stored one. Checked before it is saved.")


class ForgePublic(BaseModel):
    kind: ForgeKind
    api_url: str
    repository: str
    has_token: bool


class PullRequestPublic(BaseModel):
    work_item_id: int
    number: int = Field(description="GitHub/Gitea number, GitLab iid.")
    url: str = Field(description="The pull request's page on the forge.")
    state: PullState
    branch: str
    head_commit: str = Field(description="The branch tip as last pushed.")
    merge_commit: str | None = Field(description="The forge's merge commit, once merged.")
    opened_at: dt.datetime
    checked_at: dt.datetime | None = Field(description="When the forge was last asked for its state.")
    last_error: str | None = Field(description="The forge's message when it was last unreachable or refused.")
