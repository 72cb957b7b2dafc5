"""The postgres check against the PostgreSQL server of this machine (127.0.0.1:5432, trust authentication,
database ``test``; see tests/conftest.py). Trust authentication accepts any password, so a rejected
password cannot be shown here; an unknown user and database can."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.postgres import PostgresCheck, PostgresOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import free_port, target

pytestmark = pytest.mark.anyio
CHECK = PostgresCheck()
HOST = os.environ.get("CALCIFER_TEST_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("CALCIFER_TEST_PG_PORT", "5432"))
USER = os.environ.get("CALCIFER_TEST_PG_USER", "postgres")
DATABASE = os.environ.get("CALCIFER_TEST_PG_DATABASE", "test")


@pytest.fixture(scope="module")
def server() -> Iterator[None]:
    try:
        psycopg.connect(host=HOST, port=PORT, user=USER, dbname=DATABASE, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {HOST}:{PORT} (database {DATABASE}): {exc}")
    yield


async def _check(where: str | None = HOST, port: int | None = PORT, **options: Any) -> Outcome:
    options.setdefault("user", USER)
    options.setdefault("database", DATABASE)
    return await CHECK.check(target(where, port, timeout=5), PostgresOptions.model_validate(options), CheckContext())


async def test_connecting_is_up(server: None) -> None:
    outcome = await _check()
    assert outcome.status is Status.UP and outcome.message == "connected"
    assert outcome.latency_ms is not None


async def test_a_dsn_alone_names_the_server(server: None) -> None:
    outcome = await CHECK.check(target(None, None, timeout=5), PostgresOptions(
        dsn=f"postgresql://{USER}@{HOST}:{PORT}/{DATABASE}?sslmode=disable"), CheckContext())
    assert outcome.status is Status.UP, outcome.message


async def test_a_query_and_its_expected_value(server: None) -> None:
    assert (await _check(query="SELECT 40 + 2", expected=42)).status is Status.UP
    assert (await _check(query="SELECT current_database()", expected=DATABASE)).status is Status.UP
    assert (await _check(query="SELECT count(*) FROM pg_database", operator="gt", expected=0)).status is Status.UP
    assert (await _check(query="SELECT true", expected="true")).status is Status.UP
    low = await _check(query="SELECT 7", operator="gt", expected=10)
    assert low.status is Status.DOWN and low.message == "the query's first value is 7, expected above 10"
    other = await _check(query="SELECT 'row-secret'::text", expected="fine")
    assert other.status is Status.DOWN and "row-secret" not in other.message
    assert other.message.startswith("the query's first value is a different value")
    empty = await _check(query="SELECT 1 WHERE false")
    assert empty.status is Status.DOWN and empty.message == "the query returned no row"


async def test_a_failing_query_names_the_error_not_the_data(server: None) -> None:
    outcome = await _check(query="SELECT 'not-a-number-secret'::int")
    assert outcome.status is Status.DOWN
    assert outcome.message == "the query failed: InvalidTextRepresentation (SQLSTATE 22P02)"
    missing = await _check(query="SELECT * FROM no_such_table_here")
    assert missing.status is Status.DOWN and "UndefinedTable" in missing.message


async def test_the_connection_is_read_only(server: None) -> None:
    outcome = await _check(query="CREATE TABLE calcifer_check_must_not_write (id int)")
    assert outcome.status is Status.DOWN and "ReadOnlySqlTransaction" in outcome.message


async def test_an_unknown_database_or_user_is_down_saying_so(server: None) -> None:
    database = await _check(database="no_such_database_here")
    assert database.status is Status.DOWN and "the database does not exist" in database.message
    user = await _check(user="no_such_role_here")
    assert user.status is Status.DOWN and "the user does not exist" in user.message


async def test_a_closed_port_is_down_saying_connection_refused() -> None:
    port = free_port()
    outcome = await _check(port=port)
    assert outcome.status is Status.DOWN
    assert outcome.message == f"cannot connect to PostgreSQL at {HOST}:{port}: connection refused"


async def test_an_unset_password_variable_is_a_permanent_problem() -> None:
    outcome = await _check(password_env="CALCIFER_TEST_UNSET_VAR")
    assert outcome.status is Status.DOWN and outcome.permanent and "CALCIFER_TEST_UNSET_VAR" in outcome.message


@pytest.mark.parametrize(("options", "says"), [
    ({"dsn": "postgresql://u:hunter2@db/app"}, "holds a password"),
    ({"dsn": "host=db password=hunter2"}, "holds a password"),
    ({"dsn": "host=db port"}, "not a PostgreSQL connection string"),
    ({"expected": 1}, "need a query"),
    ({"query": "SELECT 1", "operator": "contains", "expected": ""}, "non-empty text"),
])
def test_bad_options_are_refused_saying_what_to_fix(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        PostgresOptions.model_validate(options)
