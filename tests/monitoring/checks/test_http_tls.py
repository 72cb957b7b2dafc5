"""The http check against HTTPS servers on 127.0.0.1 whose certificates come from a CA the system does not
trust (trustme): expiring soon, expired, or long valid."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from calcifer.monitoring.checks import http as http_check
from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.http import HttpCheck, HttpOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import http_server, self_signed_tls, server_tls, target

pytestmark = pytest.mark.anyio
CHECK = HttpCheck()
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _check(session: aiohttp.ClientSession, url: str, ctx: CheckContext | None = None,
                 **options: Any) -> Outcome:
    context = ctx or CheckContext(http=session)
    return await CHECK.check(target(url), HttpOptions.model_validate(options), context)


def _trusting(monkeypatch: pytest.MonkeyPatch, ca: trustme.CA) -> None:
    """Make the verifying SSL context trust the test CA (the one seam: the system's trust store)."""
    verifying = ssl.create_default_context()
    ca.configure_trust(verifying)
    real = http_check.ssl_context
    monkeypatch.setattr(http_check, "ssl_context", lambda verify: verifying if verify else real(False))


async def test_a_certificate_expiring_in_3_days_is_degraded_with_the_days_left(ca, http_session) -> None:
    tls = server_tls(ca, not_after=NOW + dt.timedelta(days=3))
    async with http_server(tls) as server:
        outcome = await _check(http_session, server.url("/ok"), verify_tls=False)
    assert outcome.status is Status.DEGRADED
    assert outcome.cert is not None
    assert 2.9 < outcome.cert.days_left(dt.datetime.now(dt.UTC)) <= 3
    assert "certificate expires in 3 days" in outcome.message
    assert outcome.cert.subject == "calcifer-test"
    assert "127.0.0.1" in outcome.cert.sans


async def test_verifying_an_untrusted_certificate_is_down_with_the_tls_reason(ca, http_session) -> None:
    tls = server_tls(ca, not_after=NOW + dt.timedelta(days=3))
    async with http_server(tls) as server:
        outcome = await _check(http_session, server.url("/ok"), verify_tls=True)
    assert outcome.status is Status.DOWN
    assert outcome.message.startswith("TLS certificate verification failed:")
    assert "issuer" in outcome.message or "self" in outcome.message or "certificate" in outcome.message


async def test_an_expired_certificate_is_down_even_without_verification(ca, http_session) -> None:
    tls = server_tls(ca, not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=2))
    async with http_server(tls) as server:
        outcome = await _check(http_session, server.url("/ok"), verify_tls=False)
    assert outcome.status is Status.DOWN
    assert "certificate expired 2 days ago" in outcome.message
    assert outcome.cert is not None and outcome.cert.days_left(dt.datetime.now(dt.UTC)) < 0


async def test_an_expired_certificate_is_down_when_verified(ca, http_session, monkeypatch) -> None:
    _trusting(monkeypatch, ca)
    tls = server_tls(ca, not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=2))
    async with http_server(tls) as server:
        outcome = await _check(http_session, server.url("/ok"), verify_tls=True)
    assert outcome.status is Status.DOWN
    assert "expired" in outcome.message


async def test_a_trusted_certificate_with_months_left_is_up_and_kept(ca, http_session, monkeypatch) -> None:
    _trusting(monkeypatch, ca)
    tls = server_tls(ca, not_after=NOW + dt.timedelta(days=90))
    async with http_server(tls) as server:
        outcome = await _check(http_session, server.url("/ok"), verify_tls=True)
    assert outcome.status is Status.UP, outcome.message
    assert outcome.cert is not None
    assert 89 < outcome.cert.days_left(dt.datetime.now(dt.UTC)) <= 90


async def test_the_warning_threshold_comes_from_the_option_or_the_setting(ca, http_session) -> None:
    tls = server_tls(ca, not_after=NOW + dt.timedelta(days=20))
    async with http_server(tls) as server:
        default = await _check(http_session, server.url("/ok"), verify_tls=False)
        by_setting = await _check(http_session, server.url("/ok"),
                                  CheckContext(http=http_session, cert_warn_days=30), verify_tls=False)
        by_option = await _check(http_session, server.url("/ok"),
                                 CheckContext(http=http_session, cert_warn_days=30), verify_tls=False,
                                 cert_warn_days=7)
    assert default.status is Status.UP  # 20 days left, warned below 14
    assert by_setting.status is Status.DEGRADED
    assert "warning below 30 days" in by_setting.message
    assert by_option.status is Status.UP


async def test_the_certificate_is_read_on_a_reused_connection_too(ca, http_session) -> None:
    tls = server_tls(ca, not_after=NOW + dt.timedelta(days=3))
    async with http_server(tls) as server:
        first = await _check(http_session, server.url("/ok"), verify_tls=False)
        second = await _check(http_session, server.url("/ok"), verify_tls=False)
    assert first.cert is not None and second.cert == first.cert
    assert second.status is Status.DEGRADED


async def test_a_self_signed_certificate_expiring_in_3_days(tmp_path: Path, http_session) -> None:
    async with http_server(self_signed_tls(tmp_path, days=3)) as server:
        unverified = await _check(http_session, server.url("/ok"), verify_tls=False)
        verified = await _check(http_session, server.url("/ok"), verify_tls=True)
    assert unverified.status is Status.DEGRADED
    assert unverified.cert is not None and unverified.cert.issuer == unverified.cert.subject == "self-signed.test"
    assert 2.9 < unverified.cert.days_left(dt.datetime.now(dt.UTC)) <= 3
    assert "certificate expires in 3 days" in unverified.message
    assert verified.status is Status.DOWN
    assert verified.message.startswith("TLS certificate verification failed: self")  # OpenSSL's words
    assert "signed certificate" in verified.message
