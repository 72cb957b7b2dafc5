"""The smtp check against aiosmtpd on a free port of 127.0.0.1, with a self-signed certificate for STARTTLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.smtp import SmtpCheck, SmtpOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import free_port, self_signed_tls, target, tcp_server

pytestmark = pytest.mark.anyio
CHECK = SmtpCheck()


class _Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        return "250 OK"


def _controller(**kwargs: Any) -> Controller:
    controller = Controller(_Sink(), hostname="127.0.0.1", port=free_port(), ident="Calcifer test SMTP", **kwargs)
    controller.start()
    return controller


@pytest.fixture(scope="module")
def plain() -> Iterator[int]:
    controller = _controller()
    yield controller.port
    controller.stop()


@pytest.fixture(scope="module")
def starttls() -> Iterator[tuple[int, int]]:
    """Two servers offering STARTTLS: a certificate valid 200 more days, and one expiring in 5 days."""
    with tempfile.TemporaryDirectory() as long_dir, tempfile.TemporaryDirectory() as short_dir:
        long_lived = _controller(tls_context=self_signed_tls(Path(long_dir), days=200))
        short_lived = _controller(tls_context=self_signed_tls(Path(short_dir), days=5))
        yield long_lived.port, short_lived.port
        long_lived.stop()
        short_lived.stop()


async def _check(port: int, **options: Any) -> Outcome:
    return await CHECK.check(target("127.0.0.1", port, timeout=5), SmtpOptions.model_validate(options),
                             CheckContext(cert_warn_days=14))


async def test_greeting_and_ehlo_are_up(plain: int) -> None:
    outcome = await _check(plain, expect_banner="Calcifer test SMTP")
    assert outcome.status is Status.UP and outcome.message == "greeting and EHLO answered"
    assert outcome.cert is None and outcome.latency_ms is not None


async def test_an_unexpected_greeting_text_is_down(plain: int) -> None:
    outcome = await _check(plain, expect_banner="Postfix")
    assert outcome.status is Status.DOWN and outcome.message == "the greeting does not contain 'Postfix'"


async def test_starttls_reads_the_certificate(starttls: tuple[int, int]) -> None:
    outcome = await _check(starttls[0], tls="starttls", verify_tls=False)
    assert outcome.status is Status.UP, outcome.message
    assert outcome.cert is not None and outcome.cert.subject == "self-signed.test"
    assert outcome.message.startswith("TLS up, certificate valid")


async def test_a_self_signed_certificate_fails_verification(starttls: tuple[int, int]) -> None:
    outcome = await _check(starttls[0], tls="starttls")
    assert outcome.status is Status.DOWN
    assert outcome.message.startswith("TLS certificate verification failed: self-signed certificate"), outcome.message


async def test_a_certificate_about_to_expire_is_degraded(starttls: tuple[int, int]) -> None:
    outcome = await _check(starttls[1], tls="starttls", verify_tls=False)
    assert outcome.status is Status.DEGRADED
    assert "certificate expires in 5 days" in outcome.message and "warning below 14 days" in outcome.message
    assert (await _check(starttls[1], tls="starttls", verify_tls=False, cert_warn_days=3)).status is Status.UP


async def test_an_expired_certificate_is_down(starttls: tuple[int, int]) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    outcome = await CHECK.check(target("127.0.0.1", starttls[1], timeout=5),
                                SmtpOptions(tls="starttls", verify_tls=False), CheckContext(now=lambda: later))
    assert outcome.status is Status.DOWN and outcome.message.startswith("certificate expired 5 days ago")


async def test_starttls_not_offered_is_down(plain: int) -> None:
    outcome = await _check(plain, tls="starttls")
    assert outcome.status is Status.DOWN and outcome.message == "the server does not offer STARTTLS"


async def test_a_closed_port_is_down_saying_connection_refused() -> None:
    port = free_port()
    outcome = await _check(port)
    assert outcome.status is Status.DOWN
    assert outcome.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


async def test_a_server_that_is_not_smtp_is_down() -> None:
    async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()

    async with tcp_server(http_like) as port:
        outcome = await _check(port)
    assert outcome.status is Status.DOWN and outcome.message.endswith("the server's answer is not SMTP")


@pytest.mark.parametrize(("options", "says"), [
    ({"cert_warn_days": 10}, "need tls"),
    ({"tls": "ssl"}, "starttls"),
    ({"helo_name": "two words"}, "one word"),
])
def test_bad_options_are_refused_saying_what_to_fix(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        SmtpOptions.model_validate(options)
