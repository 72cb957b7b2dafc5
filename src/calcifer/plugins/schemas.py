"""The plugin API's shapes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PluginPublic(BaseModel):
    name: str
    version: str
    builtin: bool
    enabled: bool
    provides: list[str]
    errors: list[str]


class PluginListPublic(BaseModel):
    items: list[PluginPublic]


class PluginUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
