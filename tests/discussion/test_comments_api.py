"""Comments on work items, incidents, services and docs: who may write, edit and delete them, the edit
window and history, links and mentions. Viewers may comment and watch (talk changes nothing managed)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from calcifer.db import utcnow
from calcifer.discussion.models import Comment
from calcifer.web.context import AppContext
from calcifer.web.security import CSRF_HEADER
from tests.conftest import Cast, browser_login
from tests.work.helpers import make_work_item


@pytest.fixture
def viewer(app, cast: Cast) -> TestClient:  # type: ignore[no-untyped-def]
    """The viewer in a browser session (a viewer's API tokens are read-only: the scope rules of tokens hold;
    in the browser a viewer may comment and watch)."""
    client = TestClient(app, follow_redirects=False)
    client.headers[CSRF_HEADER] = browser_login(client, "vera")
    return client


def test_a_viewers_read_only_token_cannot_comment(cast: Cast, viewer: TestClient) -> None:
    item = make_work_item(cast.editor)
    response = cast.viewer.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "hello"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_anyone_logged_in_comments_on_a_work_item_and_reads_it_back(cast: Cast, viewer: TestClient) -> None:
    item = make_work_item(cast.editor)
    response = viewer.post(f"/api/v1/work-items/{item['id']}/comments",
                                json={"body": "Looks good, see #1 and service:grafana. cc @eddie"})
    assert response.status_code == 201, response.text
    comment = response.json()
    assert comment["author"] == "vera"
    assert comment["mentions"] == ["eddie"]
    assert 'href="/work/1"' in comment["html"]
    assert 'href="/services/grafana"' in comment["html"]
    assert comment["url"] == f"/work/{item['id']}#comment-{comment['id']}"
    listed = cast.admin.get(f"/api/v1/work-items/{item['id']}/comments").json()
    assert [c["id"] for c in listed["items"]] == [comment["id"]]
    assert listed["next_cursor"] is None


def test_mentions_and_links_inside_code_stay_text(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    comment = cast.editor.post(f"/api/v1/work-items/{item['id']}/comments",
                               json={"body": "`@vera #1`\n\n```\nservice:x @alice\n```"}).json()
    assert comment["mentions"] == []
    assert "/work/1" not in comment["html"]


def test_an_empty_or_missing_target_is_refused_with_a_sentence(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    empty = cast.editor.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "   "})
    assert empty.status_code in (400, 422)
    assert empty.json()["error"]["message"]
    missing = cast.editor.post("/api/v1/work-items/999/comments", json={"body": "hello"})
    assert missing.status_code == 404
    assert cast.editor.post("/api/v1/services/nope/comments", json={"body": "x"}).status_code == 404
    assert cast.editor.post("/api/v1/incidents/5/comments", json={"body": "x"}).status_code == 404
    assert cast.editor.post("/api/v1/docs/docs/nope.md/comments", json={"body": "x"}).status_code == 404
    assert cast.outsider.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "x"}).status_code == 401


def test_comments_on_a_doc(cast: Cast, viewer: TestClient) -> None:
    saved = cast.editor.post("/api/v1/standard-changes/docs", json={
        "operation": "save", "path": "docs/wifi.md", "content": "# Wi-Fi\n\nGuest password rotates.\n",
        "summary": "Document the guest Wi-Fi"})
    assert saved.status_code == 201, saved.text
    path = "docs/wifi.md"
    response = viewer.post(f"/api/v1/docs/{path}/comments", json={"body": "A typo in step 2."})
    assert response.status_code == 201, response.text
    assert cast.viewer.get(f"/api/v1/docs/{path}/comments").json()["items"][0]["body"] == "A typo in step 2."
    assert cast.viewer.get(f"/api/v1/docs/{path}").status_code == 200  # the doc itself still answers


def test_the_author_edits_within_the_window_and_the_history_keeps_the_old_body(
        cast: Cast, viewer: TestClient, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    comment = viewer.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "first"}).json()
    assert cast.editor.patch(f"/api/v1/comments/{comment['id']}", json={"body": "hijack"}).status_code == 403
    assert cast.admin.patch(f"/api/v1/comments/{comment['id']}", json={"body": "hijack"}).status_code == 403
    edited = viewer.patch(f"/api/v1/comments/{comment['id']}", json={"body": "second"})
    assert edited.status_code == 200
    assert edited.json()["edited_at"] is not None
    detail = cast.viewer.get(f"/api/v1/comments/{comment['id']}").json()
    assert detail["body"] == "second"
    assert [h["body"] for h in detail["history"]] == ["first"]
    with ctx.session_factory() as session:  # sixteen minutes later
        session.execute(update(Comment).values(created_at=utcnow() - dt.timedelta(minutes=16)))
        session.commit()
    late = viewer.patch(f"/api/v1/comments/{comment['id']}", json={"body": "third"})
    assert late.status_code == 403
    assert "15 minutes" in late.json()["error"]["message"]


def test_authors_delete_their_own_and_admins_moderate_any(cast: Cast, viewer: TestClient) -> None:
    item = make_work_item(cast.editor)
    mine = viewer.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "mine"}).json()
    other = viewer.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "spam"}).json()
    assert cast.editor.delete(f"/api/v1/comments/{mine['id']}").status_code == 403
    assert viewer.delete(f"/api/v1/comments/{mine['id']}").status_code == 204
    assert cast.admin.delete(f"/api/v1/comments/{other['id']}").status_code == 204
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}/comments").json()["items"] == []
    audit = cast.admin.get("/api/v1/audit", params={"action": "comment.moderate"}).json()["items"]
    assert len(audit) == 1


def test_mention_autocomplete_lists_active_usernames(cast: Cast, viewer: TestClient) -> None:
    assert cast.viewer.get("/api/v1/mention-suggestions", params={"q": "ed"}).json()["items"] == ["eddie"]
    assert set(cast.viewer.get("/api/v1/mention-suggestions").json()["items"]) >= {"alice", "eddie", "vera"}


def test_watching_by_hand(cast: Cast, viewer: TestClient) -> None:
    item = make_work_item(cast.editor)
    assert viewer.put(f"/api/v1/work-items/{item['id']}/watch").json()["watching"] is True
    assert viewer.delete(f"/api/v1/work-items/{item['id']}/watch").json()["watching"] is False
    assert viewer.put("/api/v1/services/nope/watch").status_code == 404


def test_the_timeline_merges_comments_and_changes_in_time_order(cast: Cast, viewer: TestClient) -> None:
    item = make_work_item(cast.editor)
    cast.editor.put(f"/api/v1/work-items/{item['id']}/checklist/0", json={"done": True})
    viewer.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "why?"})
    cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"status": "in_progress"})
    kinds = [e["kind"] for e in cast.viewer.get(f"/api/v1/work-items/{item['id']}/timeline").json()["items"]]
    assert kinds[0] == "created"
    assert kinds.index("checklist") < kinds.index("comment")
    assert kinds[-1] in ("status", "change")
