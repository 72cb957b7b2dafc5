"""``mqtt``: connect to an MQTT broker (aiomqtt, on the scheduler's loop; paho's blocking socket connect
runs in a worker thread), optionally with a user and password; optionally subscribe to a topic and expect
a message (a retained one counts) whose payload matches within the endpoint's timeout."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcifer.monitoring.checks import values
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.checks.credentials import MissingSecret, env_field, read_secret
from calcifer.monitoring.choices import Status


class MqttOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(default=None, min_length=1, max_length=255, description="User name.")
    password_env: str | None = env_field("the password")
    tls: bool = Field(default=False, description="Connect with TLS (usually port 8883).")
    verify_tls: bool = Field(default=True, description="With tls: verify the certificate.")
    topic: str | None = Field(default=None, min_length=1, max_length=1024,
                              description="A topic to subscribe to (wildcards + and # allowed); a message must "
                              "arrive within the timeout (a retained one counts).")
    operator: values.Operator = Field(default="eq", description="How the payload compares with expected: eq, ne, "
                                      "lt, gt or contains.")
    expected: str | int | float | None = Field(default=None, description="With topic: the expected payload "
                                               "(left out: any message is up).")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        if value is None:
            return None
        levels = value.split("/")
        for position, level in enumerate(levels):
            if "#" in level and (level != "#" or position != len(levels) - 1):
                raise ValueError(f"{value!r}: # must be a whole level and the last one, like sensors/#")
            if "+" in level and level != "+":
                raise ValueError(f"{value!r}: + must be a whole level, like sensors/+/temperature")
        if "\x00" in value:
            raise ValueError("a topic cannot hold a NUL character")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttOptions:
        if self.topic is None and ({"expected", "operator"} & self.model_fields_set):
            raise ValueError("expected and operator need a topic to subscribe to")
        if self.expected is not None:
            values.check_expected(self.operator, self.expected)
        if self.password_env is not None and self.username is None:
            raise ValueError("password_env needs a username")
        if "verify_tls" in self.model_fields_set and not self.tls:
            raise ValueError("verify_tls goes with tls: true")
        return self


def _reason(exc: Exception) -> str:
    import aiomqtt

    code = getattr(exc, "rc", None)
    text = str(exc)
    if isinstance(exc, aiomqtt.MqttCodeError) and code is not None:
        number = getattr(code, "value", code)
        if number in (4, 5, 134, 135):  # v3 bad user/password, not authorised; v5 the same
            return "authentication failed (bad username or password, or not authorised)"
        return f"the broker refused the connection ({text or number})"
    if "refused" in text.lower():
        return "connection refused"
    if "timed out" in text.lower():
        return "no answer within the timeout"
    return text.splitlines()[0][:200] if text else type(exc).__name__


class MqttCheck(CheckType):
    kind: ClassVar[str] = "mqtt"
    Options: ClassVar[type[BaseModel]] = MqttOptions
    summary: ClassVar[str] = ("Connects to an MQTT broker; optionally subscribes to a topic and expects a "
                              "matching message within the timeout.")

    async def check(self, target: Target, options: MqttOptions, ctx: CheckContext) -> Outcome:
        import aiomqtt

        if not target.target:
            return Outcome(Status.DOWN, "an mqtt endpoint needs a target host", permanent=True)
        try:
            password = read_secret(options.password_env)
        except MissingSecret as missing:
            return Outcome(Status.DOWN, str(missing), permanent=True)
        port = target.port or (8883 if options.tls else 1883)
        where = f"{target.target}:{port}"
        tls_context = None
        if options.tls:
            tls_context = ssl.create_default_context()
            if not options.verify_tls:
                tls_context.check_hostname = False
                tls_context.verify_mode = ssl.CERT_NONE
        client = aiomqtt.Client(target.target, port, username=options.username, password=password,
                                identifier=f"calcifer-{uuid.uuid4().hex[:12]}", timeout=target.timeout,
                                keepalive=max(5, int(target.timeout) + 5), tls_context=tls_context)
        loop = asyncio.get_running_loop()
        started = loop.time()
        perf = time.perf_counter()
        try:
            async with asyncio.timeout(target.timeout):
                await client.__aenter__()
        except TimeoutError:
            return Outcome(Status.DOWN, f"MQTT {where}: no CONNACK within {target.timeout:g} s")
        except aiomqtt.MqttError as exc:
            return Outcome(Status.DOWN, f"MQTT {where}: {_reason(exc)}")
        latency_ms = (time.perf_counter() - perf) * 1000
        try:
            if options.topic is None:
                return Outcome(Status.UP, "connected", latency_ms=latency_ms)
            return await self._expect(client, options, target.timeout - (loop.time() - started), latency_ms)
        except aiomqtt.MqttError as exc:
            return Outcome(Status.DOWN, f"MQTT {where}: {_reason(exc)}", latency_ms=latency_ms)
        finally:
            try:
                async with asyncio.timeout(1):
                    await client.__aexit__(None, None, None)
            except (TimeoutError, aiomqtt.MqttError):
                pass

    async def _expect(self, client: object, options: MqttOptions, remaining: float, latency_ms: float) -> Outcome:
        import aiomqtt

        assert isinstance(client, aiomqtt.Client) and options.topic is not None
        await client.subscribe(options.topic, qos=0)
        seen = 0
        problem = ""
        try:
            async with asyncio.timeout(max(remaining, 0.05)):
                async for message in client.messages:
                    seen += 1
                    if options.expected is None:
                        return Outcome(Status.UP, f"a message arrived on {message.topic}", latency_ms=latency_ms)
                    payload = message.payload
                    value: str | bytes | int | float = ""
                    if isinstance(payload, bytes | bytearray):
                        try:
                            value = bytes(payload).decode()
                        except UnicodeDecodeError:
                            value = bytes(payload)
                    elif isinstance(payload, str | int | float):
                        value = payload
                    problem = values.compare(f"the payload on {message.topic}", value, options.operator,
                                             options.expected) or ""
                    if not problem:
                        return Outcome(Status.UP, f"the payload on {message.topic} is as expected",
                                       latency_ms=latency_ms)
        except TimeoutError:
            pass
        if not seen:
            return Outcome(Status.DOWN, f"no message on {options.topic} within {max(remaining, 0):.3g} s",
                           latency_ms=latency_ms)
        return Outcome(Status.DOWN, f"{problem} ({seen} message{'s' if seen != 1 else ''} seen)", latency_ms=latency_ms)
