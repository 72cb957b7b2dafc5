"""The dns check against a tiny DNS server on a loopback UDP port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.dns import DnsCheck, DnsOptions, normalise, parse_resolver
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import dns_server, free_port, target

pytestmark = pytest.mark.anyio
CHECK = DnsCheck()
RECORDS = {
    ("grafana.lab.test", "A"): ["10.0.0.7", "10.0.0.8"],
    ("grafana.lab.test", "TXT"): ['"v=spf1 -all"'],
    ("www.lab.test", "CNAME"): ["grafana.lab.test."],
    ("lab.test", "MX"): ["10 Mail.Lab.Test."],
}


@pytest.fixture
async def resolver() -> AsyncIterator[str]:
    async with dns_server(RECORDS) as port:
        yield f"127.0.0.1:{port}"


async def _check(name: str, resolver: str, timeout: float = 5, **options: Any) -> Outcome:
    return await CHECK.check(target(name, timeout=timeout),
                             DnsOptions.model_validate({"resolver": resolver, **options}), CheckContext())


async def test_a_name_with_an_a_record_is_up_counting_the_answers(resolver) -> None:
    outcome = await _check("grafana.lab.test", resolver)
    assert outcome.status is Status.UP
    assert outcome.message == "A: 2 answers"


async def test_expected_addresses_among_the_answers_are_up(resolver) -> None:
    assert (await _check("grafana.lab.test", resolver, expected=["10.0.0.8"])).status is Status.UP
    assert (await _check("grafana.lab.test", resolver, expected=["10.0.0.7", "10.0.0.8"])).status is Status.UP


async def test_an_expected_address_missing_from_the_answers_is_down_naming_only_the_expected(resolver) -> None:
    outcome = await _check("grafana.lab.test", resolver, expected=["10.0.0.9"])
    assert outcome.status is Status.DOWN
    assert outcome.message == "expected 10.0.0.9 among the A answers: not found (2 answers)"


async def test_a_txt_record_is_compared_as_its_unquoted_text(resolver) -> None:
    assert (await _check("grafana.lab.test", resolver, record_type="TXT",
                         expected=["v=spf1 -all"])).status is Status.UP
    wrong = await _check("grafana.lab.test", resolver, record_type="txt", expected=["v=spf1 ~all"])
    assert wrong.status is Status.DOWN
    assert "v=spf1 ~all" in wrong.message and "v=spf1 -all" not in wrong.message


async def test_names_compare_without_case_or_trailing_dot(resolver) -> None:
    assert (await _check("www.lab.test", resolver, record_type="CNAME",
                         expected=["Grafana.Lab.Test"])).status is Status.UP
    assert (await _check("lab.test", resolver, record_type="MX",
                         expected=["10 mail.lab.test"])).status is Status.UP


async def test_a_name_that_does_not_exist_is_down_with_nxdomain(resolver) -> None:
    outcome = await _check("nothing.lab.test", resolver)
    assert outcome.status is Status.DOWN
    assert outcome.message.startswith("NXDOMAIN: nothing.lab.test does not exist")


async def test_a_name_without_the_record_type_is_down_saying_so(resolver) -> None:
    outcome = await _check("www.lab.test", resolver, record_type="AAAA")
    assert outcome.status is Status.DOWN
    assert outcome.message.startswith("no AAAA record for www.lab.test")


async def test_a_resolver_that_does_not_answer_is_down_within_the_timeout() -> None:
    outcome = await _check("grafana.lab.test", f"127.0.0.1:{free_port()}", timeout=0.5)
    assert outcome.status is Status.DOWN
    assert "grafana.lab.test" in outcome.message


def test_resolvers_are_addresses_with_an_optional_port() -> None:
    assert parse_resolver("10.0.0.53") == ("10.0.0.53", 53)
    assert parse_resolver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver("::1") == ("::1", 53)
    assert parse_resolver("[::1]:5353") == ("::1", 5353)
    for bad in ("dns.example.org", "10.0.0.53:http", "10.0.0.53:70000"):
        with pytest.raises(ValueError):
            parse_resolver(bad)


def test_answers_are_normalised_by_type() -> None:
    assert normalise("AAAA", "2001:db8:0:0::1") == "2001:db8::1"
    assert normalise("NS", "NS1.Example.ORG.") == "ns1.example.org"
    assert normalise("TXT", "Case Matters") == "Case Matters"
