"""Comments and reviews are domain events too: webhooks receive comment.created, comment.edited and
work_item.reviewed signed and in the published schema (docs/webhooks.schema.json)."""

from __future__ import annotations

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.webhooks.helpers import add_webhook, assert_valid, deliverer, receiver
from tests.work.helpers import make_work_item


def test_comment_and_review_events_reach_webhooks_in_the_schema(cast: Cast, ctx: AppContext) -> None:
    with receiver() as hooks, deliverer(ctx):
        add_webhook(cast.admin, hooks.url, ["comment.created", "comment.edited", "work_item.reviewed"])
        item = make_work_item(cast.editor)
        posted = cast.editor.post(f"/api/v1/work-items/{item['id']}/comments", json={"body": "@alice please review"})
        assert posted.status_code == 201
        assert cast.editor.patch(f"/api/v1/comments/{posted.json()['id']}",
                                 json={"body": "@alice please review, @vera too"}).status_code == 200
        assert cast.editor.post(f"/api/v1/work-items/{item['id']}/reviews",
                                json={"verdict": "request"}).status_code == 201
        comment = assert_valid(hooks.wait_for_event("comment.created"))
        assert comment["data"]["comment"]["mentions"] == ["alice"]
        edited = assert_valid(hooks.wait_for_event("comment.edited"))
        assert edited["data"]["comment"]["mentions"] == ["alice", "vera"]
        assert edited["data"]["comment"]["new_mentions"] == ["vera"]
        review = assert_valid(hooks.wait_for_event("work_item.reviewed"))
        assert review["data"]["review"] == {"verdict": "requested", "reviewer": "eddie", "comment": ""}
