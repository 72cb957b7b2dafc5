"""A check's message is shown to every viewer: it says what was expected and whether it matched, and never
quotes what the target sent (a JSON value, a body, a header, a redirect, a banner, a DNS answer)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.dns import DnsCheck, DnsOptions
from calcifer.monitoring.checks.http import HttpCheck, HttpOptions
from calcifer.monitoring.checks.tcp import TcpCheck, TcpOptions
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import dns_server, target, tcp_server

pytestmark = pytest.mark.anyio
SECRET = "hunter2-internal-only"
CONFIG = {"db": {"host": "db.internal", "password": SECRET, "pool": {"size": 5, "token": SECRET}}}


def _answering(raw: bytes):  # type: ignore[no-untyped-def]
    """A TCP handler that reads the request and answers `raw` bytes, whatever they are."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(raw)
        await writer.drain()

    return answer


def _json_response(document: Any) -> bytes:
    body = json.dumps(document).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def _http(session: aiohttp.ClientSession, raw: bytes, **options: Any) -> Outcome:
    async with tcp_server(_answering(raw)) as port:
        return await HttpCheck().check(target(f"http://127.0.0.1:{port}/health"),
                                       HttpOptions.model_validate(options), CheckContext(http=session))


async def test_a_json_value_that_differs_is_named_by_its_path_never_by_its_value(http_session) -> None:
    outcome = await _http(http_session, _json_response(CONFIG), json_path="db.password", json_equals="x")
    assert outcome.status is Status.DOWN
    assert outcome.message == "JSON path db.password does not equal the expected value"


@pytest.mark.parametrize("options", [
    {"json_path": "db", "json_equals": "x"},
    {"json_path": "db.pool", "json_equals": {"size": 5}},
    {"json_path": "db", "json_contains": "no-such-text"},
    {"json_path": "db.password", "json_contains": "no-such-text"},
])
async def test_whole_objects_and_strings_read_by_json_path_are_never_quoted(http_session, options) -> None:
    outcome = await _http(http_session, _json_response(CONFIG), **options)
    assert outcome.status is Status.DOWN
    assert SECRET not in outcome.message and "db.internal" not in outcome.message
    assert outcome.message.startswith(f"JSON path {options['json_path']} does not ")


@pytest.mark.parametrize(("raw", "says"), [
    (f"{SECRET} garbage\r\n\r\n".encode(), "not valid HTTP"),
    (f"HTTP/1.1 200 OK\r\nX-Leak: {SECRET}\x00\r\nContent-Length: 0\r\n\r\n".encode(), "not valid HTTP"),
    (f"HTTP/1.1 302 Found\r\nLocation: http://[{SECRET}\r\nContent-Length: 0\r\n\r\n".encode(),
     "redirected to a location that is not a valid URL"),
    (f"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{SECRET}".encode(), "cut short"),
])
async def test_a_malformed_answer_is_described_without_quoting_it(http_session, raw: bytes, says: str) -> None:
    outcome = await _http(http_session, raw, keyword="ok")
    assert outcome.status is Status.DOWN
    assert says in outcome.message and SECRET not in outcome.message


async def test_a_wrong_banner_is_not_quoted() -> None:
    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"220 {SECRET}\r\n".encode())
        await writer.drain()
        await reader.read()  # until the check hangs up

    async with tcp_server(greet) as port:
        outcome = await TcpCheck().check(target("127.0.0.1", port), TcpOptions(expect_banner="SSH-2.0"),
                                         CheckContext())
    assert outcome.status is Status.DOWN
    assert "expected banner 'SSH-2.0'" in outcome.message and SECRET not in outcome.message


async def test_dns_answers_are_counted_not_quoted() -> None:
    records = {("vault.lab.test", "TXT"): [f'"{SECRET}"'], ("vault.lab.test", "A"): ["10.9.8.7"]}
    async with dns_server(records) as port:
        resolver = f"127.0.0.1:{port}"
        up = await DnsCheck().check(target("vault.lab.test"),
                                    DnsOptions(resolver=resolver, record_type="TXT"), CheckContext())
        down = await DnsCheck().check(target("vault.lab.test"),
                                      DnsOptions(resolver=resolver, record_type="A", expected=["10.0.0.1"]),
                                      CheckContext())
    assert up.status is Status.UP and up.message == "TXT: 1 answer"
    assert down.status is Status.DOWN and "10.9.8.7" not in down.message
    assert down.message == "expected 10.0.0.1 among the A answers: not found (1 answer)"


async def test_a_check_that_raises_shows_only_the_error_type_not_its_text() -> None:
    from calcifer.monitoring.checks.base import CheckType, Target
    from calcifer.monitoring.scheduler import Job, run_check

    class Leaky(CheckType):
        kind = "leaky"
        Options = TcpOptions

        async def check(self, target: Target, options: Any, ctx: CheckContext) -> Outcome:
            raise ValueError(f"could not parse {SECRET!r}")

    job = Job(endpoint_id=1, slug="leaky", service=None, kind="leaky", check=Leaky(), options=TcpOptions(),
              target=target("127.0.0.1", 1, slug="leaky"), interval=60, timeout=5, retries=0, fingerprint="",
              last_checked=None)
    outcome, _ = await run_check(job, CheckContext(), asyncio.get_running_loop())
    assert outcome.status is Status.DOWN
    assert outcome.message == "check failed: ValueError"
