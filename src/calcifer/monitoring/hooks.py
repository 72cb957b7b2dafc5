"""Where other parts of Calcifer plug into monitoring (one registry per extension point).

- ``STATUS_CHANGE_HOOKS``: called by the result writer, in the transaction that records the changes
  (incidents open/close, notifications are queued). A hook must be quick: no network.
- ``MAINTENANCE_PROVIDERS``: which endpoint slugs are in maintenance at a moment; results are flagged
  and alerts held for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from calcifer.monitoring.choices import Status


@dataclass(frozen=True, slots=True)
class StatusChange:
    endpoint_id: int
    slug: str
    service: str | None
    old: Status
    new: Status
    at: dt.datetime
    message: str = ""
    in_maintenance: bool = False
    cert_days_left: float | None = None


StatusChangeHook = Callable[[Session, list[StatusChange]], None]
MaintenanceProvider = Callable[[Session, dt.datetime], set[str]]

STATUS_CHANGE_HOOKS: list[StatusChangeHook] = []
MAINTENANCE_PROVIDERS: list[MaintenanceProvider] = []


def on_status_change(hook: StatusChangeHook) -> StatusChangeHook:
    STATUS_CHANGE_HOOKS.append(hook)
    return hook


def maintenance_provider(provider: MaintenanceProvider) -> MaintenanceProvider:
    MAINTENANCE_PROVIDERS.append(provider)
    return provider


def status_changed(*, session: Session, changes: list[StatusChange]) -> None:
    if changes:
        for hook in STATUS_CHANGE_HOOKS:
            hook(session, changes)


def endpoints_in_maintenance(*, session: Session, now: dt.datetime) -> set[str]:
    slugs: set[str] = set()
    for provider in MAINTENANCE_PROVIDERS:
        slugs |= provider(session, now)
    return slugs


def load_builtin() -> None:
    """Import the modules that register the built-in hooks (the web app imports them via its routes;
    ``calcifer worker`` calls this)."""
    import calcifer.monitoring.incidents  # noqa: F401
    import calcifer.monitoring.maintenance  # noqa: F401
    import calcifer.notify.service  # noqa: F401
