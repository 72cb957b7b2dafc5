"""A mention added by editing a comment notifies the person it adds, once; people an earlier version of
the comment already named are not told again (the edit writes comment.edited; the inbox's round, run here
at once, turns its new mentions into notifications)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.inbox.helpers import run_inbox
from tests.work.helpers import make_work_item


def _mentions(client: TestClient) -> list[dict[str, object]]:
    return [n for n in client.get("/api/v1/notifications").json()["items"] if n["kind"] == "mention"]


def test_an_edit_that_adds_a_mention_notifies_only_the_newly_named(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor, title="Move DNS")
    comment = cast.editor.post(f"/api/v1/work-items/{item['id']}/comments",
                               json={"body": "@vera can you check the TTL?"}).json()
    run_inbox(ctx)
    assert len(_mentions(cast.viewer)) == 1
    assert _mentions(cast.admin) == []

    edited = cast.editor.patch(f"/api/v1/comments/{comment['id']}",
                               json={"body": "@vera can you check the TTL? And @alice the firewall."})
    assert edited.status_code == 200, edited.text
    run_inbox(ctx)
    told = _mentions(cast.admin)
    assert len(told) == 1
    assert told[0]["text"] == f"eddie mentioned you on #{item['id']} Move DNS"
    assert told[0]["url"] == f"/work/{item['id']}#comment-{comment['id']}"
    assert len(_mentions(cast.viewer)) == 1  # named before: not told again

    # Edited again keeping both, then dropping and re-adding alice: nobody hears twice.
    for body in ("@vera check the TTL; @alice the firewall, please.", "@vera check the TTL.",
                 "@vera check the TTL. @alice, the firewall after all."):
        assert cast.editor.patch(f"/api/v1/comments/{comment['id']}", json={"body": body}).status_code == 200
        run_inbox(ctx)
    assert len(_mentions(cast.admin)) == 1
    assert len(_mentions(cast.viewer)) == 1
    assert _mentions(cast.editor) == []  # its author is never told of their own mention


def test_an_edit_tells_watchers_nothing_new(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor, title="Rotate keys")
    cast.viewer.put(f"/api/v1/work-items/{item['id']}/watch")
    comment = cast.admin.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "Done?"}).json()
    run_inbox(ctx)
    before = [n["kind"] for n in cast.editor.get("/api/v1/notifications").json()["items"]]
    assert before.count("comment") == 1
    assert cast.admin.patch(f"/api/v1/comments/{comment['id']}", json={"body": "Done yet?"}).status_code == 200
    run_inbox(ctx)
    assert [n["kind"] for n in cast.editor.get("/api/v1/notifications").json()["items"]] == before
