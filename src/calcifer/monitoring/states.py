"""Endpoint state rows outside the writer's batches (created for new endpoints, paused, push
heartbeats) and the scheduler's status row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from calcifer.monitoring import hooks
from calcifer.monitoring.choices import EventKind, Status
from calcifer.monitoring.models.checks import (
    MonitorEvent,
    MonitorState,
    PushHeartbeat,
    SchedulerStatus,
)
from calcifer.monitoring.store import CHUNK, STATUS_ROW_ID, _call_hooks, _dialect_insert, _table


@dataclass(slots=True)
class StatusSnapshot:
    """The running scheduler's figures, written to the ``monitor_scheduler`` row every few seconds."""

    holder: str
    started_at: dt.datetime
    endpoints: int = 0
    checks_total: int = 0
    lag_p50_ms: float = 0.0
    lag_p99_ms: float = 0.0
    queue: int = 0
    in_flight: int = 0


# -- states -------------------------------------------------------------------------------------------


def ensure_states(session: Session, slugs: Iterable[str]) -> dict[str, int]:
    """The ``MonitorState`` id of every slug, creating rows (status unknown) for new ones. Committed."""
    wanted = set(slugs)
    table = _table(MonitorState)
    ids = {slug: eid for eid, slug in session.execute(select(table.c.id, table.c.slug))
           if slug in wanted}
    missing = sorted(wanted - set(ids))
    if missing:
        now = dt.datetime.now(dt.UTC)
        stmt = _dialect_insert(session, table).on_conflict_do_nothing(index_elements=[table.c.slug])
        session.execute(stmt, [{"slug": slug, "status": Status.UNKNOWN.value, "message": "",
                                "consecutive_failures": 0, "paused": False, "in_maintenance": False,
                                "updated_at": now} for slug in missing])
        for start in range(0, len(missing), CHUNK):
            for eid, slug in session.execute(select(table.c.id, table.c.slug).where(
                    table.c.slug.in_(missing[start:start + CHUNK]))):
                ids[slug] = eid
    session.commit()
    return ids


def last_checked(session: Session) -> dict[int, dt.datetime]:
    """endpoint id → its last check (a restarted scheduler catches up from there)."""
    table = _table(MonitorState)
    return {eid: at for eid, at in session.execute(select(table.c.id, table.c.last_checked_at).where(
        table.c.last_checked_at.is_not(None)))}


def paused_ids(session: Session) -> set[int]:
    table = _table(MonitorState)
    return set(session.execute(select(table.c.id).where(table.c.paused.is_(True))).scalars())


def sync_paused(session: Session, *, stopped: dict[int, tuple[str, str | None]],
                running: dict[int, tuple[str, str | None]]) -> list[hooks.StatusChange]:
    """Show endpoints that are not checked (disabled in the catalog, paused by hand) as paused, and ones
    checked again as unknown until their first result; events and hooks like any change. Committed."""
    table = _table(MonitorState)
    changes: list[hooks.StatusChange] = []
    now = dt.datetime.now(dt.UTC)
    wanted = {**{eid: (Status.PAUSED, info) for eid, info in stopped.items()}}
    ids = sorted(set(stopped) | set(running))
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(select(table.c.id, table.c.status).where(table.c.id.in_(ids[start:start + CHUNK])))
        for eid, status in rows:
            if eid in stopped and status != Status.PAUSED.value:
                wanted[eid] = (Status.PAUSED, stopped[eid])
            elif eid in running and status == Status.PAUSED.value:
                wanted[eid] = (Status.UNKNOWN, running[eid])
            else:
                wanted.pop(eid, None)
                continue
            new, (slug, service) = wanted[eid]
            changes.append(hooks.StatusChange(endpoint_id=eid, slug=slug, service=service, old=Status(status),
                                              new=new, at=now))
    if changes:
        session.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            status=bindparam("b_status"), status_since=bindparam("b_now"), consecutive_failures=0,
            updated_at=bindparam("b_now")),
            [{"b_id": c.endpoint_id, "b_status": c.new.value, "b_now": now} for c in changes])
        session.execute(insert(_table(MonitorEvent)), [{
            "endpoint_id": c.endpoint_id, "at": now, "kind": EventKind.STATUS_CHANGE.value,
            "old_status": c.old.value, "new_status": c.new.value, "message": "", "in_maintenance": False}
            for c in changes])
        _call_hooks(session, changes)
    session.commit()
    return changes


def push_heartbeats(session: Session, slugs: Iterable[str] | None = None) -> dict[str, tuple[dt.datetime, str, str]]:
    """slug → (last push, reported status, message) of push endpoints."""
    query = select(PushHeartbeat.slug, PushHeartbeat.last_push_at, PushHeartbeat.reported_status,
                   PushHeartbeat.message)
    if slugs is not None:
        query = query.where(PushHeartbeat.slug.in_(list(slugs)))
    return {row[0]: (row[1], row[2], row[3]) for row in session.execute(query)}


# -- scheduler status ---------------------------------------------------------------------------------


def write_status(session: Session, snapshot: StatusSnapshot, *, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    values = {"holder": snapshot.holder[:200], "started_at": snapshot.started_at, "heartbeat_at": now,
              "endpoints": snapshot.endpoints, "checks_total": snapshot.checks_total,
              "lag_p50_ms": snapshot.lag_p50_ms, "lag_p99_ms": snapshot.lag_p99_ms, "queue": snapshot.queue,
              "in_flight": snapshot.in_flight}
    table = _table(SchedulerStatus)
    stmt = _dialect_insert(session, table).values(id=STATUS_ROW_ID, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=[table.c.id], set_=values))


def scheduler_status(*, session: Session) -> SchedulerStatus | None:
    """The row the running scheduler refreshes every few seconds (None before any scheduler ran).

    A ``heartbeat_at`` older than ~30 s means no scheduler is running now.
    """
    return session.get(SchedulerStatus, STATUS_ROW_ID)
