"""The grpc check against a grpcio server started by the test on a free port of 127.0.0.1, serving the
standard health service (grpcio-health-checking)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.grpc import GrpcCheck, GrpcOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import free_port, self_signed_tls, target

pytestmark = pytest.mark.anyio
CHECK = GrpcCheck()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[int, int]]:
    """(a server with the health service: '' and calcifer.Orders serving, calcifer.Billing not;
    a server without it)."""
    with_health = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    servicer.set("calcifer.Orders", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("calcifer.Billing", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, with_health)
    healthy_port = with_health.add_insecure_port("127.0.0.1:0")
    without_health = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    bare_port = without_health.add_insecure_port("127.0.0.1:0")
    with_health.start()
    without_health.start()
    yield healthy_port, bare_port
    with_health.stop(None)
    without_health.stop(None)


async def _check(port: int, **options: Any) -> Outcome:
    return await CHECK.check(target("127.0.0.1", port, timeout=5), GrpcOptions.model_validate(options),
                             CheckContext())


async def test_the_server_as_a_whole_is_serving(servers: tuple[int, int]) -> None:
    outcome = await _check(servers[0])
    assert outcome.status is Status.UP and outcome.message == "the server is SERVING"
    assert outcome.latency_ms is not None


async def test_a_named_service(servers: tuple[int, int]) -> None:
    assert (await _check(servers[0], service="calcifer.Orders")).status is Status.UP
    billing = await _check(servers[0], service="calcifer.Billing")
    assert billing.status is Status.DOWN
    assert billing.message == "service 'calcifer.Billing' is NOT_SERVING, expected SERVING"
    unknown = await _check(servers[0], service="calcifer.Nothing")
    assert unknown.status is Status.DOWN
    assert unknown.message == "the server does not know the service 'calcifer.Nothing' (NOT_FOUND)"


async def test_a_server_without_the_health_service_is_down_saying_so(servers: tuple[int, int]) -> None:
    outcome = await _check(servers[1])
    assert outcome.status is Status.DOWN
    assert outcome.message == "the server has no grpc.health.v1 health service (UNIMPLEMENTED)"


async def test_a_closed_port_is_down_saying_connection_refused() -> None:
    port = free_port()
    outcome = await _check(port)
    assert outcome.status is Status.DOWN
    assert outcome.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize(("options", "says"), [
    ({"service": "bad service"}, "not a gRPC service name"),
    ({"verify_tls": False}, "goes with tls"),
])
def test_bad_options_are_refused_saying_what_to_fix(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        GrpcOptions.model_validate(options)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A health server behind TLS with a self-signed certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("grpc-tls")
    self_signed_tls(folder, days=90)
    credentials = grpc.ssl_server_credentials([((folder / "key.pem").read_bytes(), (folder / "cert.pem").read_bytes())])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield port
    server.stop(None)


async def test_tls_with_an_unverified_self_signed_certificate(tls_server: int) -> None:
    outcome = await _check(tls_server, tls=True, verify_tls=False)
    assert outcome.status is Status.UP, outcome.message
    verified = await _check(tls_server, tls=True)
    assert verified.status is Status.DOWN and "TLS handshake" in verified.message, verified.message
