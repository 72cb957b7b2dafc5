"""The discussion panel on the work item, service, incident and doc pages, and its forms (no JavaScript
needed to post, edit, delete or watch)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from tests.conftest import browser_login, make_user
from tests.work.helpers import make_work_item


def test_the_panel_posts_edits_deletes_and_watches_through_forms(app, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "eddie", Role.EDITOR)
    client = TestClient(app, follow_redirects=False)
    csrf = browser_login(client, "eddie")
    client.headers["X-CSRF-Token"] = csrf
    item = make_work_item(client)
    page = client.get(f"/work/{item['id']}").text
    assert f"/discussion/panel?kind=work_item&amp;key={item['id']}" in page
    posted = client.post("/discussion/comments", data={"kind": "work_item", "key": str(item["id"]),
                                                        "body": "Roll out on **Friday**", "csrf_token": csrf})
    assert posted.status_code == 303
    assert re.search(rf"/work/{item['id']}#comment-(\d+)$", posted.headers["location"])
    comment_id = posted.headers["location"].rsplit("-", 1)[1]
    panel = client.get("/discussion/panel", params={"kind": "work_item", "key": item["id"]}).text
    assert "<strong>Friday</strong>" in panel
    assert "Activity" in panel and "commented" in panel  # the timeline
    assert 'aria-pressed="true"' in panel  # commenting made eddie watch (creator too)
    edited = client.post(f"/discussion/comments/{comment_id}/edit", data={"body": "Roll out on Monday",
                                                                           "csrf_token": csrf})
    assert edited.status_code == 303
    history = client.get(f"/discussion/comments/{comment_id}/edit").text
    assert "Roll out on **Friday**" in history
    unwatched = client.post("/discussion/watch", data={"kind": "work_item", "key": str(item["id"]),
                                                       "watching": "false", "csrf_token": csrf})
    assert unwatched.status_code == 303
    panel = client.get("/discussion/panel", params={"kind": "work_item", "key": item["id"]}).text
    assert 'aria-pressed="false"' in panel
    deleted = client.post(f"/discussion/comments/{comment_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert "No comments yet." in client.get("/discussion/panel", params={"kind": "work_item",
                                                                         "key": item["id"]}).text
    assert client.get("/discussion/panel", params={"kind": "nope", "key": "1"}).status_code in (400, 422)
    assert client.get("/notifications").status_code == 200
    assert "0" in client.get("/notifications/bell").text
