"""Locations: where an endpoint is checked from, what each location saw, and the verdict of them all.

An endpoint file names ``locations: [local, fra-vps]`` (default ``[local]``: the server's own
scheduler). An endpoint checked only by ``local`` is recorded as before (``monitor_states``,
``monitor_results``, ``monitor_hourly``). Any other endpoint has a row per location in
``monitor_location_states`` (status by the same rules as a single location: ``store.next_status``),
its raw results in ``monitor_location_results`` and hourly counts in ``monitor_location_hourly``; its
``monitor_states`` row holds the **verdict** of the locations:

- a location counts when it reported within ``REPORT_INTERVALS`` intervals and, for a probe's location,
  some probe of it is online: an offline location never counts as down;
- ``half`` (default): down when at least half of the counting locations see it down; ``any``: one is
  enough; ``all``: every one; ``majority``: more than half;
- not down: degraded when a counting location sees it degraded or down, up otherwise; no counting
  location: the status is left as it was (an endpoint is never declared down for lack of news).

The verdict moves ``monitor_states`` with an event and the status-change hooks (incidents,
notifications), whose message names which locations saw what.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from calcifer.catalog.models import CatalogEndpoint, CatalogState
from calcifer.monitoring import hooks, states, store
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models.checks import MonitorEvent, MonitorState
from calcifer.monitoring.models.probes import (
    LocationHourly,
    LocationResult,
    LocationState,
    MonitorProbe,
)

log = logging.getLogger("calcifer.monitoring")

LOCAL = "local"
DEFAULT_LOCATIONS: tuple[str, ...] = (LOCAL,)
RULES = ("half", "any", "all", "majority")
# A location whose newest result is older than this many intervals does not count in the verdict.
REPORT_INTERVALS = 2
HOUR = 3600
CHUNK = 900
MESSAGE_MAX = 300
STATE_MESSAGE_MAX = 500


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def locations_of(spec: Any) -> tuple[str, ...]:
    """The locations an indexed endpoint's spec names (``[local]`` when it names none)."""
    if isinstance(spec, dict):
        value = spec.get("locations")
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return tuple(value)
    return DEFAULT_LOCATIONS


def rule_of(spec: Any) -> str:
    value = spec.get("verdict") if isinstance(spec, dict) else None
    return value if value in RULES else "half"


def checked_locally(spec: Any) -> bool:
    """The server's own scheduler runs this endpoint (its locations include ``local``)."""
    return LOCAL in locations_of(spec)


def multi_location(spec: Any) -> bool:
    """Its results are kept per location and its status is a verdict (locations other than [local])."""
    return locations_of(spec) != DEFAULT_LOCATIONS


# -- the verdict --------------------------------------------------------------------------------------


def verdict(rule: str, seen: Sequence[Status]) -> Status | None:
    """The endpoint's status from what the counting locations see (None: no location counts)."""
    if not seen:
        return None
    down = sum(1 for status in seen if status is Status.DOWN)
    total = len(seen)
    if rule == "any":
        is_down = down >= 1
    elif rule == "all":
        is_down = down == total
    elif rule == "majority":
        is_down = down * 2 > total
    else:
        is_down = down * 2 >= total
    if is_down:
        return Status.DOWN
    if any(status in (Status.DEGRADED, Status.DOWN) for status in seen):
        return Status.DEGRADED
    return Status.UP


def describe(seen: dict[str, Status]) -> str:
    """"down from fra-vps; up from home-2, local": which locations saw what."""
    by_status: dict[Status, list[str]] = {}
    for location, status in sorted(seen.items()):
        by_status.setdefault(status, []).append(location)
    order = (Status.DOWN, Status.DEGRADED, Status.UP, Status.UNKNOWN)
    parts = [f"{status.value} from {', '.join(by_status[status])}" for status in order if status in by_status]
    return "; ".join(parts)


# -- the catalog, as locations see it -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Planned:
    """An enabled endpoint checked from somewhere, as probes and the verdict need it."""

    endpoint_id: int
    slug: str
    service: str | None
    type: str
    target: str | None
    port: int | None
    interval: int
    timeout: float
    retries: int
    options: dict[str, Any]
    locations: tuple[str, ...]
    rule: str

    def assignment(self) -> dict[str, Any]:
        return {"slug": self.slug, "service": self.service, "type": self.type, "target": self.target,
                "port": self.port, "interval": self.interval, "timeout": self.timeout, "retries": self.retries,
                "options": self.options}


@dataclass(frozen=True)
class Plan:
    signature: tuple[Any, ...]
    endpoints: dict[str, Planned]          # multi-location endpoints by slug
    by_id: dict[int, Planned]
    by_location: dict[str, tuple[Planned, ...]]
    etags: dict[str, str]


_cache_lock = threading.Lock()
_cache: dict[str, Plan] = {}


def _signature(session: Session) -> tuple[Any, ...]:
    commit = session.execute(select(CatalogState.synced_commit)).scalar()
    count, newest = session.execute(select(func.count(), func.max(CatalogEndpoint.updated_at))).one()
    return (commit, count, str(newest))


def current_plan(session: Session) -> Plan:
    """Every enabled endpoint checked from a location other than ``local`` alone; rebuilt when the catalog
    index changes (one cheap query otherwise). Creates state rows for new slugs."""
    signature = _signature(session)
    engine = session.get_bind().engine
    key = f"{id(engine)}:{engine.url}"  # one plan per database (tests hold several)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None and cached.signature == signature:
        return cached
    rows = session.execute(select(
        CatalogEndpoint.slug, CatalogEndpoint.service, CatalogEndpoint.type, CatalogEndpoint.target,
        CatalogEndpoint.port, CatalogEndpoint.interval, CatalogEndpoint.timeout, CatalogEndpoint.retries,
        CatalogEndpoint.options, CatalogEndpoint.spec).where(CatalogEndpoint.enabled.is_(True))).all()
    wanted = [row for row in rows if multi_location(row.spec)]
    ids = states.ensure_states(session, [row.slug for row in wanted]) if wanted else {}
    endpoints: dict[str, Planned] = {}
    for row in wanted:
        endpoints[row.slug] = Planned(
            endpoint_id=ids[row.slug], slug=row.slug, service=row.service, type=row.type, target=row.target,
            port=row.port, interval=int(row.interval), timeout=float(row.timeout), retries=int(row.retries),
            options=dict(row.options or {}), locations=locations_of(row.spec), rule=rule_of(row.spec))
    by_location: dict[str, list[Planned]] = {}
    for planned in endpoints.values():
        for location in planned.locations:
            by_location.setdefault(location, []).append(planned)
    frozen = {loc: tuple(sorted(items, key=lambda p: p.slug)) for loc, items in by_location.items()}
    etags = {loc: hashlib.sha256(json.dumps([p.assignment() for p in items], sort_keys=True,
                                            default=str).encode()).hexdigest()[:32]
             for loc, items in frozen.items()}
    plan = Plan(signature=signature, endpoints=endpoints, by_id={p.endpoint_id: p for p in endpoints.values()},
                by_location=frozen, etags=etags)
    with _cache_lock:
        _cache[key] = plan
    return plan


def empty_etag() -> str:
    return hashlib.sha256(b"[]").hexdigest()[:32]


# -- recording one location's results -----------------------------------------------------------------


@dataclass(slots=True)
class LocationRecord:
    """One check of one location, ready to store (a probe's result or the local scheduler's)."""

    endpoint_id: int
    location: str
    checked_at: float                  # epoch seconds
    code: ResultCode
    latency_ms: float | None
    message: str = ""
    permanent: bool = False
    probe_id: int | None = None
    seq: int | None = None


def _dialect_insert(session: Session, table: Any) -> Any:
    return postgresql.insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(table)


def _placeholder(session: Session) -> str:
    return "%s" if session.get_bind().dialect.paramstyle in ("format", "pyformat") else "?"


def new_sequences(session: Session, probe_id: int, seqs: Sequence[int]) -> set[int]:
    """The sequence numbers among ``seqs`` not stored yet for ``probe_id``."""
    table = _table(LocationResult)
    known: set[int] = set()
    ordered = sorted(set(seqs))
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start:start + CHUNK]
        known.update(session.execute(select(table.c.seq).where(
            table.c.probe_id == probe_id, table.c.seq >= chunk[0], table.c.seq <= chunk[-1])).scalars())
    return set(ordered) - known


def _insert_results(session: Session, records: Sequence[LocationRecord]) -> None:
    mark = _placeholder(session)
    session.connection().exec_driver_sql(
        "INSERT INTO monitor_location_results (endpoint_id, location, probe_id, seq, checked_at_ms, status, "
        f"latency_ms, message) VALUES ({', '.join([mark] * 8)})",
        [(r.endpoint_id, r.location, r.probe_id, r.seq, int(r.checked_at * 1000), int(r.code),
          None if r.latency_ms is None else round(r.latency_ms, 2),
          (r.message[:MESSAGE_MAX] or None) if r.code is not ResultCode.UP else None) for r in records])


def _write_hours(session: Session, records: Sequence[LocationRecord]) -> None:
    hours: dict[tuple[int, str, int], list[Any]] = {}
    for r in records:
        key = (r.endpoint_id, r.location, int(r.checked_at // HOUR) * HOUR)
        agg = hours.get(key)
        if agg is None:
            agg = hours[key] = [0, 0, 0, 0, 0.0, None, None]
        agg[0] += 1
        agg[1] += r.code is ResultCode.DOWN
        agg[2] += r.code is ResultCode.DEGRADED
        if r.latency_ms is not None:
            agg[3] += 1
            agg[4] += r.latency_ms
            agg[5] = r.latency_ms if agg[5] is None else min(agg[5], r.latency_ms)
            agg[6] = r.latency_ms if agg[6] is None else max(agg[6], r.latency_ms)
    if not hours:
        return
    table = _table(LocationHourly)
    stmt = _dialect_insert(session, table)
    old, new = table.c, stmt.excluded
    postgres = session.get_bind().dialect.name == "postgresql"
    least = func.least if postgres else func.min
    greatest = func.greatest if postgres else func.max
    stmt = stmt.on_conflict_do_update(index_elements=[old.endpoint_id, old.location, old.hour], set_={
        "checks": old.checks + new.checks, "failures": old.failures + new.failures,
        "degraded": old.degraded + new.degraded, "latency_n": old.latency_n + new.latency_n,
        "latency_sum": old.latency_sum + new.latency_sum,
        "latency_min": least(func.coalesce(old.latency_min, new.latency_min),
                             func.coalesce(new.latency_min, old.latency_min)),
        "latency_max": greatest(func.coalesce(old.latency_max, new.latency_max),
                                func.coalesce(new.latency_max, old.latency_max)),
    })
    # plain driver values straight to the driver, as the local writer does (store._executemany_compiled)
    to_db = store._time_to_db(session.get_bind().dialect)
    store._executemany_compiled(session, stmt, [
        {"endpoint_id": k[0], "location": k[1], "hour": to_db(k[2]), "checks": a[0], "failures": a[1],
         "degraded": a[2], "latency_n": a[3], "latency_sum": a[4], "latency_min": a[5], "latency_max": a[6]}
        for k, a in hours.items()])


def _load_location_states(session: Session, keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], Any]:
    table = _table(LocationState)
    ids = sorted({k[0] for k in keys})
    found: dict[tuple[int, str], Any] = {}
    for start in range(0, len(ids), CHUNK):
        for row in session.execute(select(table).where(table.c.endpoint_id.in_(ids[start:start + CHUNK]))):
            found[(row.endpoint_id, row.location)] = row
    return found


def record(session: Session, records: Sequence[LocationRecord], *, plan: Plan,
           now: dt.datetime | None = None) -> list[hooks.StatusChange]:
    """Store ``records`` (results, hourly counts, location states) and move the verdict of every endpoint
    they touch; in the session's transaction, not committed. A result older than its location's newest
    one (a backlog uploaded late) is stored and counted but does not move the location's state."""
    if not records:
        return []
    now = now or dt.datetime.now(dt.UTC)
    _insert_results(session, records)
    _write_hours(session, records)
    keys = {(r.endpoint_id, r.location) for r in records}
    current = _load_location_states(session, keys)
    fresh: dict[tuple[int, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda item: item.checked_at):
        planned = plan.by_id.get(r.endpoint_id)
        retries = planned.retries if planned is not None else 0
        key = (r.endpoint_id, r.location)
        state = fresh.get(key)
        if state is None:
            row = current.get(key)
            state = {"endpoint_id": r.endpoint_id, "location": r.location,
                     "status": row.status if row is not None else Status.UNKNOWN.value,
                     "consecutive_failures": row.consecutive_failures if row is not None else 0,
                     "last_checked_at": row.last_checked_at if row is not None else None,
                     "latency_ms": row.latency_ms if row is not None else None,
                     "message": row.message if row is not None else "",
                     "probe_id": row.probe_id if row is not None else None, "exists": row is not None,
                     "changed": False}
            fresh[key] = state
        at = _utc(r.checked_at)
        if state["last_checked_at"] is not None and at < state["last_checked_at"]:
            continue  # an older result (backlog) than the state already holds
        status, failures = states_next(Status(state["status"]), state["consecutive_failures"], r, retries)
        state.update(status=status.value, consecutive_failures=failures, last_checked_at=at,
                     latency_ms=r.latency_ms, message=r.message[:STATE_MESSAGE_MAX], probe_id=r.probe_id,
                     changed=True)
    table = _table(LocationState)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for state in fresh.values():
        if not state.pop("changed"):
            continue
        exists = state.pop("exists")
        state["updated_at"] = now
        (updates if exists else inserts).append(state)
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        to_db = store._time_to_db(session.get_bind().dialect)
        stamp = to_db(now.timestamp())
        store._executemany_compiled(session, update(table).where(and_(
            table.c.endpoint_id == bindparam("b_endpoint"), table.c.location == bindparam("b_location"))).values(
            status=bindparam("b_status"), consecutive_failures=bindparam("b_failures"),
            last_checked_at=bindparam("b_checked"), latency_ms=bindparam("b_latency"),
            message=bindparam("b_message"), probe_id=bindparam("b_probe"), updated_at=bindparam("b_now")),
            [{"b_endpoint": s["endpoint_id"], "b_location": s["location"], "b_status": s["status"],
              "b_failures": s["consecutive_failures"], "b_checked": to_db(s["last_checked_at"].timestamp()),
              "b_latency": s["latency_ms"], "b_message": s["message"], "b_probe": s["probe_id"],
              "b_now": stamp} for s in updates])
    # what every location of the touched endpoints sees now: read above, moved by this batch
    views: dict[int, list[Any]] = {}
    for key, row in current.items():
        state = fresh.get(key)
        views.setdefault(key[0], []).append(SimpleNamespace(
            location=key[1], status=state["status"], last_checked_at=state["last_checked_at"],
            latency_ms=state["latency_ms"]) if state is not None else row)
    for key, state in fresh.items():
        if key not in current:
            views.setdefault(key[0], []).append(SimpleNamespace(
                location=key[1], status=state["status"], last_checked_at=state["last_checked_at"],
                latency_ms=state["latency_ms"]))
    return apply_verdicts(session, {r.endpoint_id for r in records}, plan=plan, now=now, views=views)


def states_next(previous: Status, failures: int, r: LocationRecord, retries: int) -> tuple[Status, int]:
    if previous in (Status.PAUSED,):
        previous = Status.UNKNOWN
    return store.next_status(previous=previous, failures=failures, paused=False, code=r.code, permanent=r.permanent,
                       retries=retries)


def online_locations(session: Session) -> set[str]:
    """Locations with at least one online probe (``local`` always counts)."""
    table = _table(MonitorProbe)
    found = set(session.execute(select(table.c.location).where(table.c.online.is_(True))).scalars())
    found.add(LOCAL)
    return found


def location_views(session: Session, endpoint_ids: Iterable[int]) -> dict[int, list[Any]]:
    """Every location state row of ``endpoint_ids``, by endpoint id."""
    found: dict[int, list[Any]] = {}
    for key, row in _load_location_states(session, [(eid, "") for eid in endpoint_ids]).items():
        found.setdefault(key[0], []).append(row)
    return found


def counting(rows: Iterable[Any], *, interval: float, online: set[str], now: dt.datetime,
             locations: Sequence[str]) -> dict[str, Status]:
    """What each location that counts sees: named in the file, fresh, and (for a probe's) online."""
    since = now - dt.timedelta(seconds=REPORT_INTERVALS * interval)
    seen: dict[str, Status] = {}
    for row in rows:
        if row.location not in locations or row.location not in online:
            continue
        if row.last_checked_at is None or row.last_checked_at < since:
            continue
        try:
            seen[row.location] = Status(row.status)
        except ValueError:
            continue
    return seen


def apply_verdicts(session: Session, endpoint_ids: Iterable[int], *, plan: Plan, now: dt.datetime | None = None,
                   views: dict[int, list[Any]] | None = None) -> list[hooks.StatusChange]:
    """Bring the ``monitor_states`` rows of ``endpoint_ids`` in line with their locations' verdict (events
    and hooks for each change; one executemany for the rows that moved); not committed."""
    now = now or dt.datetime.now(dt.UTC)
    ids = sorted(eid for eid in set(endpoint_ids) if eid in plan.by_id)
    if not ids:
        return []
    online = online_locations(session)
    if views is None:
        views = location_views(session, ids)
    table = _table(MonitorState)
    rows = {}
    for start in range(0, len(ids), CHUNK):
        for row in session.execute(select(
                table.c.id, table.c.status, table.c.paused, table.c.last_checked_at, table.c.latency_ms,
                table.c.status_since, table.c.message, table.c.consecutive_failures)
                .where(table.c.id.in_(ids[start:start + CHUNK]))):
            rows[row.id] = row
    changes: list[hooks.StatusChange] = []
    events: list[dict[str, Any]] = []
    params: list[dict[str, Any]] = []
    for eid in ids:
        planned = plan.by_id[eid]
        state = rows.get(eid)
        if state is None:
            continue
        located = views.get(eid, [])
        seen = counting(located, interval=planned.interval, online=online, now=now, locations=planned.locations)
        newest = max((r.last_checked_at for r in located if r.last_checked_at is not None), default=None)
        value = {"b_id": eid, "b_status": state.status, "b_since": state.status_since,
                 "b_checked": state.last_checked_at, "b_latency": state.latency_ms, "b_message": state.message,
                 "b_failures": state.consecutive_failures, "b_now": now}
        moved = False
        if newest is not None and (state.last_checked_at is None or newest > state.last_checked_at):
            latest = next(r for r in located if r.last_checked_at == newest)
            value.update(b_checked=newest, b_latency=latest.latency_ms)
            moved = True
        result = verdict(planned.rule, list(seen.values()))
        if result is not None and not state.paused:
            message = f"{describe(seen)} (rule: {planned.rule})"[:STATE_MESSAGE_MAX]
            old = Status(state.status)
            if result is not old:
                value.update(b_status=result.value, b_since=now, b_failures=1 if result is Status.DOWN else 0)
                events.append({"endpoint_id": eid, "at": now, "kind": EventKind.STATUS_CHANGE.value,
                               "old_status": old.value, "new_status": result.value, "message": message,
                               "in_maintenance": False})
                changes.append(hooks.StatusChange(endpoint_id=eid, slug=planned.slug, service=planned.service,
                                                  old=old, new=result, at=now, message=message))
                moved = True
            if message != state.message:
                value["b_message"] = message
                moved = True
        if moved:
            params.append(value)
    if params:
        to_db = store._time_to_db(session.get_bind().dialect)
        for value in params:
            for key in ("b_since", "b_checked", "b_now"):
                if value[key] is not None:
                    value[key] = to_db(value[key].timestamp())
        store._executemany_compiled(session, update(table).where(table.c.id == bindparam("b_id")).values(
            status=bindparam("b_status"), status_since=bindparam("b_since"), last_checked_at=bindparam("b_checked"),
            latency_ms=bindparam("b_latency"), message=bindparam("b_message"),
            consecutive_failures=bindparam("b_failures"), updated_at=bindparam("b_now")), params)
    if events:
        session.execute(insert(_table(MonitorEvent)), events)
    if changes and hooks.STATUS_CHANGE_HOOKS:
        try:
            with session.begin_nested():
                hooks.status_changed(session=session, changes=changes)
        except Exception:
            log.exception("a status-change hook failed; %d verdict change(s) recorded without it", len(changes))
    return changes


def location_status(session: Session, *, slug: str) -> list[dict[str, Any]]:
    """A row per location of one endpoint (for its page and the API): status, latency, last check,
    whether it counts now, uptime over 24 h."""
    plan = current_plan(session)
    planned = plan.endpoints.get(slug)
    if planned is None:
        return []
    now = dt.datetime.now(dt.UTC)
    online = online_locations(session)
    rows = {row.location: row for row in location_views(session, [planned.endpoint_id]).get(planned.endpoint_id, [])}
    seen = counting(rows.values(), interval=planned.interval, online=online, now=now, locations=planned.locations)
    hourly = _table(LocationHourly)
    since = now - dt.timedelta(hours=24)
    uptime = {loc: (checks, failures) for loc, checks, failures in session.execute(
        select(hourly.c.location, func.sum(hourly.c.checks), func.sum(hourly.c.failures)).where(
            hourly.c.endpoint_id == planned.endpoint_id, hourly.c.hour >= since).group_by(hourly.c.location))}
    results = _table(LocationResult)
    spark_since = int((now - dt.timedelta(hours=1)).timestamp() * 1000)
    sparks: dict[str, list[float]] = {}
    for loc, latency in session.execute(select(results.c.location, results.c.latency_ms).where(
            results.c.endpoint_id == planned.endpoint_id, results.c.checked_at_ms >= spark_since,
            or_(results.c.latency_ms.is_not(None))).order_by(results.c.checked_at_ms)):
        sparks.setdefault(loc, []).append(float(latency))
    out = []
    for location in planned.locations:
        row = rows.get(location)
        checks, failures = uptime.get(location, (0, 0))
        out.append({
            "location": location,
            "status": row.status if row is not None else Status.UNKNOWN.value,
            "counts": location in seen,
            "online": location in online,
            "last_checked_at": row.last_checked_at if row is not None else None,
            "latency_ms": row.latency_ms if row is not None else None,
            "message": row.message if row is not None else "",
            "uptime_24h": (1 - (failures or 0) / checks) if checks else None,
            "sparkline": sparks.get(location, [])[-60:],
        })
    return out


def agreement(session: Session, slugs: Sequence[str]) -> dict[str, tuple[int, int]]:
    """slug → (locations agreeing with its verdict, locations counting) for multi-location endpoints."""
    plan = current_plan(session)
    wanted = [plan.endpoints[s] for s in slugs if s in plan.endpoints]
    if not wanted:
        return {}
    now = dt.datetime.now(dt.UTC)
    online = online_locations(session)
    views = location_views(session, [p.endpoint_id for p in wanted])
    found = {}
    for planned in wanted:
        seen = counting(views.get(planned.endpoint_id, []), interval=planned.interval, online=online, now=now,
                        locations=planned.locations)
        result = verdict(planned.rule, list(seen.values()))
        agree = sum(1 for status in seen.values() if status is result or (
            result is Status.DEGRADED and status is Status.UP))
        found[planned.slug] = (agree, len(seen))
    return found


# -- the local scheduler's results of multi-location endpoints ------------------------------------------


def split_located(batch: list[Any]) -> tuple[list[Any], list[Any]]:
    """``store.ResultRecord``s split into (single-location ones, ones recorded per location)."""
    if not any(r.location is not None for r in batch):
        return batch, []
    return [r for r in batch if r.location is None], [r for r in batch if r.location is not None]


def record_located(session: Session, batch: Sequence[Any]) -> list[hooks.StatusChange]:
    """Record the local scheduler's ``store.ResultRecord``s of multi-location endpoints (``location`` set)
    as their location's results, and move the verdicts; not committed."""
    plan = current_plan(session)
    return record(session, [LocationRecord(
        endpoint_id=r.endpoint_id, location=r.location, checked_at=r.checked_at, code=r.code,
        latency_ms=r.latency_ms, message=r.message, permanent=r.permanent) for r in batch], plan=plan)


# -- retention ------------------------------------------------------------------------------------------


def prune(session: Session, *, raw_cutoff_ms: int, aggregate_cutoff: dt.datetime) -> int:
    """Delete per-location raw results older than ``raw_cutoff_ms`` and hourly rows older than
    ``aggregate_cutoff``: a range of each (endpoint, location) index, every pair in one executemany (late
    backlogs make ids no guide to age). Not committed; returns the rows deleted."""
    pairs = session.execute(select(_table(LocationState).c.endpoint_id, _table(LocationState).c.location)).all()
    if not pairs:
        return 0
    results, hourly = _table(LocationResult), _table(LocationHourly)
    removed = store._rowcount(session.execute(delete(results).where(
        results.c.endpoint_id == bindparam("b_endpoint"), results.c.location == bindparam("b_location"),
        results.c.checked_at_ms < raw_cutoff_ms), [{"b_endpoint": e, "b_location": loc} for e, loc in pairs]))
    removed += store._rowcount(session.execute(delete(hourly).where(
        hourly.c.endpoint_id == bindparam("b_endpoint"), hourly.c.location == bindparam("b_location"),
        hourly.c.hour < aggregate_cutoff), [{"b_endpoint": e, "b_location": loc} for e, loc in pairs]))
    return removed
