"""Starting a post-mortem from an incident: a doc from the post-mortem template, prefilled with the
incident's facts, committed with a changelog entry on a work item's branch (never straight to main)."""

from __future__ import annotations

import datetime as dt

from calcifer.monitoring.choices import Status
from calcifer.web.context import AppContext
from tests.catalog.helpers import git
from tests.conftest import Cast
from tests.notify.helpers import add_endpoint, add_service, change, fire
from tests.work.helpers import make_work_item

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _incident(ctx: AppContext, cast: Cast) -> int:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_service(session, "grafana", depends_on=["db"])
        eid = add_endpoint(session, "db-tcp", service="db")
        session.commit()
    fire(ctx, change(eid, "db-tcp", Status.UP, Status.DOWN, T0, service="db", message="connection refused"))
    fire(ctx, change(eid, "db-tcp", Status.DOWN, Status.UP, T0 + dt.timedelta(minutes=42), service="db"))
    incident_id = int(cast.viewer.get("/api/v1/incidents").json()["items"][0]["id"])
    assert cast.editor.post(f"/api/v1/incidents/{incident_id}/notes",
                            json={"text": "The disk of the VM was full."}).status_code == 201
    return incident_id


def test_starting_a_postmortem_commits_a_prefilled_doc_in_a_new_work_item(ctx: AppContext, cast: Cast) -> None:
    incident_id = _incident(ctx, cast)
    main_before = git(ctx.repo_path, "rev-parse", "main").strip()
    response = cast.editor.post(f"/api/v1/incidents/{incident_id}/postmortem", json={})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["path"] == "docs/postmortems/2026-11-20-db-tcp.md"
    item = cast.viewer.get(f"/api/v1/work-items/{result['work_item_id']}").json()
    assert item["service"] == "db" and item["category"] == "documentation" and item["status"] == "in_progress"
    doc = git(ctx.repo_path, "show", f"{item['branch']}:{result['path']}")
    assert "# Post-mortem: db-tcp down on 2026-11-20" in doc
    assert "## Incident facts" in doc and doc.index("## Incident facts") < doc.index("## Summary")
    for fact in ("`db-tcp`", "2026-11-20 10:00 UTC", "2026-11-20 10:42 UTC", "42 min", "db, grafana",
                 "connection refused", "The disk of the VM was full.", f"incident #{incident_id}"):
        assert fact in doc, fact
    changes = git(ctx.repo_path, "show", f"{item['branch']}:CHANGES.md")
    assert f"Added the post-mortem of incident #{incident_id}" in changes
    assert git(ctx.repo_path, "rev-parse", "main").strip() == main_before  # nothing on main yet
    detail = cast.viewer.get(f"/api/v1/incidents/{incident_id}").json()
    assert detail["postmortem"]["path"] == result["path"]
    assert detail["postmortem"]["url"] == f"/docs/edit/{result['path']}?item={item['id']}"
    assert detail["timeline"][-1]["kind"] == "postmortem"
    page = cast.viewer.get(f"/incidents/{incident_id}").text
    assert result["path"] in page and f"/work/{item['id']}" in page
    again = cast.editor.post(f"/api/v1/incidents/{incident_id}/postmortem", json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "postmortem_exists"


def test_a_postmortem_can_go_into_an_open_work_item_and_viewers_cannot_start_one(ctx: AppContext,
                                                                                  cast: Cast) -> None:
    incident_id = _incident(ctx, cast)
    assert cast.viewer.post(f"/api/v1/incidents/{incident_id}/postmortem", json={}).status_code == 403
    item = make_work_item(cast.editor, title="Fix the db disk", category="service", action="fix")
    response = cast.editor.post(f"/api/v1/incidents/{incident_id}/postmortem", json={"work_item_id": item["id"]})
    assert response.status_code == 201, response.text
    assert response.json()["work_item_id"] == item["id"]
    files = git(ctx.repo_path, "ls-tree", "-r", "--name-only", item["branch"])
    assert "docs/postmortems/2026-11-20-db-tcp.md" in files


def test_a_postmortem_into_a_closed_work_item_is_refused_and_leaves_nothing(ctx: AppContext, cast: Cast) -> None:
    incident_id = _incident(ctx, cast)
    item = make_work_item(cast.editor, title="Abandoned")
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}").status_code == 200
    response = cast.editor.post(f"/api/v1/incidents/{incident_id}/postmortem", json={"work_item_id": item["id"]})
    assert response.status_code == 409
    assert cast.viewer.get(f"/api/v1/incidents/{incident_id}").json()["postmortem"] is None
