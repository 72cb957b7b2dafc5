"""The webhooks API and pages: admins only, bad input refused with a sentence, the secret never shown,
redeliver and send test against a receiver that verifies signatures."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from tests.conftest import Cast, browser_login
from tests.webhooks.helpers import SECRET, add_webhook, assert_valid, deliverer, receiver, wait_for_deliveries


def test_an_admin_creates_reads_changes_and_deletes_a_webhook(cast: Cast) -> None:
    created = add_webhook(cast.admin, "https://hooks.example.org/calcifer", ["work_item.merged"],
                          services=["grafana"], tags=["prod"], categories=["service"])
    assert created["name"] == "hooks.example.org" and created["secret_set"] is True
    assert created["events"] == ["work_item.merged"] and created["services"] == ["grafana"]
    webhook_id = created["id"]
    assert cast.admin.get(f"/api/v1/webhooks/{webhook_id}").json() == created
    changed = cast.admin.patch(f"/api/v1/webhooks/{webhook_id}", json={
        "events": ["incident.opened", "work_item.merged"], "enabled": False, "name": "Chat"}).json()
    assert changed["events"] == ["work_item.merged", "incident.opened"]  # in the documented order
    assert changed["enabled"] is False and changed["name"] == "Chat"
    assert cast.admin.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 204
    assert cast.admin.get(f"/api/v1/webhooks/{webhook_id}").status_code == 404


def test_webhooks_and_deliveries_are_listed_a_page_at_a_time(ctx: AppContext, cast: Cast) -> None:
    with receiver() as hook:
        ids = [add_webhook(cast.admin, f"{hook.url}/{n}", ["doc.changed"])["id"] for n in range(5)]
        first = cast.admin.get("/api/v1/webhooks", params={"limit": 2}).json()
        second = cast.admin.get("/api/v1/webhooks", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        third = cast.admin.get("/api/v1/webhooks", params={"limit": 2, "cursor": second["next_cursor"]}).json()
        assert [w["id"] for w in first["items"] + second["items"] + third["items"]] == ids
        assert third["next_cursor"] is None
        for _ in range(3):
            assert cast.admin.post(f"/api/v1/webhooks/{ids[0]}/test").json()["status"] == "delivered"
    page = cast.admin.get(f"/api/v1/webhooks/{ids[0]}/deliveries", params={"limit": 2}).json()
    rest = cast.admin.get(f"/api/v1/webhooks/{ids[0]}/deliveries",
                          params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert page["items"][0]["id"] > page["items"][1]["id"] > rest["items"][0]["id"]  # newest first


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"url": "ftp://files.example.org/", "events": ["doc.changed"], "secret": "x"}, "url", "scheme"),
    ({"url": "hooks.example.org/x", "events": ["doc.changed"], "secret": "x"}, "url", "scheme"),
    ({"url": "", "events": ["doc.changed"], "secret": "x"}, "url", "Give the URL"),
    ({"url": "https://h.example.org/", "events": ["work_item.exploded"], "secret": "x"}, "events", "Unknown event"),
    ({"url": "https://h.example.org/", "events": [], "secret": "x"}, "events", "at least one event"),
    ({"url": "https://h.example.org/", "events": ["doc.changed"], "secret": ""}, "secret", "Give a secret"),
    ({"url": "https://h.example.org/", "events": ["doc.changed"], "secret": "   "}, "secret", "Give a secret"),
    ({"url": "https://h.example.org/", "events": ["doc.changed"], "secret": "a\nb"}, "secret", "one line"),
    ({"url": "https://h.example.org/", "events": ["doc.changed"], "secret": "x" * 300}, "secret", "at most"),
])
def test_bad_input_is_refused_with_what_to_fix(cast: Cast, body: dict[str, object], field: str, words: str) -> None:
    response = cast.admin.post("/api/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert words in error["message"]
    assert error["details"][0]["field"] == field
    assert cast.admin.get("/api/v1/webhooks").json()["items"] == []


def test_a_change_with_bad_input_keeps_the_webhook_as_it_was(cast: Cast) -> None:
    created = add_webhook(cast.admin, "https://h.example.org/", ["doc.changed"])
    for body in ({"url": "javascript:alert(1)"}, {"events": ["nope"]}, {"events": []}):
        response = cast.admin.patch(f"/api/v1/webhooks/{created['id']}", json=body)
        assert response.status_code == 422 and response.json()["error"]["message"]
    assert cast.admin.get(f"/api/v1/webhooks/{created['id']}").json() == created


def test_viewers_and_editors_are_refused_every_webhook_route(cast: Cast) -> None:
    created = add_webhook(cast.admin, "https://h.example.org/", ["doc.changed"])
    base = f"/api/v1/webhooks/{created['id']}"
    for client in (cast.viewer, cast.editor):
        assert client.get("/api/v1/webhooks").status_code == 403
        assert client.post("/api/v1/webhooks", json={"url": "https://x.example.org/", "events": ["doc.changed"],
                                                     "secret": "x"}).status_code == 403
        assert client.get(base).status_code == 403
        assert client.patch(base, json={"enabled": False}).status_code == 403
        assert client.delete(base).status_code == 403
        assert client.get(f"{base}/deliveries").status_code == 403
        assert client.post(f"{base}/test").status_code == 403
        assert client.post(f"{base}/deliveries/1/redeliver").status_code == 403
    assert cast.outsider.get("/api/v1/webhooks").status_code == 401


def test_the_secret_never_appears_in_an_answer_a_page_or_the_audit_log(app, ctx: AppContext, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    with receiver() as hook:
        created = add_webhook(cast.admin, hook.url, ["doc.changed"])
        new_secret = "an0ther-s3cret-value"
        answers = [cast.admin.get("/api/v1/webhooks").text, cast.admin.get(f"/api/v1/webhooks/{created['id']}").text,
                   cast.admin.patch(f"/api/v1/webhooks/{created['id']}", json={"secret": new_secret}).text]
        hook.secret = new_secret
        answers.append(cast.admin.post(f"/api/v1/webhooks/{created['id']}/test").text)
        answers.append(cast.admin.get(f"/api/v1/webhooks/{created['id']}/deliveries").text)
        assert hook.received and all(r.signature_ok for r in hook.received)  # signed with the new one
    browser = TestClient(app, follow_redirects=False)
    browser_login(browser, "alice")
    answers += [browser.get("/settings/webhooks").text, browser.get(f"/settings/webhooks/{created['id']}").text,
                cast.admin.get("/api/v1/audit").text]
    for text in answers:
        assert SECRET not in text and new_secret not in text
    assert "an0ther" not in answers[-1]


def test_send_test_delivers_a_signed_test_event_and_says_how_it_went(cast: Cast) -> None:
    with receiver() as hook:
        created = add_webhook(cast.admin, hook.url, ["doc.changed"])
        answer = cast.admin.post(f"/api/v1/webhooks/{created['id']}/test").json()
        assert answer["status"] == "delivered" and answer["response_code"] == 200 and answer["kind"] == "test"
        got = hook.wait_for(lambda seen: len(seen) == 1)
    body = assert_valid(got[0], event="webhook.test")
    assert got[0].delivery == answer["delivery"] and body["data"]["sent_by"] == "alice"
    # A receiver that is gone: the test says so, with the reason.
    failed = cast.admin.post(f"/api/v1/webhooks/{created['id']}/test").json()
    assert failed["status"] == "failed" and failed["last_error"]


def test_redeliver_sends_the_same_body_again_under_a_new_delivery_id(ctx: AppContext, cast: Cast) -> None:
    from tests.catalog.helpers import make_work_item

    with receiver() as hook, deliverer(ctx):
        created = add_webhook(cast.admin, hook.url, ["work_item.created"])
        make_work_item(cast.editor, title="Replace the UPS")
        first = hook.wait_for(lambda seen: len(seen) == 1)[0]
        original = wait_for_deliveries(cast.admin, created["id"],
                                       lambda items: items[0]["status"] == "delivered")[0]
        assert original["status"] == "delivered" and original["delivery"] == first.delivery
        again = cast.admin.post(f"/api/v1/webhooks/{created['id']}/deliveries/{original['id']}/redeliver")
        assert again.status_code == 202 and again.json()["kind"] == "redelivery"
        second = hook.wait_for(lambda seen: len(seen) == 2)[1]
    assert_valid(second, event="work_item.created")
    assert second.raw == first.raw and second.delivery != first.delivery
    missing = cast.admin.post(f"/api/v1/webhooks/{created['id']}/deliveries/999999/redeliver")
    assert missing.status_code == 404 and missing.json()["error"]["message"]


def test_the_settings_pages_create_a_webhook_and_show_its_log(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "alice")
    with receiver() as hook:
        response = browser.post("/settings/webhooks", data={
            "csrf_token": token, "url": hook.url, "secret": SECRET, "name": "Chat bridge",
            "events": ["work_item.merged", "doc.changed"], "services": "grafana, db"})
        assert response.status_code == 303
        detail_url = response.headers["location"]
        page = browser.get(detail_url).text
        assert "Chat bridge" in page and "Nothing delivered yet" in page
        assert browser.post(f"{detail_url}/test", data={"csrf_token": token}).status_code == 303
        page = browser.get(detail_url).text
        assert "webhook.test" in page and "delivered" in page and "HTTP 200" in page
    refused = browser.post("/settings/webhooks", data={"csrf_token": token, "url": "ftp://x.example.org/",
                                                       "secret": "x", "events": ["doc.changed"]})
    assert refused.status_code == 303
    assert "scheme" in browser.get("/settings/webhooks").text
    listing = browser.get("/settings/webhooks").text
    assert "Chat bridge" in listing and "/settings/webhooks" in browser.get("/settings").text
