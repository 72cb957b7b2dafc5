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

The writers themselves are in ``writer.py``, state rows outside the batches in ``states.py``, retention
and the storage report in ``retention.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import operator
import os
import socket
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from calcifer.monitoring import hooks
from calcifer.monitoring.choices import EventKind, ResultCode, Status
from calcifer.monitoring.models.checks import (
    MonitorEvent,
    MonitorHourly,
    MonitorResult,
    MonitorState,
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
    # Set for an endpoint checked from several locations (``locations.py``): the result is recorded as
    # that location's, and the endpoint's status is the locations' verdict.
    location: str | None = None


# Records cross the pipe to the writer process as plain tuples: pickling a slots dataclass runs its
# Python-level __getstate__ per record (3.2 µs against 0.8 µs for a tuple, measured), and the sender
# thread holds the GIL the scheduler's loop needs while it pickles.
_record_fields = operator.attrgetter(*(f.name for f in dataclasses.fields(ResultRecord)))


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
