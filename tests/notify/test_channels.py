"""Channels: admins configure them; viewers (and editors) neither see nor change them; the URL's
secret never appears in pages, API answers, the audit log or the logs; "send test" works."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from calcifer.audit.models import AuditEntry
from calcifer.monitoring.choices import Status
from calcifer.notify import service as notify
from calcifer.notify.apprise_channel import AppriseChannel
from calcifer.web.context import AppContext
from tests.conftest import Cast, browser_login
from tests.notify.helpers import add_endpoint, change, fire, receiver

SECRET = "s3cr3t-t0ken"


def test_viewers_and_editors_can_neither_see_nor_change_channels(ctx: AppContext, cast: Cast) -> None:
    created = cast.admin.post("/api/v1/notification-channels", json={"name": "ops", "url": "json://127.0.0.1:9/x"})
    assert created.status_code == 201, created.text
    channel_id = created.json()["id"]
    for client in (cast.viewer, cast.editor):
        assert client.get("/api/v1/notification-channels").status_code == 403
        assert client.get(f"/api/v1/notification-channels/{channel_id}").status_code == 403
        assert client.post("/api/v1/notification-channels", json={"name": "x", "url": "json://h/x"}).status_code == 403
        assert client.patch(f"/api/v1/notification-channels/{channel_id}", json={"enabled": False}).status_code == 403
        assert client.delete(f"/api/v1/notification-channels/{channel_id}").status_code == 403
        assert client.post(f"/api/v1/notification-channels/{channel_id}/test").status_code == 403
        assert client.get("/settings/notifications").status_code == 403
    assert cast.outsider.get("/api/v1/notification-channels").status_code == 401
    assert cast.admin.get(f"/api/v1/notification-channels/{channel_id}").json()["enabled"] is True


def test_the_url_secret_never_appears_in_pages_answers_audit_or_logs(
        ctx: AppContext, cast: Cast, app, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    with receiver() as hook:
        url = f"json://user:pa55word@127.0.0.1:{hook.port}/hook/{SECRET}"
        created = cast.admin.post("/api/v1/notification-channels", json={"name": "ops", "url": url})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["url_masked"] == "json://127.0.0.1…" and "url" not in body
        channel_id = body["id"]
        answers = [created.text, cast.admin.get("/api/v1/notification-channels").text,
                   cast.admin.get(f"/api/v1/notification-channels/{channel_id}").text,
                   cast.admin.patch(f"/api/v1/notification-channels/{channel_id}",
                                    json={"url": url.replace("hook", "hook2"), "reminder_minutes": 5}).text]
        test = cast.admin.post(f"/api/v1/notification-channels/{channel_id}/test")
        assert test.status_code == 200 and test.json()["status"] == "sent"
        answers.append(test.text)
        with ctx.session_factory() as session:
            eid = add_endpoint(session, "web")
            session.commit()
        fire(ctx, change(eid, "web", Status.UP, Status.DOWN, notify.utcnow()))
        notify.send_due(session_factory=ctx.session_factory)
        hook.status = 500  # a failure's error text is stored and shown
        fire(ctx, change(eid, "web", Status.DOWN, Status.UP, notify.utcnow()))
        notify.send_due(session_factory=ctx.session_factory)
        answers.append(cast.admin.get(f"/api/v1/notification-channels/{channel_id}/deliveries").text)
        browser = TestClient(app, follow_redirects=False)
        browser_login(browser, "alice")
        page = browser.get("/settings/notifications")
        assert page.status_code == 200 and "json://127.0.0.1…" in page.text
        answers.append(page.text)
        answers.append(cast.admin.get("/api/v1/audit", params={"limit": 100}).text)
    assert len(hook.received) == 2 and hook.paths[0] == f"/hook2/{SECRET}"
    with ctx.session_factory() as session:
        audit = [repr((e.summary, e.before, e.after)) for e in session.scalars(select(AuditEntry))]
    assert any("notify.channel" in a for a in [e.action for e in _audit(ctx)])
    for text in [*answers, *audit, caplog.text]:
        assert SECRET not in text and "pa55word" not in text


def _audit(ctx: AppContext) -> list[AuditEntry]:
    with ctx.session_factory() as session:
        return list(session.scalars(select(AuditEntry)))


def test_a_url_apprise_cannot_use_is_refused_without_echoing_it(cast: Cast) -> None:
    response = cast.admin.post("/api/v1/notification-channels",
                               json={"name": "bad", "url": f"nosuchscheme://{SECRET}@example.org/x"})
    assert response.status_code == 422
    assert SECRET not in response.text and "apprise" in response.json()["error"]["message"].lower()
    taken = cast.admin.post("/api/v1/notification-channels", json={"name": "ops", "url": "json://127.0.0.1:9/a"})
    assert taken.status_code == 201
    again = cast.admin.post("/api/v1/notification-channels", json={"name": "ops", "url": "json://127.0.0.1:9/b"})
    assert again.status_code == 409
    assert cast.admin.post("/api/v1/notification-channels", json={
        "name": "x", "url": "json://127.0.0.1:9/c", "events": ["sometimes"]}).status_code == 422


def test_the_send_test_button_posts_a_test_message(ctx: AppContext, cast: Cast, app) -> None:  # type: ignore[no-untyped-def]
    with receiver() as hook:
        channel_id = cast.admin.post("/api/v1/notification-channels",
                                     json={"name": "ops", "url": hook.url()}).json()["id"]
        browser = TestClient(app, follow_redirects=False)
        token = browser_login(browser, "alice")
        page = browser.get("/settings/notifications")
        assert f'action="/settings/notifications/{channel_id}/test"' in page.text
        response = browser.post(f"/settings/notifications/{channel_id}/test", data={"csrf_token": token})
        assert response.status_code == 303
        (message,) = hook.wait_for(1)
        assert "Test message sent." in browser.get("/settings/notifications").text
        hook.status = 404
        browser.post(f"/settings/notifications/{channel_id}/test", data={"csrf_token": token})
        assert "The test message failed" in browser.get("/settings/notifications").text
    assert "TEST" in message["title"] and "ops" in message["message"] and "alice" in message["message"]


def test_admins_add_edit_and_delete_channels_through_the_page(ctx: AppContext, cast: Cast, app) -> None:  # type: ignore[no-untyped-def]
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "alice")
    response = browser.post("/settings/notifications", data={
        "csrf_token": token, "name": "pager", "url": f"json://127.0.0.1:9/{SECRET}", "services": "db, web",
        "events": ["down", "recovery"], "reminder_minutes": "15"})
    assert response.status_code == 303
    (channel,) = cast.admin.get("/api/v1/notification-channels").json()["items"]
    assert channel["services"] == ["db", "web"] and channel["events"] == ["down", "recovery"]
    assert channel["reminder_minutes"] == 15
    browser.post(f"/settings/notifications/{channel['id']}", data={
        "csrf_token": token, "name": "pager", "url": "", "services": "", "tags": "prod", "events": ["down"],
        "reminder_minutes": "0"})
    (edited,) = cast.admin.get("/api/v1/notification-channels").json()["items"]
    assert edited["tags"] == ["prod"] and edited["services"] == [] and edited["enabled"] is False
    assert edited["url_masked"] == "json://127.0.0.1…"
    with ctx.session_factory() as session:
        assert notify.get_channel(session=session, channel_id=edited["id"]).url.endswith(SECRET)  # kept
    browser.post(f"/settings/notifications/{channel['id']}/delete", data={"csrf_token": token})
    assert cast.admin.get("/api/v1/notification-channels").json()["items"] == []


@pytest.mark.parametrize(("url", "shown"), [
    ("slack://T000/B000/XXXXXXXX", "slack://…"),
    ("tgram://123456:ABCDEF/987", "tgram://…"),
    ("ntfy://ntfy.sh/my-topic", "ntfy://ntfy.sh…"),
    ("mailtos://user:pw@mail.example.org?to=a@b.c", "mailtos://mail.example.org…"),
    ("json://[::1]:8080/hook", "json://::1…"),
    ("not a url", "…"),
])
def test_masked_urls_show_the_scheme_and_a_real_host_only(url: str, shown: str) -> None:
    assert notify.mask_url(url) == shown


def test_apprise_never_logs_a_url_it_cannot_parse() -> None:
    """Apprise logs an unparseable URL at ERROR, a short password whole; checking one logs nothing of it."""
    logged: list[logging.LogRecord] = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = logged.append  # type: ignore[method-assign]
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(handler)
    try:
        assert AppriseChannel().check_url("nosuchscheme://pw4711@example.org/x") is not None
    finally:
        apprise_log.removeHandler(handler)
    assert not [r for r in logged if "pw4711" in r.getMessage()]
