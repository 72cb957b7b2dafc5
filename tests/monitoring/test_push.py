"""Push heartbeats: the secret URL (public, token in the path), recording calls, and the push check
judging what was recorded. Endpoints reach the catalog the real way: a work item merged to main."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac

import pytest
from fastapi.testclient import TestClient

from calcifer.errors import NotFound
from calcifer.monitoring import push
from calcifer.monitoring.checks.base import CheckContext, Outcome, Target
from calcifer.monitoring.checks.push import PushCheck, PushOptions
from calcifer.monitoring.choices import Status
from calcifer.web.context import AppContext
from tests.catalog.helpers import error_of, land_files
from tests.conftest import Cast

ENDPOINTS = {
    "catalog/endpoints/nightly-backup.yaml": ("name: Nightly backup\nslug: nightly-backup\ntype: push\n"
                                              "interval: 86400\noptions:\n  grace: 3600\n"),
    "catalog/endpoints/paused-job.yaml": "name: Paused job\nslug: paused-job\ntype: push\nenabled: false\n",
    "catalog/endpoints/db-port.yaml": "name: DB port\nslug: db-port\ntype: tcp\ntarget: db.lan\nport: 5432\n",
}


@pytest.fixture
def landed(cast: Cast) -> Cast:
    land_files(cast.editor, ENDPOINTS, title="Push endpoints")
    return cast


def _token(ctx: AppContext, slug: str = "nightly-backup") -> str:
    return push.push_token(ctx.secret_key, slug)


def _judge(ctx: AppContext, now: dt.datetime | None = None) -> Outcome:
    with ctx.session_factory() as session:
        seen = push.heartbeats(session=session)
    check_ctx = CheckContext(push_seen=seen.get, now=lambda: now or dt.datetime.now(dt.UTC))
    return asyncio.run(PushCheck().check(Target(slug="nightly-backup", target=None, port=None, timeout=10,
                                                interval=86400), PushOptions(grace=3600), check_ctx))


def test_the_token_is_the_first_32_hex_of_an_hmac_of_the_slug() -> None:
    expected = hmac.new(b"s3cret", b"push:nightly-backup", hashlib.sha256).hexdigest()[:32]
    assert push.push_token("s3cret", "nightly-backup") == expected
    assert push.push_token(secret_key="s3cret", slug="nightly-backup") == expected
    assert push.push_token("s3cret", "other") != expected
    assert push.push_url("s3cret", "nightly-backup", "https://calcifer.lan/") == (
        f"https://calcifer.lan/api/v1/push/{expected}")


def test_a_heartbeat_works_without_login_by_get_and_post(landed: Cast, ctx: AppContext) -> None:
    anonymous = landed.outsider
    url = f"/api/v1/push/{_token(ctx)}"
    assert anonymous.get(url).json() == {"ok": True}
    # A POST from a script carries no CSRF token: the secret in the path is the authentication.
    response = anonymous.post(url + "?msg=42%20files", content=b"anything")
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True}
    with ctx.session_factory() as session:
        row = push.heartbeat(session=session, slug="nightly-backup")
        assert row is not None
        assert (row.pushes, row.reported_status, row.message) == (2, "up", "42 files")
    outcome = _judge(ctx)
    assert outcome.status is Status.UP
    assert outcome.message.startswith("last heartbeat ")


def test_before_any_heartbeat_the_push_check_is_down(landed: Cast, ctx: AppContext) -> None:
    outcome = _judge(ctx)
    assert outcome.status is Status.DOWN
    assert outcome.message == "no heartbeat received yet"


def test_a_heartbeat_reporting_down_makes_the_check_down_with_its_message(landed: Cast, ctx: AppContext) -> None:
    response = landed.outsider.get(f"/api/v1/push/{_token(ctx)}", params={"status": "down", "msg": "disk full"})
    assert response.status_code == 200, response.text
    outcome = _judge(ctx)
    assert outcome.status is Status.DOWN
    assert outcome.message.endswith(": disk full")


def test_an_old_heartbeat_makes_the_check_down(landed: Cast, ctx: AppContext) -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with ctx.session_factory() as session:
        slug = push.record_push(session=session, secret_key=ctx.secret_key, token=_token(ctx), at=long_ago)
    assert slug == "nightly-backup"
    outcome = _judge(ctx)
    assert outcome.status is Status.DOWN
    assert "expected every 86400 s + 3600 s grace" in outcome.message


def test_a_wrong_token_is_404_and_names_no_endpoint(landed: Cast, ctx: AppContext) -> None:
    for token in ("0" * 32, _token(ctx)[:-1] + "x", "short", _token(ctx).upper()):
        error = error_of(landed.outsider.get(f"/api/v1/push/{token}"), 404)
        assert error["code"] == "unknown_push_token"
        assert "nightly-backup" not in error["message"]
    error_of(landed.outsider.post(f"/api/v1/push/{'1' * 32}"), 404)


def test_only_enabled_push_endpoints_have_a_heartbeat_url(landed: Cast, ctx: AppContext) -> None:
    for slug in ("paused-job", "db-port"):
        error_of(landed.outsider.get(f"/api/v1/push/{_token(ctx, slug)}"), 404)


def test_an_unknown_status_is_refused_rather_than_read_as_up(landed: Cast, ctx: AppContext) -> None:
    error = error_of(landed.outsider.get(f"/api/v1/push/{_token(ctx)}", params={"status": "maybe"}), 422)
    assert "up or down" in error["message"]
    with ctx.session_factory() as session:
        assert push.heartbeat(session=session, slug="nightly-backup") is None


def test_messages_are_kept_on_one_line_and_cut_to_300_characters(landed: Cast, ctx: AppContext) -> None:
    landed.outsider.get(f"/api/v1/push/{_token(ctx)}", params={"status": "down", "msg": "x\n\ty" + "z" * 1000})
    with ctx.session_factory() as session:
        row = push.heartbeat(session=session, slug="nightly-backup")
        assert row is not None
        assert row.message.startswith("x y")
        assert len(row.message) == 300


def test_record_push_raises_not_found_for_an_unknown_token(ctx: AppContext) -> None:
    with ctx.session_factory() as session, pytest.raises(NotFound):
        push.record_push(session=session, secret_key=ctx.secret_key, token="a" * 32)


def test_a_browser_session_can_call_it_too(landed: Cast, app, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as browser:
        browser.get("/login")  # picks up the CSRF cookie, sends no token back
        assert browser.post(f"/api/v1/push/{_token(ctx)}").status_code == 200
