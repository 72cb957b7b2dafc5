"""The http check against a real aiohttp server on 127.0.0.1 (plain HTTP; TLS in test_http_tls.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from calcifer.monitoring.checks.base import CheckContext, Outcome
from calcifer.monitoring.checks.http import HttpCheck, HttpOptions, parse_json_path
from calcifer.monitoring.choices import Status
from tests.monitoring.checks.servers import HttpServer, free_port, http_server, target

pytestmark = pytest.mark.anyio
CHECK = HttpCheck()


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    async with http_server() as running:
        yield running


async def _check(session: aiohttp.ClientSession, url: str, timeout: float = 10, **options: Any) -> Outcome:
    return await CHECK.check(target(url, timeout=timeout), HttpOptions.model_validate(options),
                             CheckContext(http=session))


async def test_a_page_answering_200_is_up_with_a_latency(server: HttpServer, http_session) -> None:
    outcome = await _check(http_session, server.url("/ok"))
    assert outcome.status is Status.UP
    assert outcome.latency_ms is not None
    assert outcome.cert is None  # plain HTTP has no certificate


async def test_a_wrong_status_is_down_saying_what_was_expected_and_what_came(server, http_session) -> None:
    outcome = await _check(http_session, server.url("/status/503"))
    assert outcome.status is Status.DOWN
    assert outcome.message == "expected status 200-299, got 503"


@pytest.mark.parametrize(("accepted", "code", "status"), [
    (["200-299"], 204, Status.UP),
    (["200-299", 404], 404, Status.UP),
    ([401, 403], 403, Status.UP),
    (["400-499"], 418, Status.UP),
    (["400-499"], 500, Status.DOWN),
    ([200, "301-302"], 410, Status.DOWN),
    (["418"], 418, Status.UP),
])
async def test_accepted_statuses_are_lists_of_codes_and_ranges(server, http_session, accepted, code,
                                                              status) -> None:
    outcome = await _check(http_session, server.url(f"/status/{code}"), accepted_status=accepted)
    assert outcome.status is status, outcome.message


async def test_a_present_keyword_is_up_and_a_missing_one_is_down(server, http_session) -> None:
    assert (await _check(http_session, server.url("/ok"), keyword="systems ok")).status is Status.UP
    missing = await _check(http_session, server.url("/ok"), keyword="database ok")
    assert missing.status is Status.DOWN
    assert missing.message == "keyword 'database ok' not found"


async def test_a_keyword_that_must_be_absent_is_down_when_it_shows_up(server, http_session) -> None:
    assert (await _check(http_session, server.url("/ok"), keyword_absent="error")).status is Status.UP
    found = await _check(http_session, server.url("/ok"), keyword_absent="systems")
    assert found.status is Status.DOWN
    assert "keyword 'systems' found" in found.message


async def test_a_json_value_equal_to_the_expected_one_is_up(server, http_session) -> None:
    for path, value in (("data.state", "green"), ("$.data.items[1].state", "green"), ("data.count", 3),
                        ("data.healthy", True), ("data.items[-1].name", "cache")):
        outcome = await _check(http_session, server.url("/json"), json_path=path, json_equals=value)
        assert outcome.status is Status.UP, (path, outcome.message)


async def test_a_different_json_value_is_down_naming_the_path_but_not_the_values(server, http_session) -> None:
    outcome = await _check(http_session, server.url("/json"), json_path="data.items[0].state",
                           json_equals="green")
    assert outcome.status is Status.DOWN
    assert outcome.message == "JSON path data.items[0].state does not equal the expected value"


async def test_json_true_is_not_the_number_one(server, http_session) -> None:
    outcome = await _check(http_session, server.url("/json"), json_path="data.healthy", json_equals=1)
    assert outcome.status is Status.DOWN


async def test_json_contains_looks_inside_the_value_text(server, http_session) -> None:
    assert (await _check(http_session, server.url("/json"), json_path="data.version",
                         json_contains="1.24")).status is Status.UP
    wrong = await _check(http_session, server.url("/json"), json_path="data.version", json_contains="2.0")
    assert wrong.status is Status.DOWN
    assert wrong.message == "JSON path data.version does not contain the expected text"


async def test_a_missing_json_path_or_a_body_that_is_not_json_is_down(server, http_session) -> None:
    missing = await _check(http_session, server.url("/json"), json_path="data.nothing", json_equals=1)
    assert missing.status is Status.DOWN
    assert "not found" in missing.message and "'nothing'" in missing.message
    html = await _check(http_session, server.url("/html"), json_path="data.state")
    assert html.status is Status.DOWN
    assert "not JSON" in html.message


async def test_redirects_are_followed_by_default_and_judged_when_not(server, http_session) -> None:
    followed = await _check(http_session, server.url("/redirect"), keyword="systems ok")
    assert followed.status is Status.UP
    not_followed = await _check(http_session, server.url("/redirect"), follow_redirects=False)
    assert not_followed.status is Status.DOWN
    assert not_followed.message == "expected status 200-299, got 302"
    accepted = await _check(http_session, server.url("/redirect"), follow_redirects=False,
                            accepted_status=[302])
    assert accepted.status is Status.UP


async def test_a_response_slower_than_the_maximum_is_degraded(server, http_session) -> None:
    # The handler sleeps 500 ms; a busy machine only makes it slower.
    outcome = await _check(http_session, server.url("/slow"), max_response_ms=50)
    assert outcome.status is Status.DEGRADED
    assert "expected under 50 ms" in outcome.message


async def test_a_post_with_a_body_and_headers_reaches_the_server(server, http_session) -> None:
    outcome = await _check(http_session, server.url("/echo"), method="post", body='{"ping": 1}',
                           headers={"Content-Type": "application/json", "X-Probe": "calcifer"})
    assert outcome.status is Status.UP
    [received] = server.received
    assert received.method == "POST"
    assert received.body == b'{"ping": 1}'
    assert received.headers["X-Probe"] == "calcifer"
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"].startswith("Calcifer/")


async def test_every_method_is_sent_as_asked(server, http_session) -> None:
    for method in ("HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"):
        outcome = await _check(http_session, server.url("/echo"), method=method)
        assert outcome.status is Status.UP, (method, outcome.message)
    assert [r.method for r in server.received] == ["HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def test_a_closed_port_is_down_saying_the_connection_was_refused(http_session) -> None:
    port = free_port()
    outcome = await _check(http_session, f"http://127.0.0.1:{port}/")
    assert outcome.status is Status.DOWN
    assert outcome.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


async def test_a_server_that_never_answers_is_down_within_the_timeout(server, http_session) -> None:
    outcome = await asyncio.wait_for(_check(http_session, server.url("/hang"), timeout=0.5), timeout=30)
    assert outcome.status is Status.DOWN
    assert outcome.message == "no response within 0.5 s"


async def test_without_a_shared_session_a_one_off_check_still_works(server) -> None:
    outcome = await CHECK.check(target(server.url("/ok")), HttpOptions(), CheckContext(http=None))
    assert outcome.status is Status.UP


def test_json_paths_read_dots_indexes_and_quoted_keys() -> None:
    assert parse_json_path("$.data.items[0].state") == ["data", "items", 0, "state"]
    assert parse_json_path("status") == ["status"]
    assert parse_json_path('checks["db.primary"].ok') == ["checks", "db.primary", "ok"]
    assert parse_json_path("list[-1]") == ["list", -1]
    with pytest.raises(ValueError, match="cannot read the JSON path"):
        parse_json_path("data..state[")
