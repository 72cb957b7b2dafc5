"""``grpc``: the standard gRPC health-checking protocol (``grpc.health.v1.Health/Check``), for the whole
server or one named service, over grpc's asyncio API (on the scheduler's loop)."""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcifer.monitoring.checks.base import CheckContext, CheckType, Outcome, Target
from calcifer.monitoring.choices import Status

_SERVICE = re.compile(r"^[A-Za-z0-9_.\-/]{1,255}$")
_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class GrpcOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(default="", max_length=255,
                         description="Service name to ask about, like mypackage.MyService (default \"\": the "
                         "server as a whole).")
    tls: bool = Field(default=False, description="Connect with TLS.")
    verify_tls: bool = Field(default=True, description="With tls: verify the certificate (host name and chain).")

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if value and not _SERVICE.match(value):
            raise ValueError(f"{value!r} is not a gRPC service name: letters, digits and . _ - / only, like "
                             "mypackage.MyService")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> GrpcOptions:
        if "verify_tls" in self.model_fields_set and not self.tls:
            raise ValueError("verify_tls goes with tls: true")
        return self


def _unverified_root(host: str, port: int, timeout: float) -> bytes | None:
    """The server's own certificate as a PEM root (grpc has no "verify nothing" switch; trusting what
    the server presents is the equivalent). Blocking: called in a thread."""
    import ssl

    try:
        return ssl.get_server_certificate((host, port), timeout=timeout).encode()
    except (OSError, ValueError):
        return None


class GrpcCheck(CheckType):
    kind: ClassVar[str] = "grpc"
    Options: ClassVar[type[BaseModel]] = GrpcOptions
    summary: ClassVar[str] = "Asks a gRPC server's standard health service (grpc.health.v1) whether it is serving."
    needs_port: ClassVar[bool] = True

    async def check(self, target: Target, options: GrpcOptions, ctx: CheckContext) -> Outcome:
        import asyncio

        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        if not target.target or target.port is None:
            return Outcome(Status.DOWN, "a grpc endpoint needs a target host and a port", permanent=True)
        host = f"[{target.target}]" if ":" in target.target else target.target
        where = f"{host}:{target.port}"
        channel_options: list[tuple[str, Any]] = [("grpc.enable_retries", 0),
                                                  ("grpc.max_receive_message_length", 64 * 1024)]
        if options.tls:
            root = None
            if not options.verify_tls:
                root = await asyncio.to_thread(_unverified_root, target.target, target.port, target.timeout)
                channel_options.append(("grpc.ssl_target_name_override", target.target))
            channel = grpc.aio.secure_channel(where, grpc.ssl_channel_credentials(root_certificates=root),
                                              options=channel_options)
        else:
            channel = grpc.aio.insecure_channel(where, options=channel_options)
        what = f"service {options.service!r}" if options.service else "the server"
        started = time.perf_counter()
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            response = await stub.Check(health_pb2.HealthCheckRequest(service=options.service),
                                        timeout=target.timeout)
        except grpc.aio.AioRpcError as exc:
            return Outcome(Status.DOWN, _rpc_error(exc, where, options))
        finally:
            await channel.close()
        latency_ms = (time.perf_counter() - started) * 1000
        status = _STATUS_NAMES.get(response.status, str(response.status))
        if status == "SERVING":
            return Outcome(Status.UP, f"{what} is SERVING", latency_ms=latency_ms)
        return Outcome(Status.DOWN, f"{what} is {status}, expected SERVING", latency_ms=latency_ms)


def _rpc_error(exc: object, where: str, options: GrpcOptions) -> str:
    import grpc

    assert isinstance(exc, grpc.aio.AioRpcError)
    code = exc.code()
    details = (exc.details() or "").lower()
    if code == grpc.StatusCode.NOT_FOUND:
        return f"the server does not know the service {options.service!r} (NOT_FOUND)"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return "the server has no grpc.health.v1 health service (UNIMPLEMENTED)"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer from {where} within the timeout"
    if code == grpc.StatusCode.UNAVAILABLE:
        if "connection refused" in details:
            return f"cannot connect to {where}: connection refused"
        if "ssl" in details or "handshake" in details or "certificate" in details:
            return f"TLS handshake with {where} failed"
        return f"cannot connect to {where}: unavailable"
    return f"the health check failed: {code.name}"
