"""Rate limits: per API token and per address on /api/v1, and a separate limit for push heartbeats and
probes. Counting uses a one-minute window (so a slow machine cannot let a request slip out of it); the
lifting uses a two-second window and is polled for with a deadline, never timed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calcifer.app import create_app, prepare
from calcifer.auth.choices import Role
from calcifer.config import Settings
from calcifer.web.context import AppContext
from tests.conftest import api_client, drop_schema, make_settings, make_token, make_user

LIMIT = 3


@pytest.fixture(params=[f"{LIMIT}/minute"])
def limited(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[AppContext, object]]:
    settings = make_settings(tmp_path / "data", api_rate_limit=request.param, push_rate_limit=request.param)
    ctx = prepare(settings)
    make_user(ctx, "eddie", Role.EDITOR)
    make_user(ctx, "vera", Role.VIEWER)
    yield ctx, create_app(ctx=ctx)
    ctx.engine.dispose()
    drop_schema(settings)


def _until_refused(client: TestClient, path: str) -> tuple[int, object]:
    """Call `path` until the answer is 429; returns how many calls passed and the 429 response."""
    for passed in range(50):
        response = client.get(path)
        if response.status_code == 429:
            return passed, response
        assert response.status_code != 500
    raise AssertionError(f"{path} was never limited")


def _until_allowed(client: TestClient, path: str, deadline_s: float = 15) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        status = client.get(path).status_code
        if status != 429:
            return status
        time.sleep(0.1)  # poll: the window moves on by itself
    raise AssertionError(f"{path} still limited after {deadline_s} s")


def test_a_token_over_the_limit_gets_429_with_retry_after(limited) -> None:  # type: ignore[no-untyped-def]
    ctx, app = limited
    client = api_client(app, make_token(ctx, "eddie"))
    passed, refused = _until_refused(client, "/api/v1/me")
    assert passed == LIMIT
    assert refused.headers["Retry-After"].isdigit() and 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert "this API token" in error["message"] and "Try again in" in error["message"]
    assert error["details"]["setting"] == "CALCIFER_API_RATE_LIMIT"
    # Another token of another user is counted on its own.
    assert api_client(app, make_token(ctx, "vera")).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("limited", [f"{LIMIT}/2second"], indirect=True)
def test_the_limit_is_lifted_after_the_window(limited) -> None:  # type: ignore[no-untyped-def]
    ctx, app = limited
    client = api_client(app, make_token(ctx, "eddie"))
    _, refused = _until_refused(client, "/api/v1/me")
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    assert _until_allowed(client, "/api/v1/me") == 200


def test_requests_without_a_token_are_limited_per_address(limited) -> None:  # type: ignore[no-untyped-def]
    ctx, app = limited
    anonymous = TestClient(app, follow_redirects=False)
    passed, refused = _until_refused(anonymous, "/api/v1/me")
    assert passed == LIMIT and refused.json()["error"]["details"]["retry_after"] >= 1
    assert "this address" in refused.json()["error"]["message"]
    # Unknown tokens count for their address too, so guessing tokens gains nothing.
    assert api_client(app, "cal_guessed").get("/api/v1/me").status_code in (401, 429)
    # Pages are not the API's business; a token's own allowance is separate.
    assert anonymous.get("/login").status_code == 200
    assert api_client(app, make_token(ctx, "vera")).get("/api/v1/me").status_code == 200


def test_push_heartbeats_and_probes_have_their_own_limit(limited) -> None:  # type: ignore[no-untyped-def]
    ctx, app = limited
    anonymous = TestClient(app, follow_redirects=False)
    passed, refused = _until_refused(anonymous, "/api/v1/push/no-such-push-token")
    assert passed == LIMIT
    assert refused.headers["Retry-After"].isdigit()
    assert refused.json()["error"]["details"]["setting"] == "CALCIFER_PUSH_RATE_LIMIT"
    # The API allowance of the same address is untouched by the heartbeats.
    assert anonymous.get("/api/v1/me").status_code == 401
    passed, _ = _until_refused(anonymous, "/metrics")
    assert passed == LIMIT
    # A liveness check is never refused: an orchestrator would restart a healthy instance.
    assert all(anonymous.get("/healthz").status_code == 200 for _ in range(LIMIT + 2))


def test_an_unreadable_limit_setting_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="600/minute"):
        Settings(_env_file=None, api_rate_limit="lots")  # type: ignore[call-arg]
