from __future__ import annotations

from enum import StrEnum


class Pref(StrEnum):
    """Run-time switches admins change under Settings; defaults in `DEFAULTS`."""

    STANDARD_CHANGES_ENABLED = "standard_changes_enabled"
    MERGES_NEED_APPROVAL = "merges_need_approval"
    BACKUP_SCHEDULE = "backup_schedule"
    BACKUP_KEEP = "backup_keep"
    COMPOSE_DIRS = "compose_dirs"
    TOTP_REQUIRED_ROLES = "totp_required_roles"


DEFAULTS: dict[Pref, object] = {
    Pref.STANDARD_CHANGES_ENABLED: True,
    Pref.MERGES_NEED_APPROVAL: False,
    Pref.BACKUP_SCHEDULE: "0 3 * * *",
    Pref.BACKUP_KEEP: 14,
    # None: the server's setting (CALCIFER_COMPOSE_DIRS) applies.
    Pref.COMPOSE_DIRS: None,
    # Comma-separated role names; "" : nobody must use two-factor login.
    Pref.TOTP_REQUIRED_ROLES: "",
}

DESCRIPTIONS: dict[Pref, str] = {
    Pref.TOTP_REQUIRED_ROLES: "Roles whose users must log in with a second factor (a TOTP app), comma-separated, "
                              "e.g. admin or admin,editor; empty: nobody must. Such a user is sent to set it up "
                              "right after logging in. Change it under Settings → Users.",
    Pref.STANDARD_CHANGES_ENABLED: "Allow standard changes: pre-approved, low-risk catalog changes applied in one "
                                   "step (a work item is still created, committed, merged and completed).",
    Pref.MERGES_NEED_APPROVAL: "Merges need an approving review: merge-and-complete is refused until an editor "
                               "or admin other than the author approved the branch's latest commit, and while any "
                               "reviewer's latest verdict is \"changes requested\". A new commit (also an update "
                               "from main) dismisses earlier approvals. Standard changes are pre-approved. When "
                               "off, reviews are shown but never block a merge.",
    Pref.BACKUP_SCHEDULE: "When scheduled backups run: a cron expression in UTC (default 0 3 * * *, daily at "
                          "03:00). Change it under Settings → Backups.",
    Pref.BACKUP_KEEP: "How many backup archives the backup folder keeps; older ones are deleted after each "
                      "backup (default 14). Change it under Settings → Backups.",
    Pref.COMPOSE_DIRS: "Folders on this server that compose discovery (Services → Discover from compose) scans "
                       "for Compose files, besides main of the managed repository: one absolute path a line; "
                       "each must exist and be readable by Calcifer. Services found there record the absolute "
                       "path of their compose file. Until set here, the server's CALCIFER_COMPOSE_DIRS applies.",
}
