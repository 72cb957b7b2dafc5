"""A tcp endpoint's port written into its target (``db.internal:5432``, ``[::1]:5432``): accepted, read as
host and port, and checked for real; where it cannot be read the error says what to write."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from calcifer.catalog import index
from calcifer.catalog.schemas import EndpointSpec
from calcifer.monitoring.checks.base import CheckContext, Target
from calcifer.monitoring.checks.tcp import TcpCheck, TcpOptions
from calcifer.monitoring.choices import Status
from calcifer.web.context import AppContext
from tests.catalog import commit_files
from tests.catalog.test_catalog_schema import errors_of


def tcp(target: str, **fields: Any) -> dict[str, Any]:
    return {"name": "Database", "slug": "db", "type": "tcp", "target": target, **fields}


@pytest.mark.parametrize(("target", "port", "host", "read_port"), [
    ("db.internal:5432", None, "db.internal", 5432),
    ("10.0.0.5:22", None, "10.0.0.5", 22),
    ("[::1]:5432", None, "::1", 5432),
    ("[2001:db8::1]:443", None, "2001:db8::1", 443),
    ("[::1]", 5432, "::1", 5432),
    ("2001:db8::1", 5432, "2001:db8::1", 5432),
    ("db.internal:5432", 5432, "db.internal", 5432),
    ("db.internal", 5432, "db.internal", 5432),
])
def test_a_tcp_target_may_carry_its_port(target: str, port: int | None, host: str, read_port: int) -> None:
    spec = EndpointSpec.model_validate(tcp(target, **({"port": port} if port else {})))
    assert (spec.target, spec.port) == (host, read_port)


@pytest.mark.parametrize(("data", "path", "fragment"), [
    # Without brackets an IPv6 address's last group could be a port or not: say how to write it.
    (tcp("2001:db8::1:5432"), "port", "IPv6 address in brackets followed by the port (e.g. [2001:db8::1]:5432)"),
    (tcp("::1"), "port", "[2001:db8::1]:5432) or set port: 5432"),
    (tcp("db.internal"), "port", "write the target as host:port (e.g. db.internal:5432) or set port: 5432"),
    (tcp("db.internal:postgres"), "target", "after the colon comes the port, a number from 1 to 65535"),
    (tcp("db.internal:70000"), "target", "a number from 1 to 65535 (e.g. db.internal:5432)"),
    (tcp("db.internal:"), "target", "a number from 1 to 65535"),
    (tcp(":5432"), "target", "write the host before the colon"),
    (tcp("db:54:32"), "target", "host:port with one colon"),
    (tcp("[db.internal]:5432"), "target", "write a host name or IPv4 address without them"),
    (tcp("[::1]5432"), "target", "in brackets followed by :port, e.g. [2001:db8::1]:5432"),
    (tcp("[::1]:x"), "target", "a number from 1 to 65535 (e.g. [2001:db8::1]:5432)"),
    (tcp("db.internal:5432", port=5433), "port", "the target says port 5432 and port says 5433"),
])
def test_a_target_that_cannot_be_read_says_what_to_write(data: dict[str, Any], path: str, fragment: str) -> None:
    errors = errors_of(EndpointSpec, data)
    assert path in errors, errors
    assert fragment in errors[path]


def test_other_types_keep_their_target_as_written() -> None:
    # A ping or DNS target has no port: a colon there is not split off.
    spec = EndpointSpec.model_validate({"name": "P", "slug": "p", "type": "icmp", "target": "fe80::1"})
    assert (spec.target, spec.port) == ("fe80::1", None)


@pytest.fixture(params=[("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)], ids=["ipv4", "ipv6"])
def listener(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A listening socket on loopback: the kernel completes connections from its backlog."""
    address, family = request.param
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        sock.listen(8)
        yield address, sock.getsockname()[1]


def test_an_endpoint_file_with_host_port_is_indexed_apart_and_checked_up(
        ctx: AppContext, listener: tuple[str, int]) -> None:
    address, port = listener
    written = f"{address}:{port}" if ":" not in address else f"[{address}]:{port}"
    commit_files(ctx.repo_path, {"catalog/endpoints/db.yaml": f'name: Database\nslug: db\ntype: tcp\n'
                                                              f'target: "{written}"\n'})
    with ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=ctx.repo_path)
        row = index.get_endpoint(session=session, slug="db")
        assert (row.target, row.port) == (address, port)
        assert index.list_problems(session=session) == []
        where = Target(slug=row.slug, target=row.target, port=row.port, timeout=5)
    outcome = asyncio.run(TcpCheck().check(where, TcpOptions(), CheckContext()))
    assert outcome.status is Status.UP, outcome.message
