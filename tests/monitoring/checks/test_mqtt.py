"""The mqtt check against Debian's mosquitto, started by the test on free ports of 127.0.0.1: one listener
for anyone, one that needs a user and password."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.mqtt import MqttCheck, MqttOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks import daemons
from tests.monitoring.checks.servers import free_port, target

pytestmark = pytest.mark.anyio
CHECK = MqttCheck()


def _publish_retained(port: int, messages: dict[str, str]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="calcifer-test-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages.items():
            client.publish(topic, payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture(scope="module")
def broker() -> Iterator[daemons.Broker]:
    with daemons.mosquitto() as running:
        _publish_retained(running.anonymous, {"home/boiler/state": "on", "home/boiler/temp": "61.5",
                                              "home/alarm/code": "s3cr3t-code"})
        yield running


@pytest.fixture
def mqtt_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MQTT_PASS", daemons.MQTT_PASSWORD)
    monkeypatch.setenv("MQTT_WRONG", "wrong-password")


async def _check(port: int, timeout: float = 3, **options: Any) -> Outcome:
    return await CHECK.check(target("127.0.0.1", port, timeout=timeout), MqttOptions.model_validate(options),
                             CheckContext())


async def test_connecting_is_up(broker: daemons.Broker) -> None:
    outcome = await _check(broker.anonymous)
    assert outcome.status is Status.UP and outcome.message == "connected"
    assert outcome.latency_ms is not None


async def test_a_user_and_password_from_the_environment_connect(broker: daemons.Broker, mqtt_password: None) -> None:
    outcome = await _check(broker.authenticated, username=daemons.MQTT_USER, password_env="MQTT_PASS")
    assert outcome.status is Status.UP, outcome.message


async def test_a_wrong_password_or_none_is_down_saying_authentication_failed(broker: daemons.Broker,
                                                                            mqtt_password: None) -> None:
    wrong = await _check(broker.authenticated, username=daemons.MQTT_USER, password_env="MQTT_WRONG")
    assert wrong.status is Status.DOWN and "authentication failed" in wrong.message, wrong.message
    assert "wrong-password" not in wrong.message
    anonymous = await _check(broker.authenticated)
    assert anonymous.status is Status.DOWN and "authentication failed" in anonymous.message


async def test_the_expected_payload_on_a_topic_is_up(broker: daemons.Broker) -> None:
    assert (await _check(broker.anonymous, topic="home/boiler/state", expected="on")).status is Status.UP
    assert (await _check(broker.anonymous, topic="home/boiler/temp", operator="gt", expected=40)).status is Status.UP
    any_message = await _check(broker.anonymous, topic="home/boiler/#")
    assert any_message.status is Status.UP and any_message.message.startswith("a message arrived on home/boiler/")


async def test_a_different_payload_is_down_naming_the_topic_not_the_payload(broker: daemons.Broker) -> None:
    outcome = await _check(broker.anonymous, timeout=1, topic="home/alarm/code", expected="disarmed")
    assert outcome.status is Status.DOWN
    assert outcome.message == ("the payload on home/alarm/code is a different value, expected a value equal to "
                               "'disarmed' (1 message seen)")
    hot = await _check(broker.anonymous, timeout=1, topic="home/boiler/temp", operator="lt", expected=40)
    assert hot.status is Status.DOWN
    assert hot.message.startswith("the payload on home/boiler/temp is 61.5, expected below 40")


async def test_no_message_within_the_timeout_is_down(broker: daemons.Broker) -> None:
    outcome = await _check(broker.anonymous, timeout=1, topic="home/nobody/publishes", expected="x")
    assert outcome.status is Status.DOWN
    assert outcome.message.startswith("no message on home/nobody/publishes within")


async def test_a_closed_port_is_down_saying_connection_refused() -> None:
    port = free_port()
    outcome = await _check(port)
    assert outcome.status is Status.DOWN
    assert outcome.message == f"MQTT 127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize(("options", "says"), [
    ({"expected": "on"}, "need a topic"),
    ({"topic": "home/#/x"}, "must be a whole level and the last"),
    ({"topic": "home/a+/x"}, r"\+ must be a whole level"),
    ({"password_env": "P"}, "needs a username"),
    ({"topic": "t", "operator": "lt", "expected": "cold"}, "compares numbers"),
])
def test_bad_options_are_refused_saying_what_to_fix(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        MqttOptions.model_validate(options)
