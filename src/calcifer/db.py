"""Engine, sessions and the declarative Base; Alembic migrations live in `migrations/` beside it.

One code path serves SQLite (the embedded default, WAL mode, foreign keys on) and PostgreSQL
(psycopg 3, optionally inside a dedicated schema so parallel test runs never collide).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from calcifer.errors import Invalid

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite would otherwise return naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# SQLite INTEGER and PostgreSQL BIGINT: the widest integer either database stores.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def unstorable(value: object) -> str | None:
    """Why `value` cannot be stored (an integer beyond 64 bits, text with a lone surrogate), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return None
        shown = str(value) if len(str(value)) <= 30 else str(value)[:27] + "..."
        return f"the number {shown} is out of range (at most {INT_MAX})"
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "the text contains a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode"
    return None


def _refuse_unstorable(_conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any,
                       executemany: bool) -> None:
    # The one net under every route, form and command: a value the driver cannot bind becomes a 422
    # (Invalid) before the statement runs, never an OverflowError or UnicodeEncodeError (a 500). Bulk
    # writes (executemany) carry Calcifer's own data, and checking them would cost the monitoring path.
    if executemany or not parameters:
        return
    for value in parameters.values() if isinstance(parameters, dict) else parameters:
        reason = unstorable(value)
        if reason is not None:
            raise Invalid(f"Invalid input: {reason}.")


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """Create the engine. SQLite gets WAL + foreign keys; PostgreSQL an optional search_path."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "before_cursor_execute", _refuse_unstorable)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                           connect_args=connect_args)
    event.listen(engine, "before_cursor_execute", _refuse_unstorable)
    return engine


def ensure_schema(engine: Engine, schema: str | None) -> None:
    if schema and engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upgrade_database(engine: Engine) -> None:
    """Apply every Alembic migration up to head (run at start and by `calcifer db upgrade`)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
