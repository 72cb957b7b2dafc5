"""``redis``: PING a Redis server (redis-py's asyncio client: never blocks the loop), after AUTH when the
endpoint names a password; optionally GET a key and compare its value."""

from __future__ import annotations

import time
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from calcifer.monitoring.checks import values
from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.checks.credentials import MissingSecret, env_field, read_secret
from calcifer.monitoring.checks.tcp import _reason as os_reason
from calcifer.monitoring.choices import Status


class RedisOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(default=None, min_length=1, max_length=255,
                             description="ACL user for AUTH (Redis 6+); left out: the default user.")
    password_env: str | None = env_field("the AUTH password")
    database: int = Field(default=0, ge=0, le=1000, description="Database number to SELECT.")
    tls: bool = Field(default=False, description="Connect with TLS (rediss).")
    verify_tls: bool = Field(default=True, description="With tls: verify the certificate.")
    key: str | None = Field(default=None, min_length=1, max_length=1024,
                            description="A key to GET; alone it must exist.")
    operator: values.Operator = Field(default="eq", description="How the key's value compares with expected: eq, "
                                      "ne, lt, gt or contains.")
    expected: str | int | float | None = Field(default=None, description="With key: the expected value.")

    @model_validator(mode="after")
    def _consistent(self) -> RedisOptions:
        if self.key is None and ({"expected", "operator"} & self.model_fields_set):
            raise ValueError("expected and operator need a key whose value to compare")
        if self.expected is not None:
            values.check_expected(self.operator, self.expected)
        if self.user is not None and self.password_env is None:
            raise ValueError("user needs password_env (AUTH takes a user and a password)")
        if "verify_tls" in self.model_fields_set and not self.tls:
            raise ValueError("verify_tls goes with tls: true")
        return self


def _reason(exc: Exception) -> str:
    from redis import exceptions

    if isinstance(exc, exceptions.AuthenticationError | exceptions.AuthenticationWrongNumberOfArgsError):
        return "authentication failed (wrong user or password)"
    text = str(exc)
    if "NOAUTH" in text or "Authentication required" in text:
        return "the server requires authentication (set password_env)"
    if isinstance(exc, exceptions.TimeoutError):
        return "no answer within the timeout"
    if isinstance(exc, exceptions.ConnectionError):
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, OSError):
            return os_reason(cause)
        if "Error 111 " in text or "refused" in text.lower():
            return "connection refused"
        return text.splitlines()[0][:200] or "connection failed"
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


class RedisCheck(CheckType):
    kind: ClassVar[str] = "redis"
    Options: ClassVar[type[BaseModel]] = RedisOptions
    summary: ClassVar[str] = "Sends PING to a Redis server (after AUTH); optionally reads a key and compares it."

    async def check(self, target: Target, options: RedisOptions, ctx: CheckContext) -> Outcome:
        from redis import asyncio as aioredis
        from redis import exceptions
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        if not target.target:
            return Outcome(Status.DOWN, "a redis endpoint needs a target host", permanent=True)
        try:
            password = read_secret(options.password_env)
        except MissingSecret as missing:
            return Outcome(Status.DOWN, str(missing), permanent=True)
        port = target.port or 6379
        where = f"{target.target}:{port}"
        client = aioredis.Redis(
            host=target.target, port=port, db=options.database, username=options.user, password=password,
            socket_connect_timeout=target.timeout, socket_timeout=target.timeout, ssl=options.tls,
            ssl_cert_reqs="required" if options.verify_tls else "none", ssl_check_hostname=options.verify_tls,
            retry=Retry(NoBackoff(), 0), decode_responses=False, client_name="calcifer-monitor")
        started = time.perf_counter()
        try:
            await client.ping()
            latency_ms = (time.perf_counter() - started) * 1000
            if options.key is None:
                return Outcome(Status.UP, "PONG", latency_ms=latency_ms)
            value = await client.get(options.key)
        except exceptions.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                return Outcome(Status.DOWN, f"key {options.key!r} is not a string")
            return Outcome(Status.DOWN, f"Redis {where}: {_reason(exc)}")
        except (exceptions.RedisError, OSError) as exc:
            return Outcome(Status.DOWN, f"Redis {where}: {_reason(exc)}")
        finally:
            await client.aclose()
        if value is None:
            return Outcome(Status.DOWN, f"key {options.key!r} does not exist", latency_ms=latency_ms)
        if options.expected is None:
            return Outcome(Status.UP, f"key {options.key!r} exists", latency_ms=latency_ms)
        text: str | bytes = value
        if isinstance(value, bytes):
            try:
                text = value.decode()
            except UnicodeDecodeError:
                pass
        problem = values.compare(f"key {options.key!r}", text, options.operator, options.expected)
        if problem:
            return Outcome(Status.DOWN, problem, latency_ms=latency_ms)
        return Outcome(Status.UP, f"key {options.key!r} as expected", latency_ms=latency_ms)
