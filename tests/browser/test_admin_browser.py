"""Admin pages in a real Chromium: revoking a token asks first (cancelling keeps it), a refused change is
explained next to the user, a new token is shown whole on a phone; screenshots in light, dark and 375 px."""

from __future__ import annotations

from typing import Any

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.conftest import make_token, make_user


def _token_rows(page: Any) -> int:
    return page.locator("form[action$='/revoke']").count()


def test_revoking_a_token_asks_first_and_cancelling_keeps_it(page: Any, live_server: LiveServer) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    make_token(live_server.ctx, "alice", name="prometheus")
    login(page, live_server, "alice")
    page.goto(live_server("/settings/tokens"))
    assert _token_rows(page) == 1

    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("form[action$='/revoke'] button")
    assert asked and asked[0].startswith("Revoke prometheus?")
    page.goto(live_server("/settings/tokens"))           # nothing was posted: the token is still active
    assert _token_rows(page) == 1

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("form[action$='/revoke'] button")
    assert _token_rows(page) == 0 and "revoked" in page.locator("table").inner_text()


def test_a_refused_disable_is_explained_next_to_the_user(page: Any, live_server: LiveServer,
                                                         console: Console) -> None:
    console.expect(r"status of 409")  # the refused form post answers 409 with the users page
    alice = make_user(live_server.ctx, "alice", Role.ADMIN)
    make_user(live_server.ctx, "bob", Role.VIEWER)
    login(page, live_server, "alice")
    page.goto(live_server("/settings/users"))
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(f"#user-{alice.id} form:has(input[name=is_active]) button")
    assert "last active admin" in page.locator(f"#user-{alice.id} .inline-error").inner_text()
    refusal = page.locator("#refusal[role=alert]")
    assert "alice" in refusal.inner_text() and "last active admin" in refusal.inner_text()
    assert page.locator("h1").inner_text() == "Users"
    shot(page, "admin-users-refused-light")
    page.emulate_media(color_scheme="dark")
    shot(page, "admin-users-refused-dark")
    page.set_viewport_size(PHONE)
    box = refusal.bounding_box()   # on a phone the table scrolls sideways; the reason stays in view
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    shot(page, "admin-users-refused-375")


def test_a_new_token_is_shown_whole_on_a_phone(page: Any, live_server: LiveServer) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    login(page, live_server, "alice")
    page.goto(live_server("/settings/tokens"))
    page.fill("#f-name", "deploy script")
    with page.expect_navigation():
        page.click("form[action='/settings/tokens'] button[type=submit]")
    token = page.locator("#new-token")
    assert page.locator("button[data-copy='new-token']").is_visible()
    shot(page, "admin-tokens-new-light")
    page.emulate_media(color_scheme="dark")
    shot(page, "admin-tokens-new-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    # Wrapped, not clipped: the whole token fits inside its box and inside the phone's width.
    assert token.evaluate("el => el.scrollWidth <= el.clientWidth")
    box = token.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert token.inner_text().strip().replace("\n", "") == token.text_content().strip()
    shot(page, "admin-tokens-new-375")


def test_a_long_work_item_page_folds_the_finished_checklist(page: Any, live_server: LiveServer) -> None:
    make_user(live_server.ctx, "alice", Role.ADMIN)
    raw = make_token(live_server.ctx, "alice")
    headers = {"Authorization": f"Bearer {raw}"}
    created = page.request.post(live_server("/api/v1/work-items"), headers=headers,
                                data={"title": "Add grafana", "category": "service", "action": "new"})
    assert created.status == 201, created.text()
    item = created.json()
    for index in range(len(item["checklist"])):
        assert page.request.put(live_server(f"/api/v1/work-items/{item['id']}/checklist/{index}"),
                                headers=headers, data={"done": True}).ok
    for n in range(6):
        assert page.request.put(live_server(f"/api/v1/work-items/{item['id']}/files/catalog/services/s{n}.yaml"),
                                headers=headers, data={"content": f"slug: s{n}\nname: S{n}\n" * 20}).ok
    login(page, live_server, "alice")
    page.goto(live_server(f"/work/{item['id']}"))
    assert not page.locator("#checklist-fold").evaluate("el => el.open")
    assert not page.locator("#checklist-block ul.checklist").is_visible()
    page.click("#checklist-fold > summary")
    assert page.locator("#checklist-block ul.checklist").is_visible()
    page.click("#checklist-fold > summary")
    assert page.locator("details.diff-fold").count() == 6
    assert not page.locator("details.diff-fold .diffview").first.is_visible()
    shot(page, "admin-work-item-long-light")
    page.emulate_media(color_scheme="dark")
    shot(page, "admin-work-item-long-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(PHONE)
    shot(page, "admin-work-item-long-375")
