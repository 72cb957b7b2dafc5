"""Installed plugins and their toggles (Settings → Integrations).

Switching a plugin off takes effect at once in this process (``registry.DISABLED``) and within a few
seconds in the others (the plugin event consumer re-reads the toggles every round): its check types are
refused (catalog files that use them get a problem naming the plugin, in the merge check and, after
the re-index this triggers, in the catalog index), and its channel types, panels, CLI commands and
event subscribers stop running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from calcifer.audit import service as audit_service
from calcifer.auth.models import User
from calcifer.catalog import index_sync
from calcifer.errors import Invalid, NotFound
from calcifer.plugins import registry
from calcifer.plugins.models import PluginState


def disabled_names(*, session: Session) -> set[str]:
    return set(session.scalars(select(PluginState.name).where(PluginState.enabled.is_(False))))


def refresh(*, session: Session) -> None:
    """Make this process's view of the toggles (``registry.DISABLED``) the database's."""
    names = disabled_names(session=session)
    registry.DISABLED.clear()
    registry.DISABLED.update(names)


def refresh_from(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        refresh(session=session)


def public(info: registry.PluginInfo, *, disabled: set[str]) -> dict[str, Any]:
    return {"name": info.name, "version": info.version, "builtin": info.builtin,
            "enabled": info.builtin or info.name not in disabled, "provides": list(info.provides),
            "errors": list(info.errors)}


def list_plugins(*, session: Session) -> list[dict[str, Any]]:
    """Every installed plugin (the built-ins first), with what it provides and whether it is enabled."""
    disabled = disabled_names(session=session)
    ordered = sorted(registry.INSTALLED, key=lambda i: (not i.builtin, i.name.lower()))
    return [public(info, disabled=disabled) for info in ordered]


def _installed(name: str) -> registry.PluginInfo:
    for info in registry.INSTALLED:
        if info.name == name:
            return info
    raise NotFound(f"No plugin named {name[:200]!r} is installed; GET /api/v1/plugins lists them.")


def set_enabled(*, session: Session, actor: User, name: str, enabled: bool, repo_path: Path) -> dict[str, Any]:
    """Switch an installed plugin on or off; re-indexes the catalog so files using its check types show
    (or lose) their problem. Raises NotFound (not installed) or Invalid (Calcifer's own built-ins)."""
    info = _installed(name)
    if info.builtin:
        raise Invalid("Calcifer's built-in check and channel types cannot be switched off.",
                      details=[{"field": "name", "message": "built-in"}])
    state = session.get(PluginState, name)
    before = state.enabled if state is not None else True
    if state is None:
        state = PluginState(name=name)
        session.add(state)
    state.enabled = enabled
    state.updated_by_name = actor.username
    audit_service.record(session=session, actor=actor, action="plugin.enable" if enabled else "plugin.disable",
                         object_type="plugin", object_id=name, before={"enabled": before},
                         after={"enabled": enabled})
    session.commit()
    refresh(session=session)
    index_sync.sync_from_git(session=session, repo_path=repo_path, force=True)
    return public(info, disabled=registry.DISABLED)
