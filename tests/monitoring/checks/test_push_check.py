"""The push check: judged from the last heartbeat the scheduler lends it (no network)."""

from __future__ import annotations

import datetime as dt

import pytest

from calcifer.monitoring.checks.base import CheckContext, PushSeen
from calcifer.monitoring.checks.push import PushCheck, PushOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import target

pytestmark = pytest.mark.anyio
CHECK = PushCheck()
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def _ctx(seen: PushSeen | None) -> CheckContext:
    return CheckContext(push_seen=lambda slug: seen if slug == "backup-job" else None, now=lambda: NOW)


async def _check(seen: PushSeen | None, interval: int = 300, grace: int = 60):  # type: ignore[no-untyped-def]
    return await CHECK.check(target(None, slug="backup-job", interval=interval), PushOptions(grace=grace),
                             _ctx(seen))


async def test_no_heartbeat_yet_is_down() -> None:
    outcome = await _check(None)
    assert outcome.status is Status.DOWN
    assert outcome.message == "no heartbeat received yet"


async def test_a_heartbeat_within_interval_and_grace_is_up() -> None:
    outcome = await _check(PushSeen(at=NOW - dt.timedelta(seconds=42)))
    assert outcome.status is Status.UP
    assert outcome.message == "last heartbeat 42 s ago"
    # Late, but still within the grace.
    late = await _check(PushSeen(at=NOW - dt.timedelta(seconds=350)))
    assert late.status is Status.UP


async def test_a_heartbeat_older_than_interval_and_grace_is_down() -> None:
    outcome = await _check(PushSeen(at=NOW - dt.timedelta(seconds=361)))
    assert outcome.status is Status.DOWN
    assert "no heartbeat for 6 min" in outcome.message
    assert "expected every 300 s + 60 s grace" in outcome.message


async def test_a_heartbeat_reporting_down_is_down_with_the_callers_message() -> None:
    outcome = await _check(PushSeen(at=NOW - dt.timedelta(seconds=5), reported_status=Status.DOWN,
                                    message="disk full"))
    assert outcome.status is Status.DOWN
    assert outcome.message == "reported down 5 s ago: disk full"
