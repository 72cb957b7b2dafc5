"""The tcp check against real listeners on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from calcifer.monitoring.checks.base import CheckContext
from calcifer.monitoring.checks.tcp import TcpCheck, TcpOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import free_port, target, tcp_server

pytestmark = pytest.mark.anyio
CHECK = TcpCheck()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)  # accepts, never says a word


def _greeting(banner: bytes):  # type: ignore[no-untyped-def]
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        await writer.drain()
        await asyncio.sleep(3600)

    return greet


async def test_an_open_port_is_up_with_a_latency() -> None:
    async with tcp_server(_silent) as port:
        outcome = await CHECK.check(target("127.0.0.1", port), TcpOptions(), CheckContext())
    assert outcome.status is Status.UP
    assert outcome.latency_ms is not None and outcome.latency_ms >= 0


async def test_a_closed_port_is_down_saying_the_connection_was_refused() -> None:
    port = free_port()
    outcome = await CHECK.check(target("127.0.0.1", port), TcpOptions(), CheckContext())
    assert outcome.status is Status.DOWN
    assert "connection refused" in outcome.message
    assert f"127.0.0.1:{port}" in outcome.message
    assert not outcome.permanent


async def test_the_expected_banner_makes_it_up() -> None:
    async with tcp_server(_greeting(b"SSH-2.0-OpenSSH_9.2\r\n")) as port:
        outcome = await CHECK.check(target("127.0.0.1", port),
                                    TcpOptions(expect_banner="SSH-2.0"), CheckContext())
    assert outcome.status is Status.UP
    assert outcome.message == "banner matched"


async def test_a_different_banner_is_down_without_quoting_what_came() -> None:
    async with tcp_server(_greeting(b"220 mail.example.org ESMTP\r\n")) as port:
        outcome = await CHECK.check(target("127.0.0.1", port),
                                    TcpOptions(expect_banner="SSH-2.0"), CheckContext())
    assert outcome.status is Status.DOWN
    assert "expected banner 'SSH-2.0'" in outcome.message and "did not match" in outcome.message
    assert "mail.example.org" not in outcome.message


async def test_a_banner_that_arrives_in_pieces_is_still_found() -> None:
    async def slowly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in (b"SS", b"H-2", b".0-x\r\n"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.05)
        await asyncio.sleep(3600)

    async with tcp_server(slowly) as port:
        outcome = await CHECK.check(target("127.0.0.1", port),
                                    TcpOptions(expect_banner="SSH-2.0"), CheckContext())
    assert outcome.status is Status.UP


async def test_a_listener_that_never_sends_its_banner_is_down_within_the_timeout_not_hung() -> None:
    async with tcp_server(_silent) as port:
        # The generous outer limit only guards the test run; the check must return on its own.
        outcome = await asyncio.wait_for(
            CHECK.check(target("127.0.0.1", port, timeout=0.5), TcpOptions(expect_banner="SSH-2.0"),
                        CheckContext()), timeout=30)
    assert outcome.status is Status.DOWN
    assert "got nothing" in outcome.message


async def test_a_peer_that_closes_without_a_banner_is_down() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return

    async with tcp_server(hang_up) as port:
        outcome = await CHECK.check(target("127.0.0.1", port), TcpOptions(expect_banner="220"), CheckContext())
    assert outcome.status is Status.DOWN
    assert "expected banner '220'" in outcome.message


async def test_an_endpoint_without_a_port_is_a_permanent_failure() -> None:
    outcome = await CHECK.check(target("127.0.0.1", None), TcpOptions(), CheckContext())
    assert outcome.status is Status.DOWN
    assert outcome.permanent
