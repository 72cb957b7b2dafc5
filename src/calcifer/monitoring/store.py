"""Where check results go: a batched writer, the status rules, hourly aggregates, retention, reports.

The scheduler never touches the database from its event loop. It appends a ``ResultRecord`` to the
writer's queue (a ``deque``: appending is thread-safe and costs nothing). ``ProcessWriter`` (the
scheduler's default) ships the queue every ~0.5 s to a child process running a ``ResultWriter``; a
``ResultWriter`` alone does the same work in a thread of the scheduler's process. Either way, with its own
session, one transaction a batch:

1. the raw results (one executemany straight to the driver, on PostgreSQL a COPY; on SQLite this takes
   the write lock first),
2. the endpoints' current ``MonitorState`` rows, read back inside the transaction, so a "check now" run
   by another process (a web worker) and the scheduler agree on consecutive failures and status,
3. the new state of every endpoint of the batch (one executemany UPDATE), events for status changes and
   failures, and ``hooks.status_changed`` (incidents, notifications) in the same transaction,
4. the hourly aggregates, merged into existing rows by an upsert (counts add up, min/max/avg combine).

State rows whose only news is "checked again, still fine" and the hourly deltas are coalesced in the
writer (``Pending``) for up to ``coalesce_seconds`` (5 s); status changes and failures never wait.

Latency p95 per hour: the writer keeps every latency of the current and previous hour per endpoint in
memory (``array('f')``, 4 bytes a check: 10,000 endpoints at 30 s is ~5 MB) and writes the exact p95
with each batch. An hour that began before the writer started is first loaded from the raw results
(one indexed query per batch, on the first result of each endpoint), so the p95 stays exact across
restarts. A one-off write (``check_now`` in a web worker) keeps the stored p95 as it is.

Failure events are written for the first failed check of a streak and whenever the failure message
changes, not for every repeat: a target down for a year must not grow the events table by a row a check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import operator
import os
import socket
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from calcifer.config import Settings
from calcifer.monitoring import hooks
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models.checks import (
    MonitorEvent,
    MonitorHourly,
    MonitorResult,
    MonitorState,
    PushHeartbeat,
    SchedulerStatus,
)

log = logging.getLogger("calcifer.monitoring")

STATUS_ROW_ID = 1
HOUR = 3600
MESSAGE_MAX = 300
STATE_MESSAGE_MAX = 500
# Keep id lists short enough for every engine's parameter limit.
CHUNK = 900
MONITOR_TABLES = ("monitor_results", "monitor_hourly", "monitor_events", "monitor_states", "monitor_push",
                  "monitor_scheduler")


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def holder_name() -> str:
    """"host:pid": who runs the scheduler (shown in Settings)."""
    return f"{socket.gethostname()}:{os.getpid()}"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


def _utc(seconds: float) -> dt.datetime:
    # the same value as datetime.fromtimestamp(seconds, UTC), in half its time (the writer calls it a lot)
    return _EPOCH + dt.timedelta(seconds=seconds)


@dataclass(slots=True)
class ResultRecord:
    """One finished check, as the scheduler hands it to the writer."""

    endpoint_id: int
    slug: str
    service: str | None
    retries: int
    checked_at: float                # epoch seconds (UTC) when the check started
    code: ResultCode
    latency_ms: float | None
    message: str = ""
    permanent: bool = False
    in_maintenance: bool = False
    next_due_at: float | None = None  # epoch seconds; None keeps the stored value (check now)
    cert: dict[str, Any] | None = None  # CertInfo.as_json()
    cert_days_left: float | None = None
    cert_expires_at: float | None = None


# Records cross the pipe to the writer process as plain tuples: pickling a slots dataclass runs its
# Python-level __getstate__ per record (3.2 µs against 0.8 µs for a tuple, measured), and the sender
# thread holds the GIL the scheduler's loop needs while it pickles.
_record_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(ResultRecord)))


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


# -- the status rules ---------------------------------------------------------------------------------


def next_status(*, previous: Status, failures: int, paused: bool, code: ResultCode, permanent: bool,
                retries: int) -> tuple[Status, int]:
    """The endpoint's status and consecutive failures after one result.

    ``retries`` consecutive failed checks are tolerated: the one after them makes the endpoint down
    (``retries=0``: the first failure). A failure that says retrying cannot help (``permanent``) is down
    at once. Until then the endpoint keeps its previous status. A paused endpoint stays paused.
    """
    if code is ResultCode.DOWN:
        failures += 1
        status = Status.DOWN if (permanent or failures > retries) else previous
    else:
        failures = 0
        status = code.status
    if paused:
        status = Status.PAUSED
    return status, failures


def _p95(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(0.95 * len(ordered))) - 1])


# -- aggregates ---------------------------------------------------------------------------------------


class _Samples:
    """Every latency of the current and previous UTC hour per endpoint, for an exact hourly p95."""

    def __init__(self, started: float) -> None:
        self.started_hour = int(started // HOUR) * HOUR
        self.data: dict[tuple[int, int], array[float]] = {}
        self.newest_hour = 0

    def missing(self, keys: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """Keys of hours begun before this writer started that are not loaded yet."""
        return [k for k in keys if k[1] <= self.started_hour and k not in self.data]

    def add(self, key: tuple[int, int], latency: float) -> None:
        values = self.data.get(key)
        if values is None:
            values = self.data[key] = array("f")
        values.append(latency)
        if key[1] > self.newest_hour:
            self._forget_before(key[1] - HOUR)
            self.newest_hour = key[1]

    def _forget_before(self, hour: int) -> None:
        for key in [k for k in self.data if k[1] < hour]:
            del self.data[key]

    def p95(self, key: tuple[int, int]) -> float | None:
        values = self.data.get(key)
        return _p95(values) if values is not None else None


def _load_samples(session: Session, samples: _Samples, keys: list[tuple[int, int]]) -> None:
    """Read the raw latencies of hours begun before the writer started (exact p95 after a restart)."""
    by_hour: dict[int, list[int]] = {}
    for endpoint_id, hour in keys:
        by_hour.setdefault(hour, []).append(endpoint_id)
        samples.data[(endpoint_id, hour)] = array("f")
    table = _table(MonitorResult)
    for hour, ids in by_hour.items():
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            rows = session.execute(select(table.c.endpoint_id, table.c.latency_ms).where(
                table.c.endpoint_id.in_(chunk), table.c.checked_at_ms >= hour * 1000,
                table.c.checked_at_ms < (hour + HOUR) * 1000, table.c.latency_ms.is_not(None)))
            for endpoint_id, latency in rows:
                samples.data[(endpoint_id, hour)].append(latency)


def _dialect_insert(session: Session, table: Any) -> Any:
    name = session.get_bind().dialect.name
    return (postgresql.insert(table) if name == "postgresql" else sqlite.insert(table))


def _least(session: Session, a: Any, b: Any) -> Any:
    both = (func.coalesce(a, b), func.coalesce(b, a))
    return func.least(*both) if session.get_bind().dialect.name == "postgresql" else func.min(*both)


def _greatest(session: Session, a: Any, b: Any) -> Any:
    both = (func.coalesce(a, b), func.coalesce(b, a))
    return func.greatest(*both) if session.get_bind().dialect.name == "postgresql" else func.max(*both)


@dataclass(slots=True)
class _Hour:
    checks: int = 0
    failures: int = 0
    degraded: int = 0
    maintenance_checks: int = 0
    maintenance_failures: int = 0
    latency_n: int = 0
    latency_sum: float = 0.0
    latency_min: float | None = None
    latency_max: float | None = None


@dataclass
class Pending:
    """What a writer coalesces between transactions: hourly deltas, and state rows whose only news is
    "checked again, still fine" (status, failures, message and maintenance unchanged). Status changes
    and failures are never deferred."""

    hours: dict[tuple[int, int], _Hour] = field(default_factory=dict)
    # endpoint id -> (checked at, next due at, latency ms, written at): epoch seconds, converted when written
    states: dict[int, tuple[float, float | None, float | None, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.hours or self.states)


def _accumulate_hours(hours: dict[tuple[int, int], _Hour], records: Sequence[ResultRecord],
                      samples: _Samples | None) -> None:
    for record in records:
        key = (record.endpoint_id, int(record.checked_at // HOUR) * HOUR)
        agg = hours.get(key)
        if agg is None:
            agg = hours[key] = _Hour()
        down = record.code is ResultCode.DOWN
        if record.in_maintenance:
            agg.maintenance_checks += 1
            agg.maintenance_failures += down
        else:
            agg.checks += 1
            agg.failures += down
            agg.degraded += record.code is ResultCode.DEGRADED
        latency = record.latency_ms
        if latency is not None:
            agg.latency_n += 1
            agg.latency_sum += latency
            agg.latency_min = latency if agg.latency_min is None else min(agg.latency_min, latency)
            agg.latency_max = latency if agg.latency_max is None else max(agg.latency_max, latency)
            if samples is not None:
                samples.add(key, latency)


def _write_hours(session: Session, hours: dict[tuple[int, int], _Hour], samples: _Samples | None) -> None:
    if not hours:
        return
    to_db = _time_to_db(session.get_bind().dialect)
    hour_values = {hour: to_db(hour) for hour in {key[1] for key in hours}}
    rows = []
    for (endpoint_id, hour), agg in hours.items():
        rows.append({
            "endpoint_id": endpoint_id, "hour": hour_values[hour], "checks": agg.checks, "failures": agg.failures,
            "degraded": agg.degraded, "maintenance_checks": agg.maintenance_checks,
            "maintenance_failures": agg.maintenance_failures,
            "latency_min": agg.latency_min, "latency_max": agg.latency_max,
            "latency_avg": agg.latency_sum / agg.latency_n if agg.latency_n else None,
            "latency_p95": samples.p95((endpoint_id, hour)) if samples is not None else None,
            "n": agg.latency_n,
        })
    _executemany_compiled(session, _hourly_upsert(session), rows)


def _hourly_upsert(session: Session) -> Any:
    """INSERT … ON CONFLICT that adds an hour's deltas to its row (counts add, min/max/avg merge)."""
    table = _table(MonitorHourly)
    stmt = _dialect_insert(session, table).values(
        endpoint_id=bindparam("endpoint_id"), hour=bindparam("hour"), checks=bindparam("checks"),
        failures=bindparam("failures"), degraded=bindparam("degraded"),
        maintenance_checks=bindparam("maintenance_checks"), maintenance_failures=bindparam("maintenance_failures"),
        latency_min=bindparam("latency_min"), latency_avg=bindparam("latency_avg"),
        latency_p95=bindparam("latency_p95"), latency_max=bindparam("latency_max"))
    old, new = table.c, stmt.excluded
    old_n = old.checks + old.maintenance_checks
    stmt = stmt.on_conflict_do_update(index_elements=[old.endpoint_id, old.hour], set_={
        "checks": old.checks + new.checks,
        "failures": old.failures + new.failures,
        "degraded": old.degraded + new.degraded,
        "maintenance_checks": old.maintenance_checks + new.maintenance_checks,
        "maintenance_failures": old.maintenance_failures + new.maintenance_failures,
        "latency_min": _least(session, old.latency_min, new.latency_min),
        "latency_max": _greatest(session, old.latency_max, new.latency_max),
        # Weighted by checks (every check has a latency: the scheduler measures one when the check
        # does not).
        "latency_avg": func.coalesce(
            (func.coalesce(old.latency_avg, 0.0) * old_n + func.coalesce(new.latency_avg, 0.0) * bindparam("n"))
            / func.nullif(old_n + bindparam("n"), 0), old.latency_avg),
        "latency_p95": func.coalesce(new.latency_p95, old.latency_p95),
    })
    return stmt


# -- one batch ----------------------------------------------------------------------------------------


def _event_message(text_: str) -> str:
    return text_[:STATE_MESSAGE_MAX]


def _state_update(session: Session, params: list[dict[str, Any]]) -> None:
    if not params:
        return
    states = _table(MonitorState)
    session.execute(update(states).where(states.c.id == bindparam("b_id")).values(
        status=bindparam("b_status"), status_since=bindparam("b_since"),
        last_checked_at=bindparam("b_checked"),
        next_due_at=func.coalesce(bindparam("b_next", type_=states.c.next_due_at.type), states.c.next_due_at),
        latency_ms=bindparam("b_latency"), message=bindparam("b_message"),
        consecutive_failures=bindparam("b_failures"), in_maintenance=bindparam("b_maint"),
        cert_expires_at=func.coalesce(bindparam("b_cert_at", type_=states.c.cert_expires_at.type),
                                      states.c.cert_expires_at),
        cert_days_left=func.coalesce(bindparam("b_cert_days", type_=states.c.cert_days_left.type),
                                     states.c.cert_days_left),
        cert_info=func.coalesce(bindparam("b_cert", type_=states.c.cert_info.type), states.c.cert_info),
        updated_at=bindparam("b_now")), params)


# -- straight to the driver ---------------------------------------------------------------------------
# The writer's bulk statements (quiet state rows, hourly upserts) skip SQLAlchemy's per-row parameter
# work, which was most of the writer process's CPU at 40,000 endpoints (bench/monitor_scale.py's
# saturated phase). Values still reach the database exactly as the ORM would write them.


def _placeholder(dialect: Any) -> str:
    """The driver's positional parameter mark."""
    return "%s" if dialect.paramstyle in ("format", "pyformat") else "?"


def _sqlite_time(seconds: float) -> str:
    return (_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat(" ", "microseconds")


def _time_to_db(dialect: Any) -> Callable[[float], Any]:
    """Epoch seconds → the driver value of a ``UTCDateTime`` column on ``dialect``.

    On SQLite that is the column type's text form; its own bind processor takes ~3 µs a value, so a
    direct format is used when it gives the very same text (checked here, on a sample), else the processor.
    """
    process = _table(MonitorState).c.last_checked_at.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return _utc
    sample = 1_800_000_123.456789
    if dialect.name == "sqlite" and _sqlite_time(sample) == process(_utc(sample)):
        return _sqlite_time
    return lambda seconds: process(_utc(seconds))


def _executemany_compiled(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """Run ``stmt`` once per row of plain driver values. The statement's own literals (bound values
    SQLAlchemy made of constants) are filled in from the compiled form."""
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    constants = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
    params: list[Any]
    if compiled.positional:
        order = compiled.positiontup or []
        params = [tuple(row[name] if name in row else constants[name] for name in order) for row in rows]
    else:
        params = [{**constants, **row} for row in rows]
    session.connection().exec_driver_sql(str(compiled), params)


def _time_from_db(dialect: Any) -> Callable[[Any], dt.datetime | None]:
    """A ``UTCDateTime`` column's raw driver value → an aware datetime (as the ORM would read it)."""
    process = _table(MonitorState).c.status_since.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else (lambda value: value)


def _current_states(session: Session, ids: list[int]) -> dict[int, list[Any]]:
    """id -> [status, consecutive failures, paused, message, status since (raw driver value), in
    maintenance] for the rows a batch moves; locked on PostgreSQL (pause and resume write them too)."""
    dialect = session.get_bind().dialect
    mark = _placeholder(dialect)
    lock = " FOR UPDATE" if dialect.name == "postgresql" else ""
    current: dict[int, list[Any]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        rows = session.connection().exec_driver_sql(
            "SELECT id, status, consecutive_failures, paused, message, status_since, in_maintenance "
            f"FROM monitor_states WHERE id IN ({', '.join([mark] * len(chunk))}){lock}", tuple(chunk))
        for row in rows:
            current[row[0]] = [Status(row[1]), row[2], bool(row[3]), row[4], row[5], bool(row[6])]
    return current


def _quiet_state_update(session: Session, quiet: dict[int, tuple[float, float | None, float | None, float]]) -> None:
    """State rows whose only news is "checked again, still fine": last check, next due, latency."""
    if not quiet:
        return
    dialect = session.get_bind().dialect
    to_db = _time_to_db(dialect)
    mark = _placeholder(dialect)
    stamps = {written: to_db(written) for written in {row[3] for row in quiet.values()}}
    session.connection().exec_driver_sql(
        f"UPDATE monitor_states SET last_checked_at = {mark}, next_due_at = COALESCE({mark}, next_due_at), "
        f"latency_ms = {mark}, updated_at = {mark} WHERE id = {mark}",
        [(to_db(checked), None if next_due is None else to_db(next_due), latency, stamps[written], eid)
         for eid, (checked, next_due, latency, written) in quiet.items()])


_RESULT_COLUMNS = "endpoint_id, checked_at_ms, status, latency_ms, message, in_maintenance"


def _insert_results(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Append raw result rows (plain driver values, in ``_RESULT_COLUMNS`` order).

    On PostgreSQL with psycopg they go through COPY: an INSERT per row costs the server a parse, bind
    and execute each, which on a 2-core machine took CPU from the checks themselves at saturation.
    """
    connection = session.connection()
    driver = connection.connection.driver_connection if connection.dialect.name == "postgresql" else None
    if driver is not None and hasattr(driver, "cursor"):
        with driver.cursor() as cursor:
            if hasattr(cursor, "copy"):  # psycopg 3
                with cursor.copy(f"COPY monitor_results ({_RESULT_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
    mark = _placeholder(connection.dialect)
    connection.exec_driver_sql(
        f"INSERT INTO monitor_results ({_RESULT_COLUMNS}) VALUES ({', '.join([mark] * 6)})", rows)


def write_pending(session: Session, pending: Pending, samples: _Samples | None = None) -> None:
    """Write what ``pending`` coalesced (hourly deltas, quiet state rows) and empty it; not committed."""
    _quiet_state_update(session, pending.states)
    _write_hours(session, pending.hours, samples)
    pending.states.clear()
    pending.hours.clear()


def write_batch(session: Session, records: Sequence[ResultRecord], *, samples: _Samples | None = None,
                now: dt.datetime | None = None, pending: Pending | None = None,
                write_pending_now: bool = True) -> list[hooks.StatusChange]:
    """Write ``records`` (in the order they were checked) in the session's transaction; not committed.

    Inserts raw results, moves each endpoint's state by the status rules, writes events, calls the
    status-change hooks (in a savepoint: a failing hook is logged and undone, the results stay) and rolls
    the hourly aggregates. With a ``pending`` (the writer's), hourly deltas and state rows whose only
    news is "checked again, still fine" are coalesced there and written when ``write_pending_now``.
    Returns the status changes.
    """
    if pending is None:
        pending, write_pending_now = Pending(), True
    if not records:
        if write_pending_now:
            write_pending(session, pending, samples)
        return []
    now = now or dt.datetime.now(dt.UTC)
    if samples is not None:
        # before this batch's rows are inserted, or they would be counted twice
        missing = samples.missing({(r.endpoint_id, int(r.checked_at // HOUR) * HOUR) for r in records})
        if missing:
            _load_samples(session, samples, missing)
    # Plain values (ints, floats, text, bools) straight to the driver: the per-row work SQLAlchemy's
    # executemany does here is most of the writer's CPU at thousands of results a second.
    _insert_results(session, [
        (r.endpoint_id, int(r.checked_at * 1000), int(r.code), None if r.latency_ms is None else round(r.latency_ms, 2),
         (r.message[:MESSAGE_MAX] or None) if r.code is not ResultCode.UP else None, bool(r.in_maintenance))
        for r in records])

    current = _current_states(session, sorted({r.endpoint_id for r in records}))

    changes: list[hooks.StatusChange] = []
    events: list[dict[str, Any]] = []
    latest: dict[int, tuple[ResultRecord, list[Any], bool]] = {}
    for record in records:
        state = current.get(record.endpoint_id)
        if state is None:  # the state row is gone (should not happen): keep the raw result only
            continue
        previous, before, paused, last_message, since, was_maintenance = state
        status, failures = next_status(previous=previous, failures=before, paused=paused, code=record.code,
                                       permanent=record.permanent, retries=record.retries)
        message = record.message[:STATE_MESSAGE_MAX]
        quiet = (status is previous and failures == 0 and before == 0 and message == last_message
                 and record.in_maintenance == was_maintenance and record.cert is None)
        if quiet:  # the common case at scale: nothing to record but the check itself
            earlier = latest.get(record.endpoint_id)  # a loud result earlier in the batch keeps it loud
            latest[record.endpoint_id] = (record, state, earlier is not None and earlier[2])
            continue
        at = _utc(record.checked_at)
        if record.code is ResultCode.DOWN and (failures == 1 or message != last_message):
            events.append({"endpoint_id": record.endpoint_id, "at": at, "kind": EventKind.FAILURE.value,
                           "old_status": None, "new_status": None, "message": message,
                           "in_maintenance": record.in_maintenance})
        if status is not previous:
            events.append({"endpoint_id": record.endpoint_id, "at": at, "kind": EventKind.STATUS_CHANGE.value,
                           "old_status": previous.value, "new_status": status.value, "message": message,
                           "in_maintenance": record.in_maintenance})
            changes.append(hooks.StatusChange(
                endpoint_id=record.endpoint_id, slug=record.slug, service=record.service, old=previous,
                new=status, at=at, message=message, in_maintenance=record.in_maintenance,
                cert_days_left=record.cert_days_left))
            since = at
        state[:] = [status, failures, paused, message, since, record.in_maintenance]
        latest[record.endpoint_id] = (record, list(state), True)

    immediate: list[dict[str, Any]] = []
    written = now.timestamp()
    since_from_db = _time_from_db(session.get_bind().dialect)
    for eid, (r, state, loud) in latest.items():
        if not loud:
            pending.states[eid] = (r.checked_at, r.next_due_at, r.latency_ms, written)
            continue
        since = state[4] if isinstance(state[4], dt.datetime) or state[4] is None else since_from_db(state[4])
        params = {
            "b_id": eid, "b_status": state[0].value, "b_since": since, "b_checked": _utc(r.checked_at),
            "b_next": None if r.next_due_at is None else _utc(r.next_due_at),
            "b_latency": r.latency_ms, "b_message": state[3], "b_failures": state[1],
            "b_maint": r.in_maintenance,
            "b_cert_at": None if r.cert_expires_at is None else _utc(r.cert_expires_at),
            "b_cert_days": r.cert_days_left, "b_cert": r.cert, "b_now": now}
        immediate.append(params)
        pending.states.pop(eid, None)
    _state_update(session, immediate)
    if events:
        session.execute(insert(_table(MonitorEvent)), events)
    _call_hooks(session, changes)
    _accumulate_hours(pending.hours, records, samples)
    if write_pending_now:
        write_pending(session, pending, samples)
    return changes


def _call_hooks(session: Session, changes: list[hooks.StatusChange]) -> None:
    if not changes or not hooks.STATUS_CHANGE_HOOKS:
        return
    try:
        with session.begin_nested():
            hooks.status_changed(session=session, changes=changes)
    except Exception:
        # Results and states must not be lost because an incident or notification hook failed.
        log.exception("a status-change hook failed; %d change(s) recorded without it", len(changes))


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


# -- retention ----------------------------------------------------------------------------------------


@dataclass
class PruneResult:
    results: int = 0
    events: int = 0
    hourly: int = 0
    done: bool = True


def prune(session_factory: sessionmaker[Session], *, settings: Settings, now: float | None = None,
          chunk: int = 5000, budget_seconds: float = 2.0, pause: Callable[[], None] | None = None) -> PruneResult:
    """Delete raw results older than ``monitor_raw_retention_hours`` and aggregates and events older than
    ``monitor_aggregate_retention_days``, ``chunk`` rows a transaction so no lock is held long.

    Stops after ``budget_seconds`` (``done`` False: call again later). ``pause`` runs between chunks.
    """
    now = time.time() if now is None else now
    deadline = time.monotonic() + budget_seconds
    raw_cutoff_ms = int((now - settings.monitor_raw_retention_hours * HOUR) * 1000)
    agg_cutoff = _utc(now - settings.monitor_aggregate_retention_days * 86_400)
    outcome = PruneResult()
    results, events, hourly = _table(MonitorResult), _table(MonitorEvent), _table(MonitorHourly)

    def step(fn: Callable[[Session], int]) -> int:
        with session_factory() as session:
            count = fn(session)
            session.commit()
        if pause is not None:
            pause()
        return count

    # Raw results: ids grow with time, so the oldest rows are the lowest ids; delete by id range (the
    # primary key) rather than scanning for old timestamps.
    def results_chunk(session: Session) -> int:
        oldest = session.execute(select(results.c.id, results.c.checked_at_ms).order_by(results.c.id)
                                 .limit(1)).first()
        if oldest is None or oldest[1] >= raw_cutoff_ms:
            return 0
        upto = oldest[0] + chunk
        return _rowcount(session.execute(delete(results).where(results.c.id < upto,
                                                               results.c.checked_at_ms < raw_cutoff_ms)))

    def oldest_results_done(session: Session) -> bool:
        oldest = session.execute(select(results.c.checked_at_ms).order_by(results.c.id).limit(1)).first()
        return oldest is None or oldest[0] >= raw_cutoff_ms

    while time.monotonic() < deadline:
        removed = step(results_chunk)
        outcome.results += removed
        if removed == 0:
            with session_factory() as session:
                if oldest_results_done(session):
                    break

    def events_chunk(session: Session) -> int:
        ids = list(session.execute(select(events.c.id).where(events.c.at < agg_cutoff).limit(chunk)).scalars())
        if not ids:
            return 0
        session.execute(delete(events).where(events.c.id.in_(ids)))
        return len(ids)

    while time.monotonic() < deadline:
        removed = step(events_chunk)
        outcome.events += removed
        if removed < chunk:
            break

    # Aggregates: by endpoint, so each delete is a range of the primary key (endpoint_id, hour).
    with session_factory() as session:
        endpoint_ids = list(session.execute(select(MonitorState.id).order_by(MonitorState.id)).scalars())
    per_tx = max(1, chunk // 50)
    position = 0
    while position < len(endpoint_ids) and time.monotonic() < deadline:
        batch = endpoint_ids[position:position + per_tx]

        def hourly_chunk(session: Session, batch: list[int] = batch) -> int:
            count = 0
            for eid in batch:
                count += _rowcount(session.execute(delete(hourly).where(hourly.c.endpoint_id == eid,
                                                                        hourly.c.hour < agg_cutoff)))
            return count

        outcome.hourly += step(hourly_chunk)
        position += per_tx
    outcome.done = time.monotonic() < deadline
    return outcome


# -- storage report -----------------------------------------------------------------------------------


def _table_bytes(session: Session) -> dict[str, int | None]:
    dialect = session.get_bind().dialect.name
    sizes: dict[str, int | None] = {}
    if dialect == "postgresql":
        for table in MONITOR_TABLES:
            sizes[table] = int(session.execute(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"),
                                               {"t": table}).scalar_one())
        return sizes
    try:
        rows = session.execute(text(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")).all()
        by_object = {name: int(size) for name, size in rows}
        indexes = session.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'")).all()
        for table in MONITOR_TABLES:
            sizes[table] = by_object.get(table, 0) + sum(by_object.get(name, 0) for name, tbl in indexes
                                                          if tbl == table)
        return sizes
    except Exception:  # dbstat is an optional SQLite module
        session.rollback()
    page_size = int(session.execute(text("PRAGMA page_size")).scalar_one())
    pages = int(session.execute(text("PRAGMA page_count")).scalar_one())
    return {table: None for table in MONITOR_TABLES} | {"_database": page_size * pages}


# Tables that grow to millions of rows: their row counts are estimated from the id range (rows are
# only ever deleted oldest first) or the planner's statistics, never counted.
BIG_TABLES = ("monitor_results", "monitor_events", "monitor_hourly")
REPORT_MAX_AGE = 300.0
_reports: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = {}


def _rows(session: Session, table: str) -> int:
    if table in BIG_TABLES:
        if session.get_bind().dialect.name == "postgresql":
            if table == "monitor_hourly":
                estimate = session.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                                           {"t": table}).scalar()
                if estimate is not None and estimate >= 0:
                    return int(estimate)
            else:
                low, high = session.execute(text(f"SELECT MIN(id), MAX(id) FROM {table}")).one()  # noqa: S608
                return 0 if low is None else int(high - low + 1)
        else:
            low, high = session.execute(text(f"SELECT MIN(rowid), MAX(rowid) FROM {table}")).one()  # noqa: S608
            return 0 if low is None else int(high - low + 1)
    return int(session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608


def storage_report(*, session: Session, settings: Settings, max_age: float = REPORT_MAX_AGE) -> dict[str, Any]:
    """Rows and bytes per monitoring table, and the storage one endpoint needs for a year at a 60 s
    interval under the retention settings.

    ``{"engine", "tables": {name: {"rows", "bytes", "bytes_per_row"}}, "retention": {...},
    "per_endpoint_year_bytes", "per_endpoint_year_basis", "measured_at"}``. Bytes per row are measured
    when the tables hold rows, otherwise typical figures measured on SQLite (``basis`` says which).
    Row counts of the big tables are estimates (id range, planner statistics). Measuring bytes reads
    every page on SQLite (``dbstat``), so a report is reused for ``max_age`` seconds in this process.
    """
    bind = session.get_bind()
    key = (str(bind.engine.url), settings.database_schema)
    cached = _reports.get(key)
    if cached is not None and time.monotonic() - cached[0] < max_age:
        return cached[1]
    dialect = session.get_bind().dialect.name
    sizes = _table_bytes(session)
    tables: dict[str, dict[str, Any]] = {}
    for table in MONITOR_TABLES:
        rows = _rows(session, table)
        size = sizes.get(table)
        tables[table] = {"rows": rows, "bytes": size,
                         "bytes_per_row": (size / rows) if (size is not None and rows >= 100) else None}
    measured = all(tables[t]["bytes_per_row"] for t in ("monitor_results", "monitor_hourly"))
    # Typical on-disk bytes per row (SQLite, with indexes) when there is too little data to measure.
    raw_row = tables["monitor_results"]["bytes_per_row"] or 45.0
    hourly_row = tables["monitor_hourly"]["bytes_per_row"] or 120.0
    raw_rows = settings.monitor_raw_retention_hours * 60          # one check a minute, kept N hours
    hourly_rows = min(settings.monitor_aggregate_retention_days, 365) * 24
    # Aggregates and events are kept N days, but a year is asked for: count at most a year of them.
    per_year = raw_rows * raw_row + hourly_rows * hourly_row
    report = {
        "engine": dialect,
        "tables": tables,
        "total_bytes": sum(v for v in sizes.values() if v) if sizes else None,
        "retention": {"raw_hours": settings.monitor_raw_retention_hours,
                      "aggregate_days": settings.monitor_aggregate_retention_days},
        "per_endpoint_year_bytes": int(per_year),
        "per_endpoint_year_basis": "measured" if measured else "typical",
        "raw_row_bytes": round(raw_row, 1),
        "hourly_row_bytes": round(hourly_row, 1),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    _reports[key] = (time.monotonic(), report)
    return report


# -- the writer thread --------------------------------------------------------------------------------


@dataclass
class WriterStats:
    written: int = 0
    batches: int = 0
    failed_batches: int = 0
    dropped: int = 0
    last_batch_ms: float = 0.0
    busy_seconds: float = 0.0
    changes: int = 0
    pruned: dict[str, int] = field(default_factory=lambda: {"results": 0, "events": 0, "hourly": 0})


class ResultWriter:
    """A thread that writes queued results in batches with its own session (see the module docstring).

    ``put`` is called from the scheduler's event loop and never blocks. ``stop`` writes what is queued
    and waits for the thread.
    """

    def __init__(self, session_factory: sessionmaker[Session], *, settings: Settings,
                 batch_seconds: float = 0.5, batch_rows: int = 2000, max_queue: int = 500_000,
                 status_every: float = 3.0, prune_every: float = 600.0, coalesce_seconds: float = 5.0) -> None:
        self.session_factory = session_factory
        self.coalesce_seconds = coalesce_seconds
        self._pending = Pending()
        self._last_pending = time.monotonic()
        self.settings = settings
        self.batch_seconds = batch_seconds
        self.batch_rows = batch_rows
        self.max_queue = max_queue
        self.status_every = status_every
        self.prune_every = prune_every
        self.stats = WriterStats()
        self.snapshot: Callable[[], StatusSnapshot] | None = None
        self._queue: deque[ResultRecord] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._flushed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._samples = _Samples(time.time())
        self._last_status = 0.0
        self._last_prune = time.monotonic()

    # called from any thread
    def put(self, record: ResultRecord) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.stats.dropped += 1
            return
        queue.append(record)
        if len(queue) == self.batch_rows:
            self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="calcifer-result-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def flush(self, *, force: bool = True) -> None:
        """Write everything queued now, in the caller's thread (tests, stop, and the writer's own loop).

        Coalesced state rows and hourly deltas are written too when ``force`` or when they have waited
        ``coalesce_seconds``.
        """
        queue = self._queue
        while queue:
            batch: list[ResultRecord] = []
            while queue and len(batch) < self.batch_rows:
                batch.append(queue.popleft())
            self._write(batch, force=force and not queue)
        if self._pending and (force or self._pending_due()):
            self._write([], force=True)

    def _pending_due(self) -> bool:
        return time.monotonic() - self._last_pending >= self.coalesce_seconds

    def _write(self, batch: list[ResultRecord], *, force: bool) -> None:
        started = time.perf_counter()
        write_now = force or self._pending_due()
        for attempt in range(3):
            try:
                with self.session_factory() as session:
                    changes = write_batch(session, batch, samples=self._samples, pending=self._pending,
                                          write_pending_now=write_now)
                    session.commit()
                self.stats.written += len(batch)
                self.stats.batches += 1 if batch else 0
                self.stats.changes += len(changes)
                if write_now:
                    self._last_pending = time.monotonic()
                break
            except Exception:
                log.exception("writing %d check results failed (attempt %d)", len(batch), attempt + 1)
                self.stats.failed_batches += 1
                if self._stopping.is_set():
                    break
                time.sleep(1.0)
        elapsed = time.perf_counter() - started
        self.stats.last_batch_ms = elapsed * 1000
        self.stats.busy_seconds += elapsed

    def write_status_now(self) -> None:
        if self.snapshot is None:
            return
        try:
            with self.session_factory() as session:
                write_status(session, self.snapshot())
                session.commit()
        except Exception:
            log.exception("the scheduler status row could not be written")
        self._last_status = time.monotonic()

    def prune_now(self) -> PruneResult:
        result = prune(self.session_factory, settings=self.settings, budget_seconds=1.0,
                       pause=lambda: self.flush(force=False) if len(self._queue) >= self.batch_rows else None)
        for name in ("results", "events", "hourly"):
            self.stats.pruned[name] += getattr(result, name)
        # Not finished within its budget: come back in a minute rather than in prune_every.
        self._last_prune = time.monotonic() - (0 if result.done else max(0.0, self.prune_every - 60))
        return result

    def _run(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                self._wake.wait(self.batch_seconds)
                self._wake.clear()
            try:
                self.flush(force=stopping)
                now = time.monotonic()
                if self.snapshot is not None and now - self._last_status >= self.status_every:
                    self.write_status_now()
                if not stopping and now - self._last_prune >= self.prune_every:
                    self.prune_now()
            except Exception:
                log.exception("the result writer hit an error; it keeps going")
            if stopping:
                self.flush()
                if self.snapshot is not None:
                    self.write_status_now()
                return


# -- the writer in a process of its own ---------------------------------------------------------------


def _writer_process_main(settings_values: dict[str, Any], conn: Any, counters: Any, batch_rows: int,
                         status_every: float, prune_every: float, wire: Callable[[], object] | None = None) -> None:
    """The child: a ``ResultWriter`` fed by batches received on ``conn`` (see ``ProcessWriter``)."""
    import signal

    from calcifer.db import make_engine, make_session_factory
    from calcifer.logging import configure

    # The parent decides when to stop (Ctrl-C, or a SIGTERM sent to the whole group, reaches both): it
    # sends what is queued, then "stop". If the parent dies, the pipe ends and this writes and exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    configure(fmt=settings.log_format.value, level=settings.log_level)
    if wire is not None:
        try:
            wire()  # the parent's composition root: the same status-change subscribers run here
        except Exception:  # results must still be written when a hook module is broken
            log.exception("the status-change hooks could not be wired; writing results without them")
    engine = make_engine(settings.resolved_database_url, schema=settings.database_schema)
    writer = ResultWriter(make_session_factory(engine), settings=settings, batch_rows=batch_rows,
                          status_every=status_every, prune_every=prune_every)
    latest: list[StatusSnapshot] = []
    writer.snapshot = lambda: latest[-1]

    def publish() -> None:  # the parent reads its writer stats from these
        counters[0], counters[1], counters[2] = (writer.stats.written, writer.stats.batches,
                                                 writer.stats.failed_batches)

    try:
        while True:
            if conn.poll(1.0):
                kind, payload = conn.recv()
                if kind == "results":
                    writer._queue.extend(ResultRecord(*row) for row in payload)
                    writer.flush(force=False)
                elif kind == "status":
                    latest[:] = [payload]
                elif kind == "stop":
                    writer.flush()
                    if latest:
                        writer.write_status_now()
                    return
            writer.flush(force=False)  # coalesced rows that waited long enough
            now = time.monotonic()
            if latest and now - writer._last_status >= status_every:
                writer.write_status_now()
            if now - writer._last_prune >= prune_every:
                writer.prune_now()
            publish()
    except (EOFError, KeyboardInterrupt):  # the parent went away
        writer.flush()
    finally:
        publish()
        engine.dispose()


class ProcessWriter:
    """``ResultWriter``'s work in a child process, so the database work never competes with the
    scheduler's event loop for the GIL (measured: a writer thread cut the saturated engine's throughput
    from ~8,000 to ~2,500 checks/s on 2 cores).

    ``put`` appends to a deque (from the loop); a sender thread wakes every ``batch_seconds``, pickles
    what is queued and sends it through a pipe. The child writes batches (one transaction each), the
    scheduler status row and retention, exactly as the thread writer does, with the same hooks.
    """

    def __init__(self, settings: Settings, *, batch_seconds: float = 0.5, batch_rows: int = 2000,
                 max_queue: int = 500_000, status_every: float = 3.0, prune_every: float = 600.0,
                 wire: Callable[[], object] | None = None) -> None:
        import multiprocessing

        self.settings = settings
        self.batch_seconds = batch_seconds
        self.batch_rows = batch_rows
        self.max_queue = max_queue
        self.status_every = status_every
        self.prune_every = prune_every
        self.wire = wire  # called first in the child (pickled by name: a module-level function)
        self.snapshot: Callable[[], StatusSnapshot] | None = None
        self._mp = multiprocessing.get_context("spawn")  # never fork a process with threads
        self._counters = self._mp.Array("q", 3, lock=False)
        self._dropped = 0
        self._queue: deque[ResultRecord] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._process: Any = None
        self._conn: Any = None
        self._thread: threading.Thread | None = None
        self._last_status = 0.0

    @property
    def stats(self) -> WriterStats:
        return WriterStats(written=int(self._counters[0]), batches=int(self._counters[1]),
                           failed_batches=int(self._counters[2]), dropped=self._dropped)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def put(self, record: ResultRecord) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._dropped += 1
            return
        queue.append(record)
        if len(queue) == self.batch_rows:
            self._wake.set()

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._send_loop, name="calcifer-result-sender", daemon=True)
        self._thread.start()

    def _send_pending(self) -> None:
        queue = self._queue
        while queue:
            batch: list[tuple[Any, ...]] = []
            while queue and len(batch) < self.batch_rows:
                batch.append(_record_fields(queue.popleft()))
            self._conn.send(("results", batch))
        now = time.monotonic()
        if self.snapshot is not None and now - self._last_status >= self.status_every / 2:
            self._conn.send(("status", self.snapshot()))
            self._last_status = now

    def _send_loop(self) -> None:
        while True:
            stopping = self._stopping.is_set()
            if not stopping:
                self._wake.wait(self.batch_seconds)
                self._wake.clear()
            try:
                self._send_pending()
                if stopping:
                    if self.snapshot is not None:
                        self._conn.send(("status", self.snapshot()))
                    self._conn.send(("stop", None))
                    return
            except (OSError, EOFError, ValueError):
                if not self._process.is_alive():
                    log.error("the result writer process died (exit code %s); restarting it",
                              self._process.exitcode)
                    self._spawn()
                else:
                    log.exception("sending results to the writer process failed")
                    time.sleep(1.0)
                if stopping:
                    return

    def _spawn(self) -> None:
        """Start the child (again, after it died) with a new pipe."""
        parent, child = self._mp.Pipe()
        values = self.settings.model_dump(mode="python")
        self._process = self._mp.Process(target=_writer_process_main, name="calcifer-result-writer",
                                         args=(values, child, self._counters, self.batch_rows,
                                               self.status_every, self.prune_every, self.wire), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                log.error("the result writer process did not stop; terminating it")
                self._process.terminate()
                self._process.join(5)
        if self._conn is not None:
            self._conn.close()
