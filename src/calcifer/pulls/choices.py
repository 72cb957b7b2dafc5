"""Closed lists of the pull-request slice."""

from __future__ import annotations

from enum import StrEnum


class ForgeKind(StrEnum):
    GITHUB = "github"  # GitHub and GitHub Enterprise (REST v3)
    GITLAB = "gitlab"  # GitLab merge requests (API v4)
    GITEA = "gitea"    # Gitea and Forgejo (API v1)


class PullState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"  # closed on the forge without a merge
