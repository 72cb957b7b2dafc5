"""Where other parts of Calcifer plug into monitoring (one list per extension point, filled by
``calcifer.wiring``; empty until it runs).

- ``STATUS_CHANGE_HOOKS``: called by the result writer, in the transaction that records the changes
  (incidents open/close, notifications are queued). A hook must be quick: no network.
- ``INCIDENT_HOOKS``: called when incidents opened or were resolved, in the same transaction (the
  domain-event outbox). Adds rows only: no commit, no network.
- ``PROBE_HOOKS``: called when a remote probe went offline or came back, in the transaction that
  records it (the domain-event outbox). Adds rows only: no commit, no network.
- ``MAINTENANCE_PROVIDERS``: which endpoint slugs are in maintenance at a moment; results are flagged
  and alerts held for them.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy.orm import Session

from calcifer.events import EndpointStatusChanged, IncidentChanged, ProbeStatusChanged

# The record a status-change hook receives (the typed event of ``calcifer.events``).
StatusChange = EndpointStatusChanged


class StatusChangeHook(Protocol):
    def __call__(self, *, session: Session, changes: list[EndpointStatusChanged]) -> None: ...


class IncidentHook(Protocol):
    def __call__(self, *, session: Session, changes: list[IncidentChanged]) -> None: ...


class ProbeHook(Protocol):
    def __call__(self, *, session: Session, changes: list[ProbeStatusChanged]) -> None: ...


class MaintenanceProvider(Protocol):
    def __call__(self, *, session: Session, now: dt.datetime) -> set[str]: ...


STATUS_CHANGE_HOOKS: list[StatusChangeHook] = []
MAINTENANCE_PROVIDERS: list[MaintenanceProvider] = []
INCIDENT_HOOKS: list[IncidentHook] = []
PROBE_HOOKS: list[ProbeHook] = []


def status_changed(*, session: Session, changes: list[EndpointStatusChanged]) -> None:
    if changes:
        for hook in STATUS_CHANGE_HOOKS:
            hook(session=session, changes=changes)


def incidents_changed(*, session: Session, changes: list[IncidentChanged]) -> None:
    if changes:
        for hook in INCIDENT_HOOKS:
            hook(session=session, changes=changes)


def probes_changed(*, session: Session, changes: list[ProbeStatusChanged]) -> None:
    if changes:
        for hook in PROBE_HOOKS:
            hook(session=session, changes=changes)


def endpoints_in_maintenance(*, session: Session, now: dt.datetime) -> set[str]:
    slugs: set[str] = set()
    for provider in MAINTENANCE_PROVIDERS:
        slugs |= provider(session=session, now=now)
    return slugs
