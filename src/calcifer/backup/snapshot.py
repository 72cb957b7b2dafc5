"""A consistent copy of the database taken while Calcifer runs, and the schema revisions it may carry.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot page by
  page while writers carry on (WAL).
- PostgreSQL: a logical export of Calcifer's tables (the JSON export with secrets) read in one
  REPEATABLE READ transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from calcifer.backup import export
from calcifer.db import MIGRATIONS_DIR

SQLITE_MEMBER = "database/calcifer.sqlite3"
EXPORT_MEMBER = "database/export.json"


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def sqlite_snapshot(*, source: Path, target: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Copy the live SQLite database `source` into `target` (a new single file, rollback journal)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(str(target))
        try:
            # All pages in one step: a step-wise backup restarts whenever another connection writes
            # (the scheduler records results all the time), and might never finish. One step reads one
            # WAL snapshot while writers carry on.
            src.backup(dst, pages=-1)
            if progress is not None:
                progress(1, 1)
            dst.execute("PRAGMA journal_mode=DELETE")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def take(*, engine: Engine, staging: Path, progress: Callable[[int, int], None] | None = None) -> tuple[str, Path]:
    """Snapshot the database into `staging`; returns (archive member name, file)."""
    path = sqlite_path(str(engine.url))
    if path is not None:
        target = staging / "calcifer.sqlite3"
        sqlite_snapshot(source=path, target=target, progress=progress)
        return SQLITE_MEMBER, target
    target = staging / "export.json"
    export.export_to_path(engine=engine, path=target, include_secrets=True)
    return EXPORT_MEMBER, target


def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


def head_revision() -> str | None:
    return _script().get_current_head()


def upgrade_to(engine: Engine, revision: str) -> None:
    """Apply migrations up to `revision` (not head): an old archive's data is loaded at its own revision."""
    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
