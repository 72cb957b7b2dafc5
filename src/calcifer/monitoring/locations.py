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
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import Engine, Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from calcifer.catalog.models import CatalogEndpoint, CatalogState
from calcifer.monitoring import hooks, states, store
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models.checks import MonitorEvent
from calcifer.monitoring.models.probes import (
    LocationHourly,
    LocationResult,
    LocationState,
)

log = logging.getLogger("calcifer.monitoring")

LOCAL = "local"
DEFAULT_LOCATIONS: tuple[str, ...] = (LOCAL,)
RULES = ("half", "any", "all", "majority")
# A location whose newest result is older than this many intervals does not count in the verdict.
REPORT_INTERVALS = 2
HOUR = 3600
CHUNK = 900
IN_CHUNK = 5000           # ids in one IN list (a whole batch of results: one query)
SPARK_POINTS = 60
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


def describe(seen: dict[str, View]) -> str:
    """"down from fra-vps, home-2 (connection refused); up from local": which locations saw what, with
    what the locations seeing it down or degraded were told."""
    by_status: dict[str, dict[str, list[str]]] = {}
    for location, view in sorted(seen.items()):
        detail = view.message[:80] if view.status in (Status.DOWN.value, Status.DEGRADED.value) else ""
        by_status.setdefault(view.status, {}).setdefault(detail, []).append(location)
    parts = []
    for status in (Status.DOWN, Status.DEGRADED, Status.UP, Status.UNKNOWN):
        groups = by_status.get(status.value)
        if groups:
            parts.append(f"{status.value} from " + ", ".join(
                ", ".join(places) + (f" ({detail})" if detail else "") for detail, places in groups.items()))
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
    assigned: dict[str, dict[str, int]] = field(default_factory=dict)  # location → slug → endpoint id


_cache_lock = threading.Lock()
_cache: dict[str, Plan] = {}
_endpoints, _state = _table(CatalogEndpoint), _table(CatalogState)
# Three scalar subqueries in one round trip: each is answered from an index (the row count, the newest
# ``updated_at``), where ``count(*), max(updated_at)`` in one SELECT reads every row of the catalog.
_SIGNATURE = select(select(_state.c.synced_commit).limit(1).scalar_subquery(),
                    select(func.count()).select_from(_endpoints).scalar_subquery(),
                    select(func.max(_endpoints.c.updated_at)).scalar_subquery())


def _signature(session: Session) -> tuple[Any, ...]:
    commit, count, newest = session.execute(_SIGNATURE).one()
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
                by_location=frozen, etags=etags,
                assigned={loc: {p.slug: p.endpoint_id for p in items} for loc, items in frozen.items()})
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


def _placeholder(session: Session) -> str:
    return "%s" if session.get_bind().dialect.paramstyle in ("format", "pyformat") else "?"


def stored_sequences(session: Session, probe_id: int, seqs: Collection[int]) -> set[int]:
    """The sequence numbers among ``seqs`` stored already for ``probe_id``: one indexed range read when they
    lie close together (a probe numbers its results in order), else an IN list per ``IN_CHUNK``."""
    if not seqs:
        return set()
    low, high = min(seqs), max(seqs)
    mark = _placeholder(session)
    if high - low < 4 * len(seqs):
        found = _fetch(session, f"SELECT seq FROM monitor_location_results WHERE probe_id = {mark} AND seq >= {mark} "
                       f"AND seq <= {mark}", (probe_id, low, high))
    else:
        ordered = sorted(seqs)
        found = []
        for start in range(0, len(ordered), IN_CHUNK):
            chunk = ordered[start:start + IN_CHUNK]
            found += _fetch(session, f"SELECT seq FROM monitor_location_results WHERE probe_id = {mark} AND seq IN "
                            f"({_in_list(session, len(chunk))})", (probe_id, *chunk))
    return {row[0] for row in found} & set(seqs)


_RESULT_COLUMNS = "endpoint_id, location, probe_id, seq, checked_at_ms, status, latency_ms, message"


def _insert_results(session: Session, records: Sequence[LocationRecord]) -> None:
    """Append the raw results (plain driver values); on PostgreSQL with psycopg through COPY, as the local
    writer does (``store._insert_results``)."""
    rows = [(r.endpoint_id, r.location, r.probe_id, r.seq, int(r.checked_at * 1000), int(r.code),
             None if r.latency_ms is None else round(r.latency_ms, 2),
             (r.message[:MESSAGE_MAX] or None) if r.code is not ResultCode.UP else None) for r in records]
    connection = session.connection()
    driver = connection.connection.driver_connection if connection.dialect.name == "postgresql" else None
    if driver is not None and hasattr(driver, "cursor"):
        with driver.cursor() as cursor:
            if hasattr(cursor, "copy"):  # psycopg 3
                with cursor.copy(f"COPY monitor_location_results ({_RESULT_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
    connection.exec_driver_sql(f"INSERT INTO monitor_location_results ({_RESULT_COLUMNS}) VALUES "
                               f"({', '.join([_placeholder(session)] * 8)})", rows)


def _accumulate_hours(hours: dict[tuple[int, str, int], list[Any]], records: Sequence[LocationRecord]) -> None:
    """Add ``records`` to the hourly deltas ``hours`` ((endpoint, location, hour) → [checks, failures,
    degraded, latency n, latency sum, min, max])."""
    down, degraded = ResultCode.DOWN, ResultCode.DEGRADED
    for r in records:
        key = (r.endpoint_id, r.location, int(r.checked_at // HOUR) * HOUR)
        agg = hours.get(key)
        if agg is None:
            agg = hours[key] = [0, 0, 0, 0, 0.0, None, None]
        agg[0] += 1
        code = r.code
        if code is down:
            agg[1] += 1
        elif code is degraded:
            agg[2] += 1
        latency = r.latency_ms
        if latency is not None:
            agg[3] += 1
            agg[4] += latency
            if agg[5] is None or latency < agg[5]:
                agg[5] = latency
            if agg[6] is None or latency > agg[6]:
                agg[6] = latency


_HOUR_COLUMNS = ("endpoint_id, location, hour, checks, failures, degraded, latency_n, latency_sum, latency_min, "
                 "latency_max")
_HOUR_MERGE = ("ON CONFLICT (endpoint_id, location, hour) DO UPDATE SET "
               "checks = monitor_location_hourly.checks + excluded.checks, "
               "failures = monitor_location_hourly.failures + excluded.failures, "
               "degraded = monitor_location_hourly.degraded + excluded.degraded, "
               "latency_n = monitor_location_hourly.latency_n + excluded.latency_n, "
               "latency_sum = monitor_location_hourly.latency_sum + excluded.latency_sum, "
               "latency_min = {least}(COALESCE(monitor_location_hourly.latency_min, excluded.latency_min), "
               "COALESCE(excluded.latency_min, monitor_location_hourly.latency_min)), "
               "latency_max = {greatest}(COALESCE(monitor_location_hourly.latency_max, excluded.latency_max), "
               "COALESCE(excluded.latency_max, monitor_location_hourly.latency_max))")


def _write_hours(session: Session, hours: dict[tuple[int, str, int], list[Any]]) -> None:
    """Merge hourly deltas into ``monitor_location_hourly`` (one upsert, executemany of plain driver values in
    column order: a delta's list is already in the order of the columns after the key)."""
    if not hours:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    merge = _HOUR_MERGE.format(least="LEAST" if postgres else "MIN", greatest="GREATEST" if postgres else "MAX")
    to_db = _db_time(session)
    session.connection().exec_driver_sql(
        f"INSERT INTO monitor_location_hourly ({_HOUR_COLUMNS}) VALUES ({', '.join([_placeholder(session)] * 10)}) "
        f"{merge}", [(k[0], k[1], to_db(k[2]), *agg) for k, agg in hours.items()])


class View(NamedTuple):
    """What one location sees of one endpoint: a ``monitor_location_states`` row. ``last_checked`` is the
    driver's value (SQLite: fixed-width text, PostgreSQL: a datetime): compared as it is, never parsed
    (thousands a batch); ``_db_time`` makes the values to compare it with."""

    location: str
    status: str
    last_checked: Any
    latency_ms: float | None
    message: str


_STATE_COLUMNS = ("endpoint_id, location, status, consecutive_failures, last_checked_at, latency_ms, message, "
                  "probe_id, updated_at")
_STATUSES = {status.value: status for status in Status}


def _db_time(session: Session) -> Callable[[float], Any]:
    """Epoch seconds → the driver's value of a time column, memoized (a batch asks for the same few
    thresholds and hours again and again)."""
    to_db = store._time_to_db(session.get_bind().dialect)
    memo: dict[float, Any] = {}

    def convert(seconds: float) -> Any:
        value = memo.get(seconds)
        if value is None:
            value = memo[seconds] = to_db(seconds)
        return value
    return convert


def _in_list(session: Session, count: int) -> str:
    return ", ".join([_placeholder(session)] * count)


def _fetch(session: Session, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """Rows of ``sql`` as the driver gives them (no SQLAlchemy row work: thousands of rows a batch)."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _load_location_states(session: Session, endpoint_ids: Iterable[int],
                          location: str | None = None) -> dict[tuple[int, str], list[Any]]:
    """(endpoint id, location) → [status, consecutive failures, last check, latency, message, probe id] of
    every location of ``endpoint_ids`` (only ``location``'s when given): plain driver values, one query per
    ``IN_CHUNK`` endpoints, or, for every location of ids lying close together (a batch's endpoints), one
    range read of the primary key filtered here (SQLite reads a range of its (endpoint, location) index
    about twice as fast per row as it looks up each id of an IN list with all its locations)."""
    found: dict[tuple[int, str], list[Any]] = {}
    ids = sorted(set(endpoint_ids))
    mark = _placeholder(session)
    columns = "endpoint_id, location, status, consecutive_failures, last_checked_at, latency_ms, message, probe_id"
    if location is None and ids and ids[-1] - ids[0] < 2 * len(ids):
        wanted = set(ids)
        for row in _fetch(session, f"SELECT {columns} FROM monitor_location_states WHERE endpoint_id >= {mark} "
                          f"AND endpoint_id <= {mark}", (ids[0], ids[-1])):
            if row[0] in wanted:
                found[(row[0], row[1])] = [row[2], row[3], row[4], row[5], row[6] or "", row[7]]
        return found
    where, extra = (f" AND location = {mark}", (location,)) if location is not None else ("", ())
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        for row in _fetch(session, f"SELECT {columns} FROM monitor_location_states WHERE endpoint_id IN "
                          f"({_in_list(session, len(chunk))}){where}", (*chunk, *extra)):
            found[(row[0], row[1])] = [row[2], row[3], row[4], row[5], row[6] or "", row[7]]
    return found


def _views(states: dict[tuple[int, str], list[Any]]) -> dict[int, list[View]]:
    views: dict[int, list[View]] = {}
    for (eid, location), s in states.items():
        views.setdefault(eid, []).append(View(location, s[0], s[2], s[3], s[4]))
    return views


class Verdict(NamedTuple):
    """A verdict as computed, and what it rested on: it stands while the endpoint's plan, its status row,
    the online locations among its own and the counting locations' statuses are unchanged and the oldest
    counting report (``oldest``, a driver value) is still fresh."""

    planned: Planned
    status: str
    counting: frozenset[str]
    online: frozenset[str]
    oldest: Any


@dataclass
class LocationPending:
    """What an ingesting process coalesces between flushes, as the local writer's ``store.Pending`` does
    for single-location endpoints: hourly deltas, and rows whose only news is "checked again, same as
    before" (a location state whose status, failures and message did not move; an endpoint whose verdict
    and its message did not move). Status changes, failures and new rows are never deferred.

    Written every ``COALESCE_SECONDS`` (by the next batch, or by the probe watch when no batch comes) and
    when the process stops (``probes.start_watch``'s stop). A process killed outright loses what waited
    (at most ``COALESCE_SECONDS`` of hourly counts and last-check times), exactly as the local writer
    does; the raw results themselves are committed before a batch is acknowledged. Shared by the
    threads of one process (``lock``); one per database (``pending_for``)."""

    hours: dict[tuple[int, str, int], list[Any]] = field(default_factory=dict)
    # (endpoint id, location) → (status, last check: driver value, latency ms, probe id)
    states: dict[tuple[int, str], tuple[str, Any, float | None, int | None]] = field(default_factory=dict)
    # endpoint id → (status, last check: driver value, latency ms)
    verdicts: dict[int, tuple[str, Any, float | None]] = field(default_factory=dict)
    # endpoint id → the last verdict this process computed (``Verdict``): lets a batch whose results moved
    # nothing but last-check times skip the verdict while it provably stands (``apply_verdicts``)
    memo: dict[int, Verdict] = field(default_factory=dict)
    since: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # held by ``probes.ingest`` around a whole batch: one batch at a time per process and database
    batches: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __bool__(self) -> bool:
        return bool(self.hours or self.states or self.verdicts)

    def due(self, seconds: float | None = None) -> bool:
        return bool(self) and time.monotonic() - self.since >= (COALESCE_SECONDS if seconds is None else seconds)

    def take(self) -> tuple[dict[tuple[int, str, int], list[Any]], dict[tuple[int, str], tuple[Any, ...]],
                            dict[int, tuple[Any, ...]]]:
        """What waited (emptied here; ``restore`` puts it back when writing it failed)."""
        with self.lock:
            taken = self.hours, self.states, self.verdicts
            self.hours, self.states, self.verdicts = {}, {}, {}
            self.since = time.monotonic()
        return taken

    def restore(self, hours: dict[tuple[int, str, int], list[Any]], states: dict[tuple[int, str], tuple[Any, ...]],
                verdicts: dict[int, tuple[Any, ...]]) -> None:
        with self.lock:
            for key, agg in hours.items():
                mine = self.hours.get(key)
                if mine is None:
                    self.hours[key] = agg
                    continue
                for i in range(5):
                    mine[i] += agg[i]
                mine[5] = agg[5] if mine[5] is None else (mine[5] if agg[5] is None else min(mine[5], agg[5]))
                mine[6] = agg[6] if mine[6] is None else (mine[6] if agg[6] is None else max(mine[6], agg[6]))
            for skey, value in states.items():
                self.states.setdefault(skey, value)  # type: ignore[arg-type]
            for eid, verdict_value in verdicts.items():
                self.verdicts.setdefault(eid, verdict_value)  # type: ignore[arg-type]


COALESCE_SECONDS = 5.0
_pending_lock = threading.Lock()
# one buffer per engine (tests hold several), gone with it
_pendings: weakref.WeakKeyDictionary[Engine, LocationPending] = weakref.WeakKeyDictionary()


def pending_for(session: Session) -> LocationPending:
    """This process's coalescing buffer for the session's database."""
    engine = session.get_bind().engine
    with _pending_lock:
        pending = _pendings.get(engine)
        if pending is None:
            pending = _pendings[engine] = LocationPending()
    return pending


def flush_pending(session: Session, pending: LocationPending) -> None:
    """Write what ``pending`` coalesced; committed (on failure it is kept for the next flush). A deferred
    last-check time never moves a row back (another process wrote a newer one) nor lands on a row whose
    status moved since (``status = ?`` in the WHERE)."""
    hours, pending_states, verdicts = pending.take()
    if not (hours or pending_states or verdicts):
        return
    try:
        stamp = _db_time(session)(time.time())
        mark = _placeholder(session)
        connection = session.connection()
        if pending_states:
            connection.exec_driver_sql(
                f"UPDATE monitor_location_states SET last_checked_at = {mark}, latency_ms = {mark}, "
                f"probe_id = {mark}, updated_at = {mark} WHERE endpoint_id = {mark} AND location = {mark} "
                f"AND status = {mark} AND (last_checked_at IS NULL OR last_checked_at < {mark})",
                [(at, latency, probe_id, stamp, eid, location, status, at)
                 for (eid, location), (status, at, latency, probe_id) in pending_states.items()])
        if verdicts:
            connection.exec_driver_sql(
                f"UPDATE monitor_states SET last_checked_at = {mark}, latency_ms = {mark}, updated_at = {mark} "
                f"WHERE id = {mark} AND status = {mark} AND (last_checked_at IS NULL OR last_checked_at < {mark})",
                [(at, latency, stamp, eid, status, at) for eid, (status, at, latency) in verdicts.items()])
        _write_hours(session, hours)
        session.commit()
    except Exception:
        session.rollback()
        pending.restore(hours, pending_states, verdicts)
        raise


def flush_all(session_factory: Callable[[], Session]) -> None:
    """Write every coalescing buffer of this process whose database ``session_factory`` opens (stop)."""
    with session_factory() as session:
        with _pending_lock:
            pending = _pendings.get(session.get_bind().engine)
        if pending:
            flush_pending(session, pending)


def _is_quiet(old: list[Any], new_status: str, failures: int, message: str, probe_id: int | None) -> bool:
    return (failures == 0 and old[1] == 0 and old[0] == new_status and old[4] == message and old[5] == probe_id)


def record(session: Session, records: Sequence[LocationRecord], *, plan: Plan,
           now: dt.datetime | None = None, pending: LocationPending | None = None) -> list[hooks.StatusChange]:
    """Store ``records`` (results, hourly counts, location states) and move the verdict of every endpoint
    they touch; in the session's transaction, not committed. A result older than its location's newest
    one (a backlog uploaded late) is stored and counted but does not move the location's state.

    Batch-shaped: one insert of the results, one upsert of the hours and one of the states (executemany of
    plain driver values), one read of the touched endpoints' location states, the verdict once per endpoint.
    With a ``pending`` (``LocationPending``), the hourly deltas and the rows whose only news is a newer last
    check wait there (the caller flushes it when due); the rest is written at once."""
    if not records:
        return []
    now = now or dt.datetime.now(dt.UTC)
    _insert_results(session, records)
    if pending is None:
        hours: dict[tuple[int, str, int], list[Any]] = {}
        _accumulate_hours(hours, records)
        _write_hours(session, hours)
    else:
        with pending.lock:
            _accumulate_hours(pending.hours, records)
    batch_locations = {r.location for r in records}
    single = None
    if pending is not None and len(batch_locations) == 1:
        # read only this location's rows when most verdicts may be skipped (``apply_verdicts``), else all
        # of them at once (one query rather than two)
        with pending.lock:
            known = sum(1 for r in records if r.endpoint_id in pending.memo)
        if known * 2 >= len(records):
            single = next(iter(batch_locations))
    current = _load_location_states(session, [r.endpoint_id for r in records], single)
    if pending is not None and pending.states:
        # the rows this batch read that a newer last check waits for (one look-up per row read, however
        # many rows wait)
        with pending.lock:
            waiting = pending.states
            for key, row in current.items():
                held = waiting.get(key)
                if held is not None and row[0] == held[0] and (row[2] is None or held[1] > row[2]):
                    row[2], row[3] = held[1], held[2]
    moved: dict[tuple[int, str], list[Any]] = {}
    quiet: dict[tuple[int, str], list[Any]] = {}
    by_id = plan.by_id
    to_db = _db_time(session)
    up = Status.UP.value
    for r in sorted(records, key=_checked_at):
        key = (r.endpoint_id, r.location)
        state = current.get(key)
        at = to_db(r.checked_at)
        if state is None:
            state = current[key] = [Status.UNKNOWN.value, 0, None, None, "", None]
            fresh = True
        elif state[2] is not None and at < state[2]:
            continue  # an older result (backlog) than the state already holds
        else:
            fresh = False
        message = r.message[:STATE_MESSAGE_MAX]
        if r.code is ResultCode.UP and state[0] == up and not state[1]:
            status_value, failures = up, 0  # the common case: up and up again
        else:
            planned = by_id.get(r.endpoint_id)
            status, failures = states_next(_STATUSES.get(state[0], Status.UNKNOWN), state[1], r,
                                           planned.retries if planned is not None else 0)
            status_value = status.value
        if (pending is not None and not fresh and key not in moved
                and _is_quiet(state, status_value, failures, message, r.probe_id)):
            state[2], state[3] = at, r.latency_ms
            quiet[key] = state
            continue
        state[:] = [status_value, failures, at, r.latency_ms, message, r.probe_id]
        moved[key] = state
        quiet.pop(key, None)
    if moved:
        stamp = to_db(now.timestamp())
        mark = _placeholder(session)
        session.connection().exec_driver_sql(
            f"INSERT INTO monitor_location_states ({_STATE_COLUMNS}) VALUES ({', '.join([mark] * 9)}) "
            "ON CONFLICT (endpoint_id, location) DO UPDATE SET status = excluded.status, "
            "consecutive_failures = excluded.consecutive_failures, last_checked_at = excluded.last_checked_at, "
            "latency_ms = excluded.latency_ms, message = excluded.message, probe_id = excluded.probe_id, "
            "updated_at = excluded.updated_at",
            [(eid, location, s[0], s[1], s[2], s[3], s[4], s[5], stamp) for (eid, location), s in moved.items()])
    if pending is not None and (quiet or moved):
        with pending.lock:
            _hold_newest(pending.states, moved, ((key, (s[0], s[2], s[3], s[5])) for key, s in quiet.items()))
    if single is None:
        return apply_verdicts(session, {r.endpoint_id for r in records}, plan=plan, now=now, views=_views(current),
                              pending=pending)
    # only this location's rows were read: the verdict reads the others for the endpoints it cannot skip
    quiet_only = {eid for eid, _ in quiet} - {eid for eid, _ in moved}
    return apply_verdicts(session, {r.endpoint_id for r in records}, plan=plan, now=now, pending=pending,
                          overlay=current, quiet={eid: single for eid in quiet_only})


def _hold_newest(held: dict[Any, Any], written: Iterable[Any], waiting: Iterable[tuple[Any, Any]]) -> None:
    """Update a ``LocationPending`` map (caller holds its lock): rows just written wait no longer; of a row
    waiting twice, the newer last check (each value's second field) stays."""
    for key in written:
        held.pop(key, None)
    for key, value in waiting:
        old = held.get(key)
        if old is None or old[1] < value[1]:
            held[key] = value


def _checked_at(record: LocationRecord) -> float:
    return record.checked_at


def states_next(previous: Status, failures: int, r: LocationRecord, retries: int) -> tuple[Status, int]:
    if previous in (Status.PAUSED,):
        previous = Status.UNKNOWN
    return store.next_status(previous=previous, failures=failures, paused=False, code=r.code, permanent=r.permanent,
                       retries=retries)


def online_locations(session: Session) -> set[str]:
    """Locations with at least one online probe (``local`` always counts)."""
    found = {row[0] for row in _fetch(session, f"SELECT location FROM monitor_probes WHERE online = "
                                      f"{_placeholder(session)}", (True,))}
    found.add(LOCAL)
    return found


def location_views(session: Session, endpoint_ids: Iterable[int]) -> dict[int, list[View]]:
    """What every location sees of ``endpoint_ids``, by endpoint id."""
    return _views(_load_location_states(session, list(endpoint_ids)))


def counting(views: Iterable[View], *, since: Any, online: set[str], locations: Sequence[str]) -> dict[str, View]:
    """The locations that count, with what each sees: named in the file, reported at or after ``since`` (a
    driver value: ``_since``) and, for a probe's, online."""
    seen: dict[str, View] = {}
    for view in views:
        if view.location not in locations or view.location not in online:
            continue
        if view.last_checked is None or view.last_checked < since or view.status not in _STATUSES:
            continue
        seen[view.location] = view
    return seen


def _since(db_time: Callable[[float], Any], now: dt.datetime, interval: float) -> Any:
    """The oldest last check that still counts, as a driver value: ``REPORT_INTERVALS`` intervals ago."""
    return db_time(now.timestamp() - REPORT_INTERVALS * interval)


def _seen_statuses(seen: dict[str, View]) -> list[Status]:
    return [_STATUSES[view.status] for view in seen.values()]


def _checked(view: View) -> Any:
    return view.last_checked


def apply_verdicts(session: Session, endpoint_ids: Iterable[int], *, plan: Plan, now: dt.datetime | None = None,
                   views: dict[int, list[View]] | None = None, pending: LocationPending | None = None,
                   overlay: dict[tuple[int, str], list[Any]] | None = None,
                   quiet: dict[int, str] | None = None) -> list[hooks.StatusChange]:
    """Bring the ``monitor_states`` rows of ``endpoint_ids`` in line with their locations' verdict (events
    and hooks for each change; one read and one executemany of plain driver values for the rows that
    moved); not committed. With a ``pending``, a row whose only news is a newer last check waits there.

    ``overlay``: location states newer than the database's (this batch's, some coalesced); ``quiet``:
    endpoint id → the one location whose results moved only its last check. Such an endpoint keeps its
    verdict without reading its other locations when the verdict this process last computed for it
    (``pending.memo``) provably stands: same plan, same status row (nobody paused, resumed or moved it),
    same online locations, that location counted then, and every location that counted then still counts."""
    now = now or dt.datetime.now(dt.UTC)
    ids = sorted(eid for eid in set(endpoint_ids) if eid in plan.by_id)
    if not ids:
        return []
    online = online_locations(session)
    db_time = _db_time(session)
    since_of: dict[int, Any] = {}  # interval → the oldest last check that counts (a few intervals a batch)

    def counts_since(interval: int) -> Any:
        value = since_of[interval] = _since(db_time, now, interval)
        return value
    rows: dict[int, Any] = {}
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start:start + IN_CHUNK]
        for row in _fetch(session, "SELECT id, status, paused, last_checked_at, latency_ms, status_since, message, "
                          f"consecutive_failures FROM monitor_states WHERE id IN ({_in_list(session, len(chunk))})",
                          tuple(chunk)):
            rows[row[0]] = row
    waiting: dict[int, tuple[Any, ...]] = {}
    memos: dict[int, Verdict] = {}
    if pending is not None:
        with pending.lock:
            if pending.verdicts:
                waiting = {eid: pending.verdicts[eid] for eid in ids if eid in pending.verdicts}
            if quiet and pending.memo:
                memos = {eid: pending.memo[eid] for eid in quiet if eid in pending.memo}
    held_back: dict[int, tuple[str, Any, float | None]] = {}
    loud: list[int] = []
    skipped: set[int] = set()
    if memos and overlay is not None and quiet is not None:
        online_among: dict[tuple[str, ...], frozenset[str]] = {}
        for eid, verdict_then in memos.items():
            state = rows.get(eid)
            planned = plan.by_id[eid]
            location = quiet[eid]
            if state is None or state[2] or verdict_then.planned is not planned or state[1] != verdict_then.status:
                continue
            among = online_among.get(planned.locations)
            if among is None:
                among = online_among[planned.locations] = frozenset(online.intersection(planned.locations))
            if (location not in verdict_then.counting or verdict_then.online != among
                    or verdict_then.oldest < (since_of.get(planned.interval) or counts_since(planned.interval))):
                continue
            skipped.add(eid)
            mine = overlay.get((eid, location))
            checked_raw, latency = state[3], state[4]
            held = waiting.get(eid)
            if held is not None and held[0] == state[1] and (checked_raw is None or held[1] > checked_raw):
                checked_raw, latency = held[1], held[2]
            if mine is not None and mine[2] is not None and (checked_raw is None or mine[2] > checked_raw):
                held_back[eid] = (state[1], mine[2], mine[3])
    if views is None:
        views = location_views(session, [eid for eid in ids if eid not in skipped])
        if overlay:
            for eid, located in views.items():
                for i, view in enumerate(located):
                    fresher = overlay.get((eid, view.location))
                    if fresher is not None:
                        located[i] = View(view.location, fresher[0], fresher[2], fresher[3], fresher[4])
            for (eid, location), fresher in overlay.items():
                if eid not in skipped and not any(v.location == location for v in views.get(eid, ())):
                    views.setdefault(eid, []).append(View(location, fresher[0], fresher[2], fresher[3], fresher[4]))
    computed: dict[int, Verdict] = {}
    stamp = db_time(now.timestamp())
    changes: list[hooks.StatusChange] = []
    events: list[dict[str, Any]] = []
    params: list[tuple[Any, ...]] = []
    messages: dict[tuple[Any, ...], str] = {}
    for eid in ids:
        if eid in skipped:
            continue
        planned = plan.by_id[eid]
        state = rows.get(eid)
        if state is None:
            continue
        _, status, paused, checked_raw, latency, since, old_message, failures = state
        held = waiting.get(eid)
        if held is not None and held[0] == status and (checked_raw is None or held[1] > checked_raw):
            checked_raw, latency = held[1], held[2]
        located = views.get(eid, [])
        seen = counting(located, since=since_of.get(planned.interval) or counts_since(planned.interval), online=online,
                        locations=planned.locations)
        newest = max((v for v in located if v.last_checked is not None), key=_checked, default=None)
        moved = False
        newer = False
        if newest is not None and (checked_raw is None or newest.last_checked > checked_raw):
            checked_raw, latency = newest.last_checked, newest.latency_ms
            newer = True
        message = old_message
        result = verdict(planned.rule, _seen_statuses(seen))
        if result is not None and not paused:
            memo = (planned.rule, *sorted((v.location, v.status, v.message) for v in seen.values()))
            message = messages.get(memo) or messages.setdefault(memo, f"{describe(seen)} (rule: {planned.rule})"
                                                                [:STATE_MESSAGE_MAX])
            if pending is not None and seen:
                computed[eid] = Verdict(planned, result.value, frozenset(seen), frozenset(
                    online.intersection(planned.locations)), min(v.last_checked for v in seen.values()))
            old = _STATUSES.get(status, Status.UNKNOWN)
            if result is not old:
                status, since, failures = result.value, stamp, 1 if result is Status.DOWN else 0
                events.append({"endpoint_id": eid, "at": now, "kind": EventKind.STATUS_CHANGE.value,
                               "old_status": old.value, "new_status": result.value, "message": message,
                               "in_maintenance": False})
                changes.append(hooks.StatusChange(endpoint_id=eid, slug=planned.slug, service=planned.service,
                                                  old=old, new=result, at=now, message=message))
                moved = True
            moved = moved or message != old_message
        if moved or (newer and pending is None):
            params.append((status, since, checked_raw, latency, message, failures, stamp, eid))
            loud.append(eid)
        elif newer:
            held_back[eid] = (status, checked_raw, latency)
    if pending is not None and (held_back or loud or computed):
        with pending.lock:
            _hold_newest(pending.verdicts, loud, held_back.items())
            for eid in ids:
                if eid not in skipped:
                    pending.memo.pop(eid, None)
            pending.memo.update(computed)
    if params:
        mark = _placeholder(session)
        session.connection().exec_driver_sql(
            f"UPDATE monitor_states SET status = {mark}, status_since = {mark}, last_checked_at = {mark}, "
            f"latency_ms = {mark}, message = {mark}, consecutive_failures = {mark}, updated_at = {mark} "
            f"WHERE id = {mark}", params)
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
    whether it counts now, uptime over 24 h, the last hour's latencies."""
    plan = current_plan(session)
    planned = plan.endpoints.get(slug)
    if planned is None:
        return []
    now = dt.datetime.now(dt.UTC)
    online = online_locations(session)
    views = {view.location: view
             for view in location_views(session, [planned.endpoint_id]).get(planned.endpoint_id, [])}
    seen = counting(views.values(), since=_since(_db_time(session), now, planned.interval), online=online,
                    locations=planned.locations)
    from_db = store._time_from_db(session.get_bind().dialect)
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
            results.c.latency_ms.is_not(None)).order_by(results.c.checked_at_ms)):
        sparks.setdefault(loc, []).append(float(latency))
    out = []
    for location in planned.locations:
        view = views.get(location)
        checks, failures = uptime.get(location, (0, 0))
        out.append({
            "location": location,
            "status": view.status if view is not None else Status.UNKNOWN.value,
            "counts": location in seen,
            "online": location in online,
            "last_checked_at": from_db(view.last_checked) if view is not None else None,
            "latency_ms": view.latency_ms if view is not None else None,
            "message": view.message if view is not None else "",
            "uptime_24h": (1 - (failures or 0) / checks) if checks else None,
            "sparkline": sparks.get(location, [])[-SPARK_POINTS:],
        })
    return out


@dataclass(frozen=True, slots=True)
class Agreement:
    """What the counting locations see, told by the worst of it: ``2/3 down`` (two of the three locations
    that count see it down), ``3/3 up``."""

    seeing: int       # counting locations that see ``status``
    counting: int     # locations that count now
    status: str       # the worst status a counting location sees (down, degraded, up); unknown: none counts

    def __str__(self) -> str:
        return f"{self.seeing}/{self.counting} {self.status}" if self.counting else "no location reporting"


def agreement(session: Session, slugs: Sequence[str]) -> dict[str, Agreement]:
    """slug → what its counting locations see (worst first), for the multi-location endpoints among ``slugs``."""
    plan = current_plan(session)
    wanted = [plan.endpoints[s] for s in slugs if s in plan.endpoints]
    if not wanted:
        return {}
    now = dt.datetime.now(dt.UTC)
    db_time = _db_time(session)
    online = online_locations(session)
    views = location_views(session, [p.endpoint_id for p in wanted])
    found = {}
    for planned in wanted:
        seen = _seen_statuses(counting(views.get(planned.endpoint_id, []), since=_since(db_time, now, planned.interval),
                                       online=online, locations=planned.locations))
        worst = next((status for status in (Status.DOWN, Status.DEGRADED, Status.UP) if status in seen),
                     Status.UNKNOWN)
        found[planned.slug] = Agreement(sum(1 for status in seen if status is worst), len(seen), worst.value)
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
