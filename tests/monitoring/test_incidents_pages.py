"""The incident and maintenance pages' forms, as a person uses them in a browser (login, CSRF token)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from calcifer.monitoring.choices import Status
from calcifer.web.context import AppContext
from tests.catalog.helpers import git
from tests.conftest import Cast, browser_login
from tests.notify.helpers import add_endpoint, add_service, change, fire

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def test_an_editor_adds_a_note_and_starts_the_postmortem_from_the_incident_page(
        ctx: AppContext, cast: Cast, app) -> None:  # type: ignore[no-untyped-def]
    with ctx.session_factory() as session:
        add_service(session, "db")
        eid = add_endpoint(session, "db-tcp", service="db")
        session.commit()
    fire(ctx, change(eid, "db-tcp", Status.UP, Status.DOWN, T0, service="db"))
    incident_id = cast.viewer.get("/api/v1/incidents").json()["items"][0]["id"]
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "eddie")
    page = browser.get(f"/incidents/{incident_id}").text
    assert "Add a note" in page and "Start post-mortem" in page
    response = browser.post(f"/incidents/{incident_id}/notes", data={"csrf_token": token, "text": "Restarting <db>."})
    assert response.status_code == 303
    page = browser.get(f"/incidents/{incident_id}").text
    assert "Restarting &lt;db&gt;." in page and "Note added." in page
    assert browser.post(f"/incidents/{incident_id}/notes", data={"text": "no token"}).status_code == 403
    response = browser.post(f"/incidents/{incident_id}/postmortem", data={"csrf_token": token, "target": "new"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/docs/edit/docs/postmortems/2026-11-20-db-tcp.md?item=")
    item_id = int(response.headers["location"].rsplit("=", 1)[1])
    branch = cast.viewer.get(f"/api/v1/work-items/{item_id}").json()["branch"]
    assert "Restarting <db>." in git(ctx.repo_path, "show", f"{branch}:docs/postmortems/2026-11-20-db-tcp.md")
    assert "docs/postmortems/2026-11-20-db-tcp.md" in browser.get(f"/incidents/{incident_id}").text


def test_an_editor_creates_and_ends_a_window_from_the_maintenance_page(
        ctx: AppContext, cast: Cast, app) -> None:  # type: ignore[no-untyped-def]
    with ctx.session_factory() as session:
        add_service(session, "nas")
        add_endpoint(session, "nas-smb", service="nas")
        session.commit()
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "eddie")
    response = browser.post("/maintenance", data={
        "csrf_token": token, "title": "Disk swap", "kind": "one_off", "starts_at": "2026-01-01T00:00",
        "ends_at": "2099-01-01T00:00", "services": "nas"})
    assert response.status_code == 303
    page = browser.get("/maintenance").text
    assert "Disk swap" in page and "Maintenance window #1 created." in page and "End now" in page
    browser.post("/maintenance", data={"csrf_token": token, "title": "Broken", "kind": "recurring",
                                       "cron": "whenever"})
    assert "cron" in browser.get("/maintenance").text
    assert browser.post("/maintenance/1/end", data={"csrf_token": token}).status_code == 303
    (window,) = [w for w in cast.viewer.get("/api/v1/maintenance-windows").json()["items"] if w["id"] == 1]
    assert window["state"] == "ended"
