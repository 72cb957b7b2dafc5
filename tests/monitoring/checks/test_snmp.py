"""The snmp check against Debian's snmpd, started by the test on a free UDP port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.snmp import SnmpCheck, SnmpOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks import daemons
from tests.monitoring.checks.servers import target

pytestmark = pytest.mark.anyio
CHECK = SnmpCheck()
SYS_LOCATION = "1.3.6.1.2.1.1.6.0"
LO_TYPE = "1.3.6.1.2.1.2.2.1.3.1"  # ifType of ifIndex 1, the loopback: softwareLoopback (24)


@pytest.fixture(scope="module")
def agent() -> Iterator[int]:
    with daemons.snmpd() as daemon:
        yield daemon.port


@pytest.fixture
def snmp_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNMP_AUTH", daemons.SNMP_AUTH_PASS)
    monkeypatch.setenv("SNMP_PRIV", daemons.SNMP_PRIV_PASS)
    monkeypatch.setenv("SNMP_COMMUNITY", daemons.SNMP_COMMUNITY)
    monkeypatch.setenv("SNMP_WRONG", "not-the-passphrase")


async def _check(port: int, timeout: float = 3, **options: Any) -> Outcome:
    return await CHECK.check(target("127.0.0.1", port, timeout=timeout), SnmpOptions.model_validate(options),
                             CheckContext())


async def test_v2c_get_with_the_expected_value_is_up(agent: int) -> None:
    outcome = await _check(agent, community=daemons.SNMP_COMMUNITY, oid=SYS_LOCATION,
                           expected=daemons.SNMP_LOCATION)
    assert outcome.status is Status.UP, outcome.message
    assert outcome.latency_ms is not None


async def test_a_different_text_value_is_down_without_quoting_it(agent: int) -> None:
    outcome = await _check(agent, community=daemons.SNMP_COMMUNITY, oid=SYS_LOCATION, expected="Basement")
    assert outcome.status is Status.DOWN
    assert outcome.message == f"OID {SYS_LOCATION} is a different value, expected a value equal to 'Basement'"
    assert daemons.SNMP_LOCATION not in outcome.message


async def test_contains_and_numeric_thresholds(agent: int) -> None:
    assert (await _check(agent, community=daemons.SNMP_COMMUNITY, oid=SYS_LOCATION, operator="contains",
                         expected="test rack")).status is Status.UP
    below = await _check(agent, community=daemons.SNMP_COMMUNITY, oid=LO_TYPE, operator="lt", expected=10)
    assert below.status is Status.DOWN
    assert below.message == f"OID {LO_TYPE} is 24, expected below 10"  # a number is shown
    assert (await _check(agent, community=daemons.SNMP_COMMUNITY, oid=LO_TYPE, operator="gt",
                         expected=10)).status is Status.UP


async def test_the_community_can_come_from_the_environment(agent: int, snmp_secrets: None) -> None:
    outcome = await _check(agent, community_env="SNMP_COMMUNITY", oid=SYS_LOCATION)
    assert outcome.status is Status.UP, outcome.message


async def test_a_wrong_community_is_down_saying_no_answer(agent: int) -> None:
    outcome = await _check(agent, timeout=0.6, community="wrong", oid=SYS_LOCATION)
    assert outcome.status is Status.DOWN
    assert "no answer" in outcome.message and "wrong community" in outcome.message


async def test_interface_shorthand_reads_if_oper_status(agent: int) -> None:
    # ifIndex 1 is the loopback interface, always up
    up = await _check(agent, community=daemons.SNMP_COMMUNITY, interface=1)
    assert up.status is Status.UP and up.message == "interface 1 is up"
    expected_down = await _check(agent, community=daemons.SNMP_COMMUNITY, interface=1, interface_status="down")
    assert expected_down.status is Status.DOWN
    assert expected_down.message == "interface 1 is up, expected down"
    missing = await _check(agent, community=daemons.SNMP_COMMUNITY, interface=99999)
    assert missing.status is Status.DOWN and missing.message == "interface 99999: no such object on the agent"


async def test_v3_with_authentication_and_privacy(agent: int, snmp_secrets: None) -> None:
    auth = await _check(agent, version="3", user="authOnly", auth_password_env="SNMP_AUTH", oid=SYS_LOCATION,
                        expected=daemons.SNMP_LOCATION)
    assert auth.status is Status.UP, auth.message
    priv = await _check(agent, version="3", user="authPriv", auth_protocol="sha", auth_password_env="SNMP_AUTH",
                        priv_protocol="aes", priv_password_env="SNMP_PRIV", oid=SYS_LOCATION)
    assert priv.status is Status.UP, priv.message


async def test_v3_with_a_wrong_passphrase_is_down_saying_authentication_failed(agent: int, snmp_secrets: None) -> None:
    outcome = await _check(agent, timeout=1, version="3", user="authOnly", auth_password_env="SNMP_WRONG",
                           oid=SYS_LOCATION)
    assert outcome.status is Status.DOWN
    assert "authentication failed" in outcome.message, outcome.message
    assert "not-the-passphrase" not in outcome.message


async def test_an_unset_secret_variable_is_a_permanent_problem(agent: int) -> None:
    outcome = await _check(agent, version="3", user="authOnly", auth_password_env="CALCIFER_TEST_UNSET_VAR",
                           oid=SYS_LOCATION)
    assert outcome.status is Status.DOWN and outcome.permanent
    assert "CALCIFER_TEST_UNSET_VAR" in outcome.message and "not set" in outcome.message


async def test_nothing_listening_is_down_within_the_timeout() -> None:
    outcome = await _check(daemons.free_udp_port(), timeout=0.5, oid=SYS_LOCATION)
    assert outcome.status is Status.DOWN and "no answer" in outcome.message


@pytest.mark.parametrize(("options", "says"), [
    ({}, "either oid"),
    ({"oid": "1.3.6", "interface": 1}, "either oid"),
    ({"oid": "sysName.0"}, "not a numeric OID"),
    ({"oid": "1.3.6.1", "operator": "gt", "expected": "high"}, "compares numbers"),
    ({"oid": "1.3.6.1", "user": "x"}, "only for version"),
    ({"version": "3", "oid": "1.3.6.1"}, "needs a user"),
    ({"version": "3", "user": "u", "priv_password_env": "P", "oid": "1.3.6.1"}, "needs authentication"),
    ({"version": "3", "user": "u", "auth_password_env": "not a name", "oid": "1.3.6.1"}, "pattern"),
    ({"interface": 1, "expected": "up"}, "interface_status"),
])
def test_bad_options_are_refused_saying_what_to_fix(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        SnmpOptions.model_validate(options)
