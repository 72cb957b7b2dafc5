"""Reviews of work items: who may review, the current state, stale approvals and the merge rule.

Chosen rules under test: approvals are dismissed by any new commit on the branch (update from main
included); "changes requested" and "approval needed" block merges only while the preference
`merges_need_approval` is on; standard changes are pre-approved.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import Cast, api_client, browser_login, make_token, make_user
from tests.work.helpers import finish_documentation, git, make_work_item, ready_item, write_and_commit

PREF = "merges_need_approval"
# Valid service files: the merge check refuses catalog files that would not load.
GRAFANA = "name: Grafana\nslug: grafana\nkind: container\n"
LOKI = "name: Loki\nslug: loki\nkind: container\n"


def review(client: TestClient, item: dict[str, Any], verdict: str, comment: str = "") -> Any:
    return client.post(f"/api/v1/work-items/{item['id']}/reviews", json={"verdict": verdict, "comment": comment})


def reviewed(client: TestClient, item: dict[str, Any], verdict: str, comment: str = "") -> dict[str, Any]:
    response = review(client, item, verdict, comment)
    assert response.status_code == 201, response.text
    return dict(response.json())


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] and error["message"].strip(), error
    return dict(error)


def summary_of(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/work-items/{item['id']}/reviews")
    assert response.status_code == 200, response.text
    return dict(response.json()["summary"])


def merge_codes(client: TestClient, item: dict[str, Any]) -> set[str]:
    check = client.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    return {p["code"] for p in check["problems"]}


def require_approval(cast: Cast, on: bool = True) -> None:
    response = cast.admin.put(f"/api/v1/preferences/{PREF}", json={"value": on})
    assert response.status_code == 200, response.text


def second_editor(app, ctx: AppContext) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(ctx, "erin", Role.EDITOR)
    return api_client(app, make_token(ctx, "erin"))


# ------------------------------------------------------------------------------------------- who reviews

def test_the_author_cannot_approve_or_reject_their_own_work_item(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    error = error_of(review(cast.editor, item, "approve"), 409)
    assert error["code"] == "own_work_item" and "another editor or admin" in error["message"]
    error = error_of(review(cast.editor, item, "changes_requested", "Fix it"), 409)
    assert error["code"] == "own_work_item"
    # ...but the author asks for a review.
    requested = reviewed(cast.editor, item, "request", "Please look at the grafana service")
    assert requested["verdict"] == "requested" and requested["reviewer"] == "eddie"
    assert requested["comment"] == "Please look at the grafana service"
    assert requested["commit"] == item["base_commit"]
    summary = summary_of(cast.viewer, item)
    assert summary["state"] == "requested" and summary["requested_by"] == "eddie"
    assert summary["reviewers"] == [] and summary["required"] is False


def test_another_editor_approves_and_the_state_shows_it(app, ctx: AppContext, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    erin = second_editor(app, ctx)
    item = make_work_item(cast.editor)
    commit = write_and_commit(cast.editor, item, "docs/grafana.md", "# Grafana\n")
    approval = reviewed(erin, item, "approve", "Looks good")
    assert approval["verdict"] == "approve" and approval["reviewer"] == "erin" and approval["commit"] == commit
    admin_approval = reviewed(cast.admin, item, "approve")
    listing = cast.viewer.get(f"/api/v1/work-items/{item['id']}/reviews").json()
    assert [r["id"] for r in listing["items"]] == [admin_approval["id"], approval["id"]]  # newest first
    summary = listing["summary"]
    assert summary["state"] == "approved" and sorted(summary["approvals"]) == ["alice", "erin"]
    assert summary["branch_tip"] == commit and summary["changes_requested"] == []
    assert {(r["reviewer"], r["verdict"], r["stale"]) for r in summary["reviewers"]} == {
        ("erin", "approve", False), ("alice", "approve", False)}
    # The latest verdict per reviewer is the current one.
    reviewed(erin, item, "changes_requested", "On second thought: add the port")
    summary = summary_of(cast.viewer, item)
    assert summary["state"] == "changes_requested" and summary["changes_requested"] == ["erin"]
    assert summary["approvals"] == ["alice"]


def test_a_viewer_cannot_review_and_an_outsider_cannot_read(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    for verdict in ("approve", "changes_requested", "request"):
        assert error_of(review(cast.viewer, item, verdict, "x"), 403)["code"] == "forbidden"
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}/reviews").json()["items"] == []
    assert cast.outsider.get(f"/api/v1/work-items/{item['id']}/reviews").status_code == 401
    assert review(cast.outsider, item, "approve").status_code == 401


def test_bad_input_is_refused_with_422(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    assert error_of(review(cast.admin, item, "merge"), 422)["code"] == "invalid"
    too_long = error_of(cast.admin.post(f"/api/v1/work-items/{item['id']}/reviews",
                                        json={"verdict": "approve", "comment": "x" * 2001}), 422)
    assert "comment" in too_long["message"]
    assert error_of(review(cast.admin, item, "changes_requested", "  "), 422)["message"].startswith("Say what")
    assert error_of(review(cast.admin, item, "approve", "bell\x07"), 422)["code"] == "invalid"
    assert cast.admin.post(f"/api/v1/work-items/{item['id']}/reviews", json={"verdict": "approve",
                                                                             "extra": 1}).status_code == 422
    assert reviewed(cast.admin, item, "approve", "y" * 2000)["comment"] == "y" * 2000
    assert error_of(review(cast.admin, {"id": 9999}, "approve"), 404)["code"] == "not_found"


def test_a_finished_work_item_is_not_reviewed(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}").status_code == 200
    error = error_of(review(cast.admin, item, "approve"), 409)
    assert error["code"] == "not_open" and "cancelled" in error["message"]
    assert error_of(review(cast.editor, item, "request"), 409)["code"] == "not_open"


# ------------------------------------------------------------------------------------------- the merge rule

def test_with_the_preference_off_merge_needs_no_review(ctx: AppContext, cast: Cast) -> None:
    assert cast.viewer.get("/api/v1/preferences").json()[PREF] is False
    item = ready_item(cast.editor, "Add grafana", "catalog/services/grafana.yaml", GRAFANA, "Added grafana")
    assert merge_codes(cast.editor, item) == set()
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200


def test_with_the_preference_on_every_rule_is_listed_then_an_approval_lets_it_merge(cast: Cast) -> None:
    require_approval(cast)
    item = make_work_item(cast.editor)
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    codes = {p["code"] for p in check["problems"]}
    assert {"checklist_incomplete", "notes_empty", "no_commits", "no_changelog_entry", "review_required"} <= codes
    assert "changes_requested" not in codes
    assert summary_of(cast.editor, item)["required"] is True

    write_and_commit(cast.editor, item, "catalog/services/grafana.yaml", GRAFANA)
    finish_documentation(cast.editor, item)
    refused = cast.editor.post(f"/api/v1/work-items/{item['id']}/merge")
    assert refused.status_code == 409
    problems = refused.json()["error"]["details"]["problems"]
    assert [p["code"] for p in problems] == ["review_required"]
    assert "other than the author" in problems[0]["message"]

    reviewed(cast.admin, item, "approve", "Ship it")
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json() == {
        "ready": True, "problems": [], "warnings": [], "on_main": []}
    merged = cast.editor.post(f"/api/v1/work-items/{item['id']}/merge")
    assert merged.status_code == 200, merged.text
    # The history stays readable after the branch is gone.
    summary = summary_of(cast.viewer, item)
    assert summary["state"] == "approved" and summary["branch_tip"] is None


def test_changes_requested_block_the_merge_until_that_reviewer_approves(app, ctx: AppContext, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    erin = second_editor(app, ctx)
    item = ready_item(cast.editor, "Add grafana", "catalog/services/grafana.yaml", GRAFANA, "Added grafana")
    reviewed(cast.admin, item, "changes_requested", "Pin the image version")
    # Advisory while the preference is off.
    assert merge_codes(cast.editor, item) == set()

    require_approval(cast)
    assert merge_codes(cast.editor, item) == {"changes_requested", "review_required"}
    # Another reviewer's approval does not override alice's change request.
    reviewed(erin, item, "approve")
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert [p["code"] for p in check["problems"]] == ["changes_requested"]
    assert "alice" in check["problems"][0]["message"]
    assert error_of(cast.editor.post(f"/api/v1/work-items/{item['id']}/merge"), 409)["code"] == "merge_refused"

    reviewed(cast.admin, item, "approve", "Pinned now")
    assert merge_codes(cast.editor, item) == set()
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200


def test_a_new_commit_dismisses_earlier_approvals(cast: Cast) -> None:
    require_approval(cast)
    item = ready_item(cast.editor, "Add grafana", "catalog/services/grafana.yaml", GRAFANA, "Added grafana")
    first = reviewed(cast.admin, item, "approve")
    assert merge_codes(cast.editor, item) == set()

    second = write_and_commit(cast.editor, item, "catalog/services/grafana.yaml", GRAFANA + "description: v11\n",
                              entry=None)
    assert second != first["commit"]
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert [p["code"] for p in check["problems"]] == ["review_required"]
    assert "alice" in check["problems"][0]["message"] and "dismissed" in check["problems"][0]["message"]
    summary = summary_of(cast.editor, item)
    assert summary["state"] == "requested" and summary["approvals"] == []
    assert summary["stale_approvals"] == ["alice"] and summary["reviewers"][0]["stale"] is True

    again = reviewed(cast.admin, item, "approve", "Re-checked")
    assert again["commit"] == second
    assert summary_of(cast.editor, item)["state"] == "approved"
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200


def test_updating_from_main_also_dismisses_approvals(ctx: AppContext, cast: Cast) -> None:
    item = ready_item(cast.editor, "Add grafana", "catalog/services/grafana.yaml", GRAFANA, "Added grafana")
    other = ready_item(cast.editor, "Add loki", "catalog/services/loki.yaml", LOKI, "Added loki")
    reviewed(cast.admin, item, "approve")
    assert cast.editor.post(f"/api/v1/work-items/{other['id']}/merge").status_code == 200
    assert summary_of(cast.editor, item)["state"] == "approved"  # main moving alone changes nothing
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/update-from-main").json()["clean"] is True
    summary = summary_of(cast.editor, item)
    assert summary["stale_approvals"] == ["alice"]
    assert summary["branch_tip"] == git(ctx.repo_path, "rev-parse", item["branch"]).strip()


def test_a_deactivated_reviewers_verdict_stops_counting(cast: Cast) -> None:
    require_approval(cast)
    item = ready_item(cast.admin, "Add grafana", "catalog/services/grafana.yaml", GRAFANA, "Added grafana")
    reviewed(cast.editor, item, "changes_requested", "Wrong port")
    assert merge_codes(cast.admin, item) == {"changes_requested", "review_required"}
    eddie = next(u for u in cast.admin.get("/api/v1/users").json()["items"] if u["username"] == "eddie")
    assert cast.admin.patch(f"/api/v1/users/{eddie['id']}", json={"is_active": False}).status_code == 200
    assert merge_codes(cast.admin, item) == {"review_required"}
    # The history keeps the entry.
    assert [r["verdict"] for r in cast.admin.get(f"/api/v1/work-items/{item['id']}/reviews").json()["items"]] == [
        "changes_requested"]


def test_standard_changes_are_pre_approved(cast: Cast) -> None:
    require_approval(cast)
    response = cast.editor.post("/api/v1/standard-changes", json={
        "operation": "create", "kind": "service", "slug": "grafana", "summary": "Add Grafana",
        "spec": {"name": "Grafana", "slug": "grafana", "kind": "container", "description": "Dashboards"}})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "complete"


# ------------------------------------------------------------------------------------------- history, audit, pages

def test_history_is_paginated(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    ids = [reviewed(cast.editor, item, "request", f"ping {n}")["id"] for n in range(3)]
    page = cast.viewer.get(f"/api/v1/work-items/{item['id']}/reviews", params={"limit": 2}).json()
    assert [r["id"] for r in page["items"]] == ids[::-1][:2] and page["next_cursor"] is not None
    rest = cast.viewer.get(f"/api/v1/work-items/{item['id']}/reviews",
                           params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [r["id"] for r in rest["items"]] == [ids[0]] and rest["next_cursor"] is None


def test_every_review_is_audited(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    commit = write_and_commit(cast.editor, item, "docs/a.md", "# A\n")
    reviewed(cast.editor, item, "request", "Please review")
    reviewed(cast.admin, item, "changes_requested", "Add a rollback plan")
    reviewed(cast.admin, item, "approve")
    require_approval(cast)
    entries = cast.admin.get("/api/v1/audit", params={"action": "work_item.review", "object_id": str(item["id"])}
                             ).json()["items"]
    assert [(e["actor"], e["after"]["verdict"]) for e in entries] == [
        ("alice", "approve"), ("alice", "changes_requested"), ("eddie", "requested")]
    assert entries[1]["after"]["comment"] == "Add a rollback plan" and entries[1]["after"]["commit"] == commit
    assert entries[0]["summary"] == f"approved #{item['id']} at {commit[:10]}"
    pref = cast.admin.get("/api/v1/audit", params={"action": "preference.update", "object_id": PREF}).json()
    assert pref["items"][0]["after"] is True


def test_the_work_page_shows_the_reviews_card_and_its_form_works(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    item = make_work_item(cast.editor)
    page_url = f"/work/{item['id']}"
    with TestClient(app, follow_redirects=False) as author:
        token = browser_login(author, "eddie")
        html = author.get(page_url).text
        assert 'id="reviews"' in html and "No reviews yet." in html and 'data-state="none"' in html
        assert 'value="request"' in html and 'value="approve"' not in html  # the author only asks
        assert author.post(f"{page_url}/reviews", data={"verdict": "request"}).status_code == 403  # no CSRF
        done = author.post(f"{page_url}/reviews", data={"verdict": "request", "comment": "Look\r\nplease",
                                                        "csrf_token": token})
        assert done.status_code == 303 and done.headers["location"] == f"{page_url}#reviews"
        refused = author.post(f"{page_url}/reviews", data={"verdict": "approve", "csrf_token": token})
        assert refused.status_code == 303
        html = author.get(page_url).text
        assert "cannot approve it yourself" in html and 'data-state="requested"' in html
        assert "Look\nplease" in html
    with TestClient(app, follow_redirects=False) as admin:
        token = browser_login(admin, "alice")
        assert admin.post(f"{page_url}/reviews", data={"verdict": "approve", "comment": "Good",
                                                      "csrf_token": token}).status_code == 303
        html = admin.get(page_url).text
        assert 'data-state="approved"' in html and 'data-reviewer="alice"' in html and "Approved." in html
        # The preferences page lists the new switch; turning it on shows on the card.
        prefs = admin.get("/settings/preferences").text
        assert PREF in prefs and "approving review" in prefs
        assert admin.post("/settings/preferences", data={"key": PREF, "value": "true",
                                                         "csrf_token": token}).status_code == 303
        assert "required to merge" in admin.get(page_url).text
    with TestClient(app, follow_redirects=False) as viewer:
        token = browser_login(viewer, "vera")
        html = viewer.get(page_url).text
        assert 'id="reviews"' in html and 'id="review-form"' not in html and 'data-reviewer="alice"' in html
        assert viewer.post(f"{page_url}/reviews", data={"verdict": "approve", "csrf_token": token}
                           ).status_code == 403
