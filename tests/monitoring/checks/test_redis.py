"""The redis check against Debian's redis-server, started by the test on a free port of 127.0.0.1 (not the
system's instance on 6379)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.redis import RedisCheck, RedisOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks import daemons
from tests.monitoring.checks.servers import free_port, target

pytestmark = pytest.mark.anyio
CHECK = RedisCheck()


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with daemons.redis_server() as daemon:
        client = redis.Redis(host="127.0.0.1", port=daemon.port)
        client.set("app:state", "ready")
        client.set("app:workers", "12")
        client.set("app:secret", "s3cr3t-value")
        client.rpush("app:queue", "job")
        client.close()
        yield daemon.port


@pytest.fixture
def redis_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PASS", daemons.REDIS_PASSWORD)
    monkeypatch.setenv("REDIS_WRONG", "wrong-password")


async def _check(port: int, **options: Any) -> Outcome:
    return await CHECK.check(target("127.0.0.1", port, timeout=3), RedisOptions.model_validate(options),
                             CheckContext())


async def test_ping_is_up(server: int) -> None:
    outcome = await _check(server)
    assert outcome.status is Status.UP and outcome.message == "PONG"


async def test_auth_with_a_user_and_a_password_from_the_environment(server: int, redis_password: None) -> None:
    outcome = await _check(server, user=daemons.REDIS_USER, password_env="REDIS_PASS", key="app:state",
                           expected="ready")
    assert outcome.status is Status.UP, outcome.message


async def test_a_wrong_password_is_down_saying_authentication_failed(server: int, redis_password: None) -> None:
    outcome = await _check(server, user=daemons.REDIS_USER, password_env="REDIS_WRONG")
    assert outcome.status is Status.DOWN
    assert "authentication failed" in outcome.message and "wrong-password" not in outcome.message


async def test_key_values_are_compared(server: int) -> None:
    assert (await _check(server, key="app:workers", operator="gt", expected=4)).status is Status.UP
    low = await _check(server, key="app:workers", operator="lt", expected=4)
    assert low.status is Status.DOWN and low.message == "key 'app:workers' is 12, expected below 4"
    other = await _check(server, key="app:secret", expected="something")
    assert other.status is Status.DOWN
    assert "s3cr3t" not in other.message and other.message.startswith("key 'app:secret' is a different value")
    missing = await _check(server, key="app:nothing")
    assert missing.status is Status.DOWN and missing.message == "key 'app:nothing' does not exist"
    wrong_type = await _check(server, key="app:queue", expected="job")
    assert wrong_type.status is Status.DOWN and "not a string" in wrong_type.message


async def test_a_closed_port_is_down_saying_connection_refused() -> None:
    port = free_port()
    outcome = await _check(port)
    assert outcome.status is Status.DOWN
    assert outcome.message == f"Redis 127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize(("options", "says"), [
    ({"expected": "x"}, "need a key"),
    ({"user": "monitor"}, "needs password_env"),
    ({"key": "k", "operator": "gt", "expected": "lots"}, "compares numbers"),
    ({"password": "plain"}, "Extra inputs"),
    ({"verify_tls": False}, "goes with tls"),
])
def test_bad_options_are_refused_saying_what_to_fix(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RedisOptions.model_validate(options)
