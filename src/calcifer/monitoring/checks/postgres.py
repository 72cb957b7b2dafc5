"""``postgres``: connect to a PostgreSQL server (psycopg's async connection: never blocks the loop), and
optionally run one query whose first column of the first row is compared with the expected value.

The connection is read-only (``default_transaction_read_only``) and the query is bounded by a
``statement_timeout`` of the endpoint's timeout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcifer.monitoring.checks import values
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.checks.credentials import MissingSecret, env_field, read_secret
from calcifer.monitoring.choices import Status

_DSN_SECRET_KEYS = ("password", "passfile")


class PostgresOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dsn: str | None = Field(default=None, min_length=1, max_length=2000,
                            description="Connection string (postgresql://user@host:5432/db?sslmode=require or "
                            "key=value form), without a password; target, port, user and database override it.")
    user: str | None = Field(default=None, min_length=1, max_length=63, description="User name.")
    database: str | None = Field(default=None, min_length=1, max_length=63, description="Database name.")
    password_env: str | None = env_field("the password")
    query: str | None = Field(default=None, min_length=1, max_length=10_000,
                              description="A query to run (read-only); its first row's first column is "
                              "compared with expected.")
    operator: values.Operator = Field(default="eq", description="How the value compares with expected: eq, ne, "
                                      "lt, gt or contains.")
    expected: str | int | float | None = Field(default=None, description="With query: the expected value "
                                               "(left out: the query must return a row).")

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from psycopg import conninfo

        try:
            parts = conninfo.conninfo_to_dict(value)
        except Exception as exc:  # psycopg.ProgrammingError: a sentence from libpq
            raise ValueError(f"not a PostgreSQL connection string: {str(exc).strip()}") from None
        secret = [key for key in _DSN_SECRET_KEYS if parts.get(key)]
        if secret:
            raise ValueError("the connection string holds a password: endpoint files are in git; remove it and "
                             "name an environment variable in password_env instead")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PostgresOptions:
        if self.query is None and ({"expected", "operator"} & self.model_fields_set):
            raise ValueError("expected and operator need a query whose result to compare")
        if self.expected is not None:
            values.check_expected(self.operator, self.expected)
        return self


def _reason(exc: Exception) -> str:
    import psycopg

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.OperationalError):
        low = text.lower()
        if "password authentication failed" in low or "no password supplied" in low:
            return "authentication failed (password rejected or missing)"
        if "connection refused" in low:
            return "connection refused"
        if "does not exist" in low and "database" in low:
            return "the database does not exist"
        if "role" in low and "does not exist" in low:
            return "the user does not exist"
        if "timeout" in low:
            return "no answer within the timeout"
    # libpq's sentence names the server and the problem, never data
    return text[:300]


class PostgresCheck(CheckType):
    kind: ClassVar[str] = "postgres"
    Options: ClassVar[type[BaseModel]] = PostgresOptions
    summary: ClassVar[str] = "Connects to PostgreSQL; optionally runs a query and compares its first value."
    # A dsn may name the host instead.
    needs_target: ClassVar[bool] = False

    async def check(self, target: Target, options: PostgresOptions, ctx: CheckContext) -> Outcome:
        import psycopg
        from psycopg import conninfo

        if not target.target and options.dsn is None:
            return Outcome(Status.DOWN, "a postgres endpoint needs a target host or options.dsn", permanent=True)
        try:
            password = read_secret(options.password_env)
        except MissingSecret as missing:
            return Outcome(Status.DOWN, str(missing), permanent=True)
        params: dict[str, Any] = {"host": target.target, "port": target.port, "user": options.user,
                                  "dbname": options.database, "password": password,
                                  "connect_timeout": max(2, int(target.timeout)),
                                  "application_name": "calcifer-monitor",
                                  "options": f"-c statement_timeout={int(target.timeout * 1000)} "
                                             "-c default_transaction_read_only=on"}
        dsn = conninfo.make_conninfo(options.dsn or "", **{k: v for k, v in params.items() if v is not None})
        shown = conninfo.conninfo_to_dict(dsn)
        where = f"{shown.get('host') or 'localhost'}:{shown.get('port') or 5432}"
        started = time.perf_counter()
        try:
            # libpq's connect_timeout is whole seconds, at least 2: the endpoint's timeout bounds it too.
            async with asyncio.timeout(target.timeout):
                connection = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        except TimeoutError:
            return Outcome(Status.DOWN, f"cannot connect to PostgreSQL at {where}: no answer within the timeout "
                           f"({target.timeout:g} s)")
        except psycopg.Error as exc:
            return Outcome(Status.DOWN, f"cannot connect to PostgreSQL at {where}: {_reason(exc)}")
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            if options.query is None:
                await connection.execute("SELECT 1")
                return Outcome(Status.UP, "connected", latency_ms=latency_ms)
            try:
                cursor = await connection.execute(options.query.encode())
                row = await cursor.fetchone() if cursor.description is not None else None
            except psycopg.Error as exc:
                # The server's sentence may quote data (a value that did not parse): name the error only.
                code = f" (SQLSTATE {exc.sqlstate})" if exc.sqlstate else ""
                return Outcome(Status.DOWN, f"the query failed: {type(exc).__name__}{code}", latency_ms=latency_ms)
            if row is None or not row:
                return Outcome(Status.DOWN, "the query returned no row", latency_ms=latency_ms)
            if options.expected is None:
                return Outcome(Status.UP, "the query returned a row", latency_ms=latency_ms)
            value = row[0]
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif value is None:
                value = "NULL"
            elif not isinstance(value, int | float | str):
                value = str(value)
            problem = values.compare("the query's first value", value, options.operator, options.expected)
            if problem:
                return Outcome(Status.DOWN, problem, latency_ms=latency_ms)
            return Outcome(Status.UP, "the query's first value is as expected", latency_ms=latency_ms)
        finally:
            await connection.close()
