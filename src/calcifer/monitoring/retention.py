"""Retention of check results (``prune``) and the storage report of the monitoring tables.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from calcifer.config import Settings
from calcifer.monitoring import locations
from calcifer.monitoring.models.checks import (
    MonitorEvent,
    MonitorHourly,
    MonitorResult,
    MonitorState,
)
from calcifer.monitoring.store import HOUR, MONITOR_TABLES, _rowcount, _table, _utc

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
    if time.monotonic() < deadline:  # endpoints checked from several locations (locations.py)
        outcome.results += step(lambda session: locations.prune(session, raw_cutoff_ms=raw_cutoff_ms,
                                                                aggregate_cutoff=agg_cutoff))
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
