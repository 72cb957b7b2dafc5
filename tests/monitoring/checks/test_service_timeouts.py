"""Every service check gives up by itself within the endpoint's timeout when the server accepts the
connection and then says nothing (the scheduler's hard limit is a backstop, not the plan), and says so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from calcifer.monitoring.checks.base import CheckContext, CheckType
from calcifer.monitoring.checks.grpc import GrpcCheck
from calcifer.monitoring.checks.mqtt import MqttCheck
from calcifer.monitoring.checks.postgres import PostgresCheck
from calcifer.monitoring.checks.redis import RedisCheck
from calcifer.monitoring.checks.smtp import SmtpCheck
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import target, tcp_server

pytestmark = pytest.mark.anyio


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


@pytest.mark.parametrize(("check", "options", "says"), [
    (PostgresCheck(), {"user": "x", "database": "y"}, "timeout"),
    (RedisCheck(), {}, "no answer within the timeout"),
    (MqttCheck(), {}, "no CONNACK within 1 s"),
    (GrpcCheck(), {}, "within the timeout"),
], ids=["postgres", "redis", "mqtt", "grpc"])
async def test_a_silent_server_is_down_within_the_timeout(check: CheckType, options: dict[str, Any],
                                                          says: str) -> None:
    async with tcp_server(_silent) as port:
        # The outer limit only keeps a hanging check from hanging the suite.
        async with asyncio.timeout(15):
            outcome = await check.check(target("127.0.0.1", port, timeout=1), check.parse_options(options),
                                        CheckContext())
    assert outcome.status is Status.DOWN
    assert says in outcome.message, outcome.message


async def test_smtp_gives_up_on_a_silent_server_within_the_timeout() -> None:
    async with tcp_server(_silent) as port:
        async with asyncio.timeout(15):
            outcome = await SmtpCheck().check(target("127.0.0.1", port, timeout=1), SmtpCheck().parse_options({}),
                                              CheckContext())
    assert outcome.status is Status.DOWN
    assert "no greeting within 1 s" in outcome.message, outcome.message
