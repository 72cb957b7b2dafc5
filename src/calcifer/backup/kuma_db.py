"""Read an Uptime Kuma 2.x data directory (its SQLite ``kuma.db``) into the shape of a Kuma 1.x JSON backup,
so that one code path (``kuma.plan``) maps both.

The database is opened read-only (``mode=ro``) and read in one transaction; nothing is ever written to it.
When it cannot be opened that way (a writer holds an exclusive lock, or the folder does not allow the
shared-memory file WAL mode needs), its files are copied into a temporary folder and the copy is read.
Column sets differ between Kuma versions: rows are read with ``SELECT *`` and a missing column reads as
absent. Column names are snake_case; the backup's keys are Kuma's camelCase (``retry_interval`` →
``retryInterval``): each row carries both.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from calcifer.errors import Invalid

SQLITE_HEADER = b"SQLite format 3\x00"
DB_NAME = "kuma.db"
_CAMEL = re.compile(r"_([a-z0-9])")


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def locate(path: Path) -> Path | None:
    """The kuma.db of a data directory or the file itself when it is an SQLite database (else None)."""
    if path.is_dir():
        candidate = path / DB_NAME
        if not candidate.is_file():
            raise Invalid(f"{path} has no {DB_NAME}: give Uptime Kuma 2.x's data directory, its kuma.db, or a "
                          "Kuma 1.x JSON backup.")
        path = candidate
    return path if is_sqlite(path) else None


def _camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _rows(conn: sqlite3.Connection, table: str, tables: set[str]) -> list[dict[str, Any]]:
    if table not in tables:
        return []
    cursor = conn.execute(f'SELECT * FROM "{table}" ORDER BY 1')  # noqa: S608 - table names are constants
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _json(value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def _read(conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    conn.execute("BEGIN")  # one snapshot: Kuma may be writing meanwhile
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = ({r[1] for r in conn.execute('PRAGMA table_info("monitor")')} if "monitor" in tables else set())
        if not {"id", "name", "type"} <= columns:
            raise Invalid(f"{name} is an SQLite database but not Uptime Kuma's: it has no monitor table with "
                          "id, name and type.")
        monitors = _rows(conn, "monitor", tables)
        tags = {t["id"]: t for t in _rows(conn, "tag", tables)}
        monitor_tags = _rows(conn, "monitor_tag", tables)
        notifications = _rows(conn, "notification", tables)
        monitor_notifications = _rows(conn, "monitor_notification", tables)
        maintenances = _rows(conn, "maintenance", tables)
        monitor_maintenances = _rows(conn, "monitor_maintenance", tables)
        settings = {r["key"]: r.get("value") for r in _rows(conn, "setting", tables) if "key" in r}
    finally:
        conn.rollback()
    by_id: dict[Any, dict[str, Any]] = {}
    monitor_list = []
    for row in monitors:
        monitor = {**row, **{_camel(k): v for k, v in row.items()}}
        if "accepted_statuscodes_json" in row:
            monitor["accepted_statuscodes"] = _json(row["accepted_statuscodes_json"], [])
        monitor["tags"] = []
        monitor["notificationIDList"] = {}
        by_id[row["id"]] = monitor
        monitor_list.append(monitor)
    for link in monitor_tags:
        tag = tags.get(link.get("tag_id"))
        tagged = by_id.get(link.get("monitor_id"))
        if tag is not None and tagged is not None:
            tagged["tags"].append({"tag_id": tag["id"], "name": tag.get("name"), "value": link.get("value") or ""})
    for link in monitor_notifications:
        notified = by_id.get(link.get("monitor_id"))
        if notified is not None:
            notified["notificationIDList"][str(link.get("notification_id"))] = True
    windows = []
    for row in maintenances:
        window = {**row, "monitorIDList": [m["monitor_id"] for m in monitor_maintenances
                                           if m.get("maintenance_id") == row.get("id")]}
        window["weekdays"] = _json(row.get("weekdays"), [])
        window["days_of_month"] = _json(row.get("days_of_month"), [])
        windows.append(window)
    version = str(settings.get("database_version") or "").strip('"')
    return {"version": "2.x (kuma.db" + (f", database version {version}" if version else "") + ")",
            "monitorList": monitor_list, "notificationList": notifications, "maintenanceList": windows,
            "tagList": list(tags.values())}


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=5,
                           isolation_level=None)
    conn.execute("PRAGMA query_only = 1")
    return conn


def read_db(path: Path) -> dict[str, Any]:
    """The monitors, tags, notifications and maintenance windows of a Kuma 2.x kuma.db, as a 1.x backup's
    dictionary (plus ``maintenanceList`` and ``tagList``). Raises Invalid with one sentence on failure."""
    try:
        conn = _connect(path)
        try:
            return _read(conn, path.name)
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "unable to open" not in str(exc) and "readonly" not in str(exc):
            raise Invalid(f"{path.name} cannot be read as an SQLite database: {exc}.") from exc
    except sqlite3.DatabaseError as exc:
        raise Invalid(f"{path.name} is not a readable SQLite database ({exc}): give Uptime Kuma 2.x's data "
                      "directory or its kuma.db.") from exc
    # Locked, or WAL mode in a folder we may not write the shared-memory file into: read a copy.
    with tempfile.TemporaryDirectory(prefix="calcifer-kuma-") as tmp:
        copy = Path(tmp) / DB_NAME
        for suffix in ("", "-wal"):
            source = Path(str(path) + suffix)
            if source.is_file():
                shutil.copyfile(source, Path(str(copy) + suffix))
        try:
            conn = sqlite3.connect(copy, timeout=5, isolation_level=None)
            try:
                return _read(conn, path.name)
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise Invalid(f"{path.name} cannot be read, even from a copy: {exc}.") from exc
