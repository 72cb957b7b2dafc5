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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

import calcifer.models
from calcifer import __version__
from calcifer.backup import jsonsafe
from calcifer.errors import Conflict, Invalid
from calcifer.sealed import REDACTED

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
# The second factors' sealed secrets and recovery code hashes are credentials too.
SECRET_TABLES = frozenset({"login_sessions", "totp_factors", "recovery_codes"})


# column -> how its value is replaced without --include-secrets (a value that never verifies).
Redactor = Callable[[dict[str, Any]], Any]
SECRET_COLUMNS: dict[str, Redactor] = {
    "users.password_hash": lambda row: REDACTED,
    # token hashes are unique: keep them distinct, and unlike any sha256 hex digest.
    "api_tokens.token_hash": lambda row: f"{REDACTED}-{row.get('id')}",
    # a probe's token hash likewise (a revoked probe has none)
    "monitor_probes.token_hash": lambda row: f"{REDACTED}-{row.get('id')}" if row.get("token_hash") else None,
    # apprise URLs carry tokens in any part: only what the UI shows (scheme and host) leaves.
    "notify_channels.url": lambda row: _mask_url(str(row.get("url") or "")),
}

# Every column named ``*_sealed`` holds a secret Calcifer can read back (a forge or remote token, an SSH
# key, SMTP and directory passwords, webhook signing secrets, a person's apprise URL, off-site backup
# credentials). Sealed with the instance key or not, it stays out of an export unless asked: an export is
# a file people copy around, and the key may travel with it. An empty value means "not set" and stays
# empty; a redacted one fails to unseal with a message saying to enter it again (``calcifer.sealed``).
SEALED_SUFFIX = "_sealed"


def _sealed_redactor(column: str) -> Redactor:
    return lambda row: REDACTED if row.get(column) else ""


def secret_columns() -> dict[str, Redactor]:
    """Every exported ``table.column`` replaced without --include-secrets, with how it is replaced."""
    columns = dict(SECRET_COLUMNS)
    for table in calcifer.models.metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith(SEALED_SUFFIX):
                columns.setdefault(f"{table.name}.{column.name}", _sealed_redactor(column.name))
    return columns

# Absolute paths of this installation: an export holds only the folder's name, and an import puts it
# under the importing installation's worktrees folder (gitrepo.confine_worktree).
WORKTREE_COLUMN = ("work_items", "worktree_path")

BATCH = 2000


def _mask_url(url: str) -> str:
    from calcifer.notify.service import mask_url

    return mask_url(url)


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


def _decode(value: Any, column_type: Any, where: str) -> Any:
    """The Python value for one exported cell; Invalid (naming table and column) for one that cannot be."""
    if value is None:
        return None
    kind = _python_type(column_type)
    try:
        if kind is dt.datetime:
            parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
            if parsed is None:
                raise ValueError("not a date and time")
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if kind is dt.date:
            if not isinstance(value, str):
                raise ValueError("not a date")
            return dt.date.fromisoformat(value)
        if kind is bytes and isinstance(value, str):
            return base64.b64decode(value, validate=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise Invalid(f"{where}: {str(value)[:60]!r} is not a valid value here ({exc}).") from exc
    if kind is bool and isinstance(value, int):
        return bool(value)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise Invalid(f"{where}: {str(value)[:60]!r} is not a whole number.")
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
    redactors = {} if include_secrets else secret_columns()
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
            "redacted": sorted(redactors),
        }
        out.write("{\n")
        for key, value in header.items():
            out.write(f"{_dump(key)}: {_dump(value)},\n")
        out.write('"tables": {')
        for position, table in enumerate(tables):
            out.write(("," if position else "") + f"\n{_dump(table.name)}: [")
            count = 0
            for row in _rows(conn, table):
                if table.name == WORKTREE_COLUMN[0] and row.get(WORKTREE_COLUMN[1]):
                    row[WORKTREE_COLUMN[1]] = Path(row[WORKTREE_COLUMN[1]]).name
                for name in list(row):
                    redact = redactors.get(f"{table.name}.{name}")
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


Batches = Iterator[tuple[str, list[Any]]]


@dataclass
class Document:
    """An export to import: its header fields, the tables it holds, and its rows in batches, in file order.

    Read from a file written by `write_export`, rows are parsed line by line (an export of millions of
    check results never sits in memory whole); any other valid JSON of the same shape is read whole."""

    header: dict[str, Any]
    tables: list[str]
    batches: Callable[[], Batches]


_TABLE_LINE = re.compile(r'^("(?:[^"\\]|\\.)*"): \[(\],?)?$')


def _scan(path: Path) -> tuple[dict[str, Any], list[str]] | None:
    """Check that `path` has the line layout `write_export` writes; returns (header, table names) or None."""
    header: dict[str, Any] = {}
    tables: list[str] = []
    with path.open(encoding="utf-8") as handle:
        if handle.readline() != "{\n":
            return None
        for line in handle:
            line = line.rstrip("\n")
            if line == '"tables": {':
                break
            key, separator, value = line.partition(": ")
            if not separator:
                return None
            try:
                header[jsonsafe.loads(key, what="The export")] = jsonsafe.loads(value.removesuffix(","),
                                                                               what="The export's header")
            except (Invalid, TypeError):  # not this layout (or not valid): read whole, which says why
                return None
        else:
            return None
        inside: str | None = None
        ended = False
        for line in handle:
            line = line.rstrip("\n")
            if ended:
                if line != "}":
                    return None
                ended = False
                continue
            if inside is None:
                if line == "}":
                    ended = True
                    continue
                match = _TABLE_LINE.fullmatch(line)
                if match is None:
                    return None
                try:
                    tables.append(jsonsafe.loads(match.group(1), what="The export's table name"))
                except Invalid:
                    return None
                if match.group(2) is None:
                    inside = tables[-1]
            elif line in ("]", "],"):
                inside = None
            elif not (line.startswith("{") and line.removesuffix(",").endswith("}")):
                return None
        if inside is not None:
            return None
    return header, tables


def _line_batches(path: Path) -> Batches:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line == '"tables": {\n':
                break
        name: str | None = None
        rows: list[Any] = []
        for raw in handle:
            line = raw.rstrip("\n")
            if name is None:
                match = _TABLE_LINE.fullmatch(line)
                if match is None:
                    continue  # the closing braces
                name = jsonsafe.loads(match.group(1), what="The export's table name")
                if match.group(2) is not None:
                    yield name, []
                    name = None
            elif line in ("]", "],"):
                yield name, rows
                name, rows = None, []
            else:
                rows.append(jsonsafe.loads(line.removesuffix(","), what=f"A row of table {name}"))
                if len(rows) >= BATCH:
                    yield name, rows
                    rows = []


def from_dict(document: Any) -> Document:
    jsonsafe.check(document, what="The export")
    if not isinstance(document, dict) or not isinstance(document.get("tables"), dict):
        check_header(document)
        raise Invalid("This export has no \"tables\" object.")
    tables = document["tables"]
    for name, rows in tables.items():
        if not isinstance(rows, list):
            raise Invalid(f"Table {name!r} of the export is not a list of rows.")
    return Document(header={k: v for k, v in document.items() if k != "tables"}, tables=list(tables),
                    batches=lambda: iter(list(tables.items())))


def load_document(path: Path) -> Document:
    """Open an export file (streamed when it has `write_export`'s layout). Raises Invalid."""
    try:
        scanned = _scan(path)
        if scanned is not None:
            header, tables = scanned
            return Document(header=header, tables=tables, batches=lambda: _line_batches(path))
        return from_dict(jsonsafe.loads(path.read_bytes(), what=f"{path.name} (a Calcifer JSON export)"))
    except OSError as exc:
        raise Invalid(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path} is not a Calcifer JSON export: it is not UTF-8 text ({exc.reason}).") from exc


def check_header(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise Invalid("This is not a Calcifer JSON export (its \"format\" is not calcifer-export).")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise Invalid(f"This export uses format version {version!r}; this Calcifer reads version "
                      f"{FORMAT_VERSION} and older. Import it with a newer Calcifer.")
    return header


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
    quote = conn.dialect.identifier_preparer.quote
    for name in names:
        pk = _primary_key(conn, name)
        if len(pk) != 1:
            continue
        sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": quote(name), "c": pk[0]}).scalar()
        if not sequence:
            continue
        column, table = quote(pk[0]), quote(name)
        conn.execute(sa.text(f"SELECT setval(:s, COALESCE((SELECT MAX({column}) FROM {table}), 1), "
                             f"(SELECT MAX({column}) FROM {table}) IS NOT NULL)"), {"s": sequence})


def import_document(*, engine: Engine, document: Document | dict[str, Any], worktrees_dir: Path) -> ImportResult:
    """Load an export into this instance's database, in one transaction.

    Refuses (Conflict) an instance that already has users, work items or audit entries, and (Invalid)
    an export from another schema revision, one naming tables or columns this database lacks, or one
    holding a value its column cannot take. Work items' worktree paths are re-derived under
    ``worktrees_dir`` (gitrepo.confine_worktree). Tables the instance filled by itself at start (the
    indexes of a fresh repository, repair reports) are emptied first. On any error the transaction is
    rolled back: nothing is half-imported."""
    try:
        return _import(engine=engine, document=document, worktrees_dir=worktrees_dir)
    except sa.exc.SQLAlchemyError as exc:
        # The transaction was rolled back; what the driver says names the value it could not store.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:300]
        raise Invalid(f"The export holds a value this database cannot store ({reason}); nothing was "
                      "imported.") from exc


def _import(*, engine: Engine, document: Document | dict[str, Any], worktrees_dir: Path) -> ImportResult:
    from calcifer.db import current_revision
    from calcifer.gitrepo import confine_worktree

    if not isinstance(document, Document):
        document = from_dict(document)
    header = check_header(document.header)
    revision = current_revision(engine)
    if header.get("schema_revision") != revision:
        raise Invalid(f"The export is from database schema {header.get('schema_revision')!r}, this "
                      f"instance is at {revision!r}: import it with the Calcifer version that wrote it "
                      "(or restore a backup archive, which migrates).")
    result = ImportResult()
    with engine.begin() as conn:
        problems = instance_problems(conn)
        if problems:
            raise Conflict("Import needs an empty instance (a new database): " + "; ".join(problems) + ".",
                           code="not_empty")
        existing = set(sa.inspect(conn).get_table_names())
        unknown = sorted(set(document.tables) - existing)
        if unknown:
            raise Invalid("The export has tables this database does not: " + ", ".join(unknown) + ".")
        # Empty what the export refills (children first) and the search index (rebuilt afterwards).
        order = [t.name for t in calcifer.models.metadata.sorted_tables if t.name in existing]
        order += sorted(existing - set(order) - {"alembic_version"})
        for name in reversed(order):
            if name in document.tables or name in ("search_documents", "search_state"):
                conn.execute(sa.table(name).delete())
        targets: dict[str, tuple[sa.TableClause, dict[str, Any]]] = {}
        for name, rows in document.batches():
            if name not in targets:
                if name not in existing:
                    raise Invalid(f"The export has a table this database does not: {name}.")
                types = _column_types(conn, name)
                targets[name] = (sa.table(name, *[sa.column(c, t) for c, t in types.items()]), types)
                result.rows[name] = 0
            table, types = targets[name]
            if not all(isinstance(row, dict) for row in rows):
                raise Invalid(f"Table {name!r} of the export is not a list of rows.")
            missing = sorted({key for row in rows for key in row} - set(types))
            if missing:
                raise Invalid(f"Table {name} of the export has columns this database does not: "
                              + ", ".join(map(repr, missing)) + ".")
            decoded = [{key: _decode(value, types[key], f"Table {name}, column {key}") for key, value in row.items()}
                       for row in rows]
            if name == WORKTREE_COLUMN[0]:
                for row in decoded:
                    if row.get(WORKTREE_COLUMN[1]):
                        try:
                            row[WORKTREE_COLUMN[1]] = str(confine_worktree(worktrees_dir=worktrees_dir,
                                                                           path=str(row[WORKTREE_COLUMN[1]])))
                        except Invalid as exc:
                            raise Invalid(f"Work item {row.get('id')!r} of the export: {exc.message}; nothing "
                                          "was imported.") from exc
            for start in range(0, len(decoded), BATCH):
                # Rows with different key sets cannot share one executemany: group them.
                groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
                for row in decoded[start:start + BATCH]:
                    groups.setdefault(tuple(row), []).append(row)
                for group in groups.values():
                    conn.execute(table.insert(), group)
            result.rows[name] += len(rows)
        bump_sequences(conn, list(targets))
    if not header.get("secrets_included"):
        result.warnings.append("The export holds no password or token hashes and shows notification URLs only "
                               "as scheme://host…: users cannot log in, API tokens and notification channels "
                               "do not work until they are set again. To migrate an installation, export "
                               "with --include-secrets.")
    return result
