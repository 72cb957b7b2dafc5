"""Typed records of what happened, handed from the slice that did it to the slices that follow it.

A slice that reacts to another's change (search after the catalog, notifications after monitoring)
receives one of these as an argument and imports nothing else from the emitting slice: this module
depends only on vocabularies (``StrEnum`` choices), so every slice may import it without a cycle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from calcifer.monitoring.choices import Status

# Re-exported so a subscriber names an endpoint's status without importing monitoring.
EndpointStatus = Status


@dataclass(frozen=True, slots=True)
class CatalogChanged:
    """Which catalog index rows one sync rewrote or removed, from one synced commit to the next."""

    from_commit: str | None
    to_commit: str
    services: frozenset[str]
    endpoints: frozenset[str]
    # Of ``services``/``endpoints``: the slugs new at ``to_commit`` and those gone from it (the rest
    # changed). Filled by the incremental sync only; a full rebuild leaves them empty.
    added_services: frozenset[str] = frozenset()
    removed_services: frozenset[str] = frozenset()
    added_endpoints: frozenset[str] = frozenset()
    removed_endpoints: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class MainMoved:
    """Main moved from ``before`` to ``after``: what the after-merge steps receive, one after the other.

    ``paths`` maps every path that differs to its blob id at ``after`` (None: deleted); ``paths`` is None
    when the difference is not known (at start, or ``before`` is gone): a step then compares everything.
    A step that learns more returns a copy with it filled in (the catalog sync sets ``catalog``), and the
    next step receives that copy.
    """

    before: str | None
    after: str
    paths: Mapping[str, str | None] | None
    catalog: CatalogChanged | None = None

    def touches(self, prefix: str) -> bool:
        """True when a changed path lies under ``prefix`` (or the change is not known)."""
        return self.paths is None or any(path.startswith(prefix) for path in self.paths)


@dataclass(frozen=True, slots=True)
class EndpointStatusChanged:
    """An endpoint's status changed (written by monitoring's result writer, in its transaction)."""

    endpoint_id: int
    slug: str
    service: str | None
    old: Status
    new: Status
    at: dt.datetime
    message: str = ""
    in_maintenance: bool = False
    cert_days_left: float | None = None


@dataclass(frozen=True, slots=True)
class IncidentChanged:
    """An incident opened (``resolved`` False) or was resolved, in the transaction that recorded it."""

    incident_id: int
    endpoint: str
    service: str | None
    resolved: bool
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    message: str = ""
    in_maintenance: bool = False


@dataclass(frozen=True, slots=True)
class BackupFinished:
    """A recorded backup run ended (``ok`` False: it failed, ``error`` says why)."""

    run_id: int
    ok: bool
    trigger: str
    at: dt.datetime
    file_name: str | None = None
    size_bytes: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class ProbeStatusChanged:
    """A remote probe went offline (not heard from for the configured time) or came back online."""

    name: str
    location: str
    online: bool
    at: dt.datetime
    last_seen_at: dt.datetime | None = None
    message: str = ""
