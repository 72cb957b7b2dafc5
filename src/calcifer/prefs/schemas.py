"""Shapes of the preferences' JSON API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PreferencesPublic(BaseModel):
    """Every run-time switch and its value (the default until an admin changed it)."""

    standard_changes_enabled: bool
    merges_need_approval: bool
    backup_schedule: str = Field(description="A cron expression in UTC.")
    backup_keep: int
    totp_required_roles: str = Field(default="", description="Roles that must use two-factor login, "
                                     "comma-separated (e.g. admin,editor); empty: none.")


class PreferenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: bool | int | str | list[str] | None = Field(
        description="true or false for switches; text or a whole number for the backup schedule and retention; "
                    "for compose_dirs a list of folder paths (or text with one a line), null for the server's "
                    "CALCIFER_COMPOSE_DIRS.")


class PreferenceSaved(BaseModel):
    """The one preference just set, under its name (the others are left out)."""

    standard_changes_enabled: bool | None = None
    merges_need_approval: bool | None = None
    backup_schedule: str | None = None
    backup_keep: int | None = None
    totp_required_roles: str | None = None
    compose_dirs: list[str] | None = Field(default=None, description="The folders now set (null: the server's "
                                                                     "CALCIFER_COMPOSE_DIRS applies).")
