"""The versioned JSON export of every database entity, and its import into an empty instance.

The format (described for people in docs/backup.md) is generic over ``calcifer.models.metadata``: a
table another slice adds is exported without a change here. Rows are ordered by primary key and
written one per line, so two exports of the same data are byte-identical apart from the fields in
:data:`VOLATILE_FIELDS`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

import calcifer.models
from calcifer import __version__
from calcifer.errors import Conflict, Invalid

FORMAT = "calcifer-export"
FORMAT_VERSION = 1

# Top-level fields that differ between two exports of the same data (left out when comparing).
VOLATILE_FIELDS = ("exported_at", "calcifer_version", "engine")

# Derived or installation-specific tables that are not exported:
# - the search index is rebuilt from main and the work items after an import (on PostgreSQL its
#   tsvector columns are not part of the models);
# - backup runs describe this installation's archives, not the infrastructure's history.
EXCLUDED_TABLES = frozenset({"search_documents", "search_state", "backup_runs"})

# Tables exported only with --include-secrets (their rows are credentials).
SECRET_TABLES = frozenset({"login_sessions"})

REDACTED = "!redacted"

# column -> how its value is replaced without --include-secrets (a value that never verifies).
Redactor = Callable[[dict[str, Any]], Any]
SECRET_COLUMNS: dict[str, Redactor] = {
    "users.password_hash": lambda row: REDACTED,
    # token hashes are unique: keep them distinct, and unlike any sha256 hex digest.
    "api_tokens.token_hash": lambda row: f"{REDACTED}-{row.get('id')}",
}

BATCH = 2000


def exported_tables(*, include_secrets: bool) -> list[sa.Table]:
    """The tables an export holds, parents before children (foreign-key order)."""
    return [table for table in calcifer.models.metadata.sorted_tables
            if table.name not in EXCLUDED_TABLES and (include_secrets or table.name not in SECRET_TABLES)]


def _python_type(column_type: Any) -> type | None:
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.impl_instance
    try:
        return column_type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return None


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _decode(value: Any, column_type: Any) -> Any:
    if value is None:
        return None
    kind = _python_type(column_type)
    if kind is dt.datetime and isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if kind is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if kind is bytes and isinstance(value, str):
        return base64.b64decode(value)
    if kind is bool and isinstance(value, int):
        return bool(value)
    return value


def _rows(conn: Connection, table: sa.Table) -> Iterator[dict[str, Any]]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
        sa.select(*table.columns).order_by(*order))
    for row in result.mappings():
        yield dict(row)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def write_export(*, engine: Engine, out: IO[str], include_secrets: bool = False,
                 revision: str | None = None, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Stream the export of every table to `out` (text). Returns rows written per table.

    The whole export reads one snapshot (PostgreSQL: a REPEATABLE READ transaction; SQLite: one read
    transaction), so it is consistent while Calcifer keeps running."""
    from calcifer.db import current_revision

    tables = exported_tables(include_secrets=include_secrets)
    counts: dict[str, int] = {}
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**options) as conn, conn.begin():
        if engine.dialect.name == "sqlite":
            # pysqlite opens no transaction for reads: start one, so every table is read from one snapshot.
            conn.exec_driver_sql("BEGIN")
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "exported_at": dt.datetime.now(dt.UTC).isoformat(),
            "calcifer_version": __version__,
            "engine": engine.dialect.name,
            "schema_revision": revision if revision is not None else current_revision(engine),
            "secrets_included": include_secrets,
            "redacted": [] if include_secrets else sorted(SECRET_COLUMNS),
        }
        out.write("{\n")
        for key, value in header.items():
            out.write(f"{_dump(key)}: {_dump(value)},\n")
        out.write('"tables": {')
        for position, table in enumerate(tables):
            out.write(("," if position else "") + f"\n{_dump(table.name)}: [")
            count = 0
            for row in _rows(conn, table):
                if not include_secrets:
                    for name in list(row):
                        redact = SECRET_COLUMNS.get(f"{table.name}.{name}")
                        if redact is not None:
                            row[name] = redact(row)
                encoded = {name: _encode(value) for name, value in row.items()}
                out.write(("," if count else "") + "\n" + _dump(encoded))
                count += 1
            out.write("\n]" if count else "]")
            counts[table.name] = count
            if progress is not None:
                progress(table.name, count)
        out.write("\n}\n}\n")
    return counts


def export_to_path(*, engine: Engine, path: Path, include_secrets: bool = False,
                   progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    with path.open("w", encoding="utf-8") as handle:
        return write_export(engine=engine, out=handle, include_secrets=include_secrets, progress=progress)


def export_text(*, engine: Engine, include_secrets: bool = False) -> str:
    import io

    buffer = io.StringIO()
    write_export(engine=engine, out=buffer, include_secrets=include_secrets)
    return buffer.getvalue()


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The export without its volatile fields: two exports of the same data compare equal."""
    return {key: value for key, value in document.items() if key not in VOLATILE_FIELDS}


# -- import ---------------------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_document(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise Invalid(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"{path} is not a Calcifer JSON export: {exc}.") from exc
    return check_document(document)


def check_document(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise Invalid("This is not a Calcifer JSON export (its \"format\" is not calcifer-export).")
    version = document.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise Invalid(f"This export uses format version {version!r}; this Calcifer reads version "
                      f"{FORMAT_VERSION} and older. Import it with a newer Calcifer.")
    if not isinstance(document.get("tables"), dict):
        raise Invalid("This export has no \"tables\" object.")
    for name, rows in document["tables"].items():
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise Invalid(f"Table {name!r} of the export is not a list of rows.")
    return document


# What makes an instance "not empty": people, work, history.
_CONTENT_TABLES = ("users", "work_items", "audit_entries")


def instance_problems(conn: Connection) -> list[str]:
    inspector = sa.inspect(conn)
    problems = []
    for name in _CONTENT_TABLES:
        if inspector.has_table(name):
            count = conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            if count:
                problems.append(f"{name} has {count} row(s)")
    return problems


def _column_types(conn: Connection, name: str) -> dict[str, Any]:
    """The columns the database really has (it may be at an older revision), typed like the models."""
    model = calcifer.models.metadata.tables.get(name)
    types: dict[str, Any] = {}
    for column in sa.inspect(conn).get_columns(name):
        model_column = model.columns.get(column["name"]) if model is not None else None
        types[column["name"]] = model_column.type if model_column is not None else column["type"]
    return types


def _primary_key(conn: Connection, name: str) -> list[str]:
    return list(sa.inspect(conn).get_pk_constraint(name).get("constrained_columns") or [])


def bump_sequences(conn: Connection, names: list[str]) -> None:
    """PostgreSQL: move each serial/identity sequence past the largest id imported."""
    if conn.dialect.name != "postgresql":
        return
    for name in names:
        pk = _primary_key(conn, name)
        if len(pk) != 1:
            continue
        sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": conn.dialect.identifier_preparer.quote(name), "c": pk[0]}).scalar()
        if not sequence:
            continue
        column = conn.dialect.identifier_preparer.quote(pk[0])
        table = conn.dialect.identifier_preparer.quote(name)
        conn.execute(sa.text(f"SELECT setval(:s, COALESCE((SELECT MAX({column}) FROM {table}), 1), "
                             f"(SELECT MAX({column}) FROM {table}) IS NOT NULL)"), {"s": sequence})


def import_document(*, engine: Engine, document: dict[str, Any], replace_derived: bool = True) -> ImportResult:
    """Load an export into this instance's database, in one transaction.

    Refuses (Conflict) an instance that already has users, work items or audit entries, and (Invalid)
    an export from another schema revision. Tables the instance filled by itself at start (the indexes
    of a fresh repository, repair reports) are emptied first. Raises nothing half-way: on any error
    the transaction is rolled back."""
    from calcifer.db import current_revision

    document = check_document(document)
    revision = current_revision(engine)
    if document.get("schema_revision") != revision:
        raise Invalid(f"The export is from database schema {document.get('schema_revision')!r}, this "
                      f"instance is at {revision!r}: import it with the Calcifer version that wrote it "
                      "(or restore a backup archive, which migrates).")
    result = ImportResult()
    with engine.begin() as conn:
        problems = instance_problems(conn)
        if problems:
            raise Conflict("Import needs an empty instance (a new database): " + "; ".join(problems) + ".",
                           code="not_empty")
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        unknown = sorted(set(document["tables"]) - existing)
        if unknown:
            raise Invalid("The export has tables this database does not: " + ", ".join(unknown) + ".")
        # Empty every exported-kind table (children first), then insert parents first.
        order = [t.name for t in calcifer.models.metadata.sorted_tables if t.name in existing]
        order += sorted(existing - set(order) - {"alembic_version"})
        if replace_derived:
            for name in reversed(order):
                if name in document["tables"] or name in ("search_documents", "search_state"):
                    conn.execute(sa.table(name).delete())
        inserted: list[str] = []
        for name in [n for n in order if n in document["tables"]]:
            rows = document["tables"][name]
            types = _column_types(conn, name)
            missing = sorted({key for row in rows for key in row} - set(types))
            if missing:
                raise Invalid(f"Table {name} of the export has columns this database does not: "
                              + ", ".join(missing) + ".")
            table = sa.table(name, *[sa.column(column, type_) for column, type_ in types.items()])
            decoded = [{key: _decode(value, types[key]) for key, value in row.items()} for row in rows]
            for start in range(0, len(decoded), BATCH):
                chunk = decoded[start:start + BATCH]
                # Rows with different key sets cannot share one executemany: group them.
                groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for row in chunk:
                    groups.setdefault(tuple(row), []).append(row)
                for group in groups.values():
                    conn.execute(table.insert(), group)
            result.rows[name] = len(rows)
            inserted.append(name)
        bump_sequences(conn, inserted)
    if not document.get("secrets_included"):
        result.warnings.append("The export holds no password or token hashes: users cannot log in and API "
                               "tokens do not work until they are set again. To migrate an installation, "
                               "export with --include-secrets.")
    return result
