from __future__ import annotations

from enum import StrEnum


class Pref(StrEnum):
    """Run-time switches admins change under Settings; defaults in `DEFAULTS`."""

    STANDARD_CHANGES_ENABLED = "standard_changes_enabled"


DEFAULTS: dict[Pref, object] = {
    Pref.STANDARD_CHANGES_ENABLED: True,
}

DESCRIPTIONS: dict[Pref, str] = {
    Pref.STANDARD_CHANGES_ENABLED: "Allow standard changes: pre-approved, low-risk catalog changes applied in one "
                                   "step (a work item is still created, committed, merged and completed).",
}
