"""Notifications for each person, end to end: the request writes only the outbox; the inbox's round (its
background service's work, run here at once) writes notifications and hands mails to a real SMTP server
(aiosmtpd on 127.0.0.1). One mail per event, a digest when several come within the window, and an
unsubscribe link that works without logging in."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from calcifer.auth.models import User
from calcifer.db import utcnow
from calcifer.discussion import service as discussion
from calcifer.discussion.choices import TargetKind, WatchReason
from calcifer.events import IncidentChanged
from calcifer.inbox import service as inbox
from calcifer.inbox.models import PersonSettings
from calcifer.outbox import service as outbox
from calcifer.web.context import AppContext
from tests.conftest import Cast, csrf_token
from tests.inbox.helpers import Smtp, body_text, configure_smtp, run_inbox, smtp_server
from tests.work.helpers import finish_documentation, make_work_item, write_and_commit

EMAILS = {"alice": "alice@example.org", "eddie": "eddie@example.org", "vera": "vera@example.org"}


@pytest.fixture
def smtp(cast: Cast, ctx: AppContext) -> Iterator[Smtp]:
    with ctx.session_factory() as session:
        for name, address in EMAILS.items():
            session.execute(update(User).where(User.username == name).values(email=address))
        session.commit()
    with smtp_server() as server:
        configure_smtp(cast.admin, server.port, digest_minutes=0)
        yield server


def _kinds(client: TestClient) -> list[str]:
    return [n["kind"] for n in client.get("/api/v1/notifications").json()["items"]]


def test_assigned_mention_comment_review_merge_each_notify_and_mail(cast: Cast, ctx: AppContext, smtp: Smtp) -> None:
    item = make_work_item(cast.editor, title="Move DNS", assignee="vera")
    run_inbox(ctx)
    assert _kinds(cast.viewer) == ["assigned"]
    mail = smtp.wait_for(lambda ms: any(m["To"] == EMAILS["vera"] for m in ms))[-1]
    assert "Move DNS is assigned to you" in mail["Subject"]
    assert "http://calcifer.test/work/" in body_text(mail)
    assert "http://calcifer.test/unsubscribe?token=" in body_text(mail, "html")

    cast.admin.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "@vera can you check the TTL?"})
    run_inbox(ctx)
    assert _kinds(cast.viewer)[0] == "mention"          # a mention, not also "comment"
    assert _kinds(cast.editor)[0] == "comment"          # the creator watches
    cast.editor.post(f"/api/v1/work-items/{item['id']}/reviews", json={"verdict": "request"})
    run_inbox(ctx)
    assert _kinds(cast.viewer)[0] == "review_requested"
    assert "review_requested" not in _kinds(cast.editor)  # not told of what they did themselves
    assert cast.admin.post(f"/api/v1/work-items/{item['id']}/reviews", json={"verdict": "approve"}).status_code == 201
    run_inbox(ctx)
    assert _kinds(cast.editor)[0] == "reviewed"
    write_and_commit(cast.editor, item, "catalog/notes.txt", "x\n")
    finish_documentation(cast.editor, item)
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200
    run_inbox(ctx)
    assert _kinds(cast.viewer)[0] == "merged"
    assert _kinds(cast.admin)[0] == "merged"             # commented, so watching; reviewed too
    subjects = [m["Subject"] for m in smtp.to(EMAILS["vera"])]
    assert any("assigned to you" in s for s in subjects)
    assert any("mentioned you" in s for s in subjects)
    assert any("asks for a review" in s for s in subjects)
    assert any("was merged" in s for s in subjects)
    assert any("approved" in m["Subject"] for m in smtp.to(EMAILS["eddie"]))


def test_cancel_and_incident_notify_watchers_and_owners(cast: Cast, ctx: AppContext, smtp: Smtp) -> None:
    item = make_work_item(cast.editor, title="Try Caddy")
    cast.admin.put(f"/api/v1/work-items/{item['id']}/watch")
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}", params={"confirm": True}).status_code == 200
    run_inbox(ctx)
    assert _kinds(cast.admin)[0] == "cancelled"
    with ctx.session_factory() as session:
        vera = session.query(User).filter_by(username="vera").one()
        discussion.auto_watch(session=session, kind=TargetKind.SERVICE, key="dns", user_ids=[vera.id],
                              reason=WatchReason.MANUAL)
        outbox.record_incidents(session=session, changes=[IncidentChanged(
            incident_id=7, endpoint="dns-udp", service="dns", resolved=False, started_at=utcnow(),
            message="timeout")])
        session.commit()
    run_inbox(ctx)
    assert _kinds(cast.viewer)[0] == "incident"
    assert any("Incident on dns" in m["Subject"] for m in smtp.to(EMAILS["vera"]))


def test_several_events_within_the_window_leave_as_one_digest(cast: Cast, ctx: AppContext, smtp: Smtp) -> None:
    configure_smtp(cast.admin, smtp.port, digest_minutes=10)
    item = make_work_item(cast.editor, title="Rotate keys", assignee="vera")
    run_inbox(ctx)
    smtp.wait_for(lambda ms: len([m for m in ms if m["To"] == EMAILS["vera"]]) == 1)
    for n in range(3):
        cast.admin.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": f"@vera note {n}"})
    run_inbox(ctx)
    assert len(smtp.to(EMAILS["vera"])) == 1  # within ten minutes of the last mail: waits
    assert _kinds(cast.viewer)[:3] == ["mention"] * 3  # in-app at once
    with ctx.session_factory() as session:  # ten minutes pass
        session.execute(update(PersonSettings).values(last_mail_at=utcnow() - dt.timedelta(minutes=11)))
        session.commit()
    run_inbox(ctx)
    mails = smtp.wait_for(lambda ms: len([m for m in ms if m["To"] == EMAILS["vera"]]) == 2)
    digest = [m for m in mails if m["To"] == EMAILS["vera"]][-1]
    assert digest["Subject"] == "[Calcifer] 3 notifications"
    assert body_text(digest).count("mentioned you") == 3


def test_a_mail_claimed_by_a_sender_that_died_is_sent_later_and_once(cast: Cast, ctx: AppContext,
                                                                       smtp: Smtp) -> None:
    make_work_item(cast.editor, title="Renew certificates", assignee="vera")
    second = dt.timedelta(seconds=1)
    with ctx.session_factory() as session:
        assert inbox.fan_out(session=session) == 1
        start = utcnow()
        died = inbox.claim_mail(session=session, secret_key=ctx.secret_key, now=start)  # its sender dies here
        assert [m.to for m in died] == [EMAILS["vera"]]
        # While the lease holds nobody else takes it (nor does the consumer's round, at the real time).
        assert inbox.claim_mail(session=session, secret_key=ctx.secret_key, now=start + inbox.MAIL_LEASE - second) == []
        run_inbox(ctx)
        assert smtp.to(EMAILS["vera"]) == []
        later = inbox.claim_mail(session=session, secret_key=ctx.secret_key, now=start + inbox.MAIL_LEASE + second)
        assert [m.to for m in later] == [EMAILS["vera"]]
        assert inbox.send_mail(session=session, secret_key=ctx.secret_key, mails=later) == 1
        # The first sender, had it only been slow, finds its claim gone and sends nothing; nor is the
        # sent row claimed again.
        assert inbox.send_mail(session=session, secret_key=ctx.secret_key, mails=died) == 0
        assert inbox.claim_mail(session=session, secret_key=ctx.secret_key, now=start + 3 * inbox.MAIL_LEASE) == []
    run_inbox(ctx)
    mails = smtp.to(EMAILS["vera"])  # the SMTP server keeps a mail before it answers the sender
    assert len(mails) == 1
    assert "Renew certificates is assigned to you" in mails[0]["Subject"]


def test_the_unsubscribe_link_works_without_login_and_stops_mails(app, cast: Cast, ctx: AppContext,  # type: ignore[no-untyped-def]
                                                                  smtp: Smtp) -> None:
    make_work_item(cast.editor, title="First", assignee="vera")
    run_inbox(ctx)
    mail = smtp.wait_for(lambda ms: any(m["To"] == EMAILS["vera"] for m in ms))[-1]
    link = re.search(r"http://calcifer\.test(/unsubscribe\?token=\S+)", body_text(mail))
    assert link is not None
    stranger = TestClient(app, follow_redirects=False)
    page = stranger.get(link.group(1))
    assert page.status_code == 200 and "Stop the mails" in page.text
    token = link.group(1).split("token=")[1]
    done = stranger.post("/unsubscribe", data={"token": token, "csrf_token": csrf_token(stranger)})
    assert done.status_code == 200 and "no more notification mails" in done.text
    forged = stranger.post("/unsubscribe", data={"token": token[:-2] + "xx", "csrf_token": csrf_token(stranger)})
    assert forged.status_code == 400
    make_work_item(cast.editor, title="Second", assignee="vera")
    run_inbox(ctx)
    assert _kinds(cast.viewer)[0] == "assigned"      # still in the app
    assert len(smtp.to(EMAILS["vera"])) == 1         # but no second mail
    prefs = cast.viewer.get("/api/v1/me/notification-preferences").json()["preferences"]
    assert not any(channels["email"] for channels in prefs.values())


def test_preferences_per_kind_and_channel(cast: Cast, ctx: AppContext, smtp: Smtp) -> None:
    bad = cast.viewer.put("/api/v1/me/notification-preferences", json={"preferences": {"nope": {"email": True}}})
    assert bad.status_code == 403  # a viewer's token is read-only
    bad = cast.editor.put("/api/v1/me/notification-preferences", json={"preferences": {"nope": {"email": True}}})
    assert bad.status_code in (400, 422) and "nope" in bad.json()["error"]["message"]
    saved = cast.editor.put("/api/v1/me/notification-preferences", json={
        "preferences": {"assigned": {"email": False, "in_app": True}}, "apprise_url": "json://127.0.0.1:9/hook"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["apprise_url_set"] is True
    assert "127.0.0.1" not in saved.text  # the URL is never shown again
    with ctx.session_factory() as session:
        row = session.get(PersonSettings, session.query(User).filter_by(username="eddie").one().id)
        assert row is not None and "127.0.0.1" not in row.apprise_sealed  # sealed
    make_work_item(cast.admin, title="For eddie", assignee="eddie")
    run_inbox(ctx)
    assert _kinds(cast.editor) == ["assigned"]
    assert smtp.to(EMAILS["eddie"]) == []


def test_the_bell_counts_unread_and_mark_read_clears_it(cast: Cast, ctx: AppContext) -> None:
    make_work_item(cast.editor, title="A", assignee="alice")
    make_work_item(cast.editor, title="B", assignee="alice")
    run_inbox(ctx)
    listed = cast.admin.get("/api/v1/notifications", params={"limit": 1}).json()
    assert listed["unread"] == 2 and listed["next_cursor"]
    first = listed["items"][0]
    assert set(first) >= {"id", "kind", "text", "url", "read"}
    older = cast.admin.get("/api/v1/notifications", params={"limit": 1, "cursor": listed["next_cursor"]}).json()
    assert older["items"][0]["id"] < first["id"]
    assert cast.admin.post(f"/api/v1/notifications/{first['id']}/read").json()["read"] is True
    assert cast.admin.get("/api/v1/notifications/unread").json() == {"unread": 1}
    assert cast.editor.post(f"/api/v1/notifications/{first['id']}/read").status_code == 404  # not theirs
