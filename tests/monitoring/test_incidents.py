"""Incidents: an endpoint going down opens one, recovery closes it; affected services follow the
catalog's dependencies; people add notes; pages and API list them, open first."""

from __future__ import annotations

import datetime as dt

from calcifer.monitoring import incidents, states, store
from calcifer.monitoring.choices import ResultCode, Status
from calcifer.monitoring.models import Incident
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.notify.helpers import add_endpoint, add_service, change, fire

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def _incidents(ctx: AppContext) -> list[Incident]:
    with ctx.session_factory() as session:
        rows, _ = incidents.list_incidents(session=session, limit=200)
        return rows


def test_going_down_opens_an_incident_and_recovery_closes_it(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        add_service(session, "db")
        eid = add_endpoint(session, "db-tcp", service="db")
        session.commit()
    fire(ctx, change(eid, "db-tcp", Status.UP, Status.DOWN, T0, service="db", message="connection refused"))
    (incident,) = _incidents(ctx)
    assert incident.is_open and incident.started_at == T0 and incident.ended_at is None
    assert incident.message == "connection refused" and incident.endpoint_slug == "db-tcp"
    with ctx.session_factory() as session:
        assert [i.id for i in incidents.open_incidents(session=session)] == [incident.id]

    fire(ctx, change(eid, "db-tcp", Status.DOWN, Status.UP, T0 + dt.timedelta(minutes=7), service="db"))
    (closed,) = _incidents(ctx)
    assert closed.status == "resolved" and closed.ended_at == T0 + dt.timedelta(minutes=7)
    assert closed.duration_seconds == 7 * 60
    kinds = [e.kind for e in closed.events]
    assert kinds == ["opened", "resolved"]
    with ctx.session_factory() as session:
        assert incidents.open_incidents(session=session) == []


def test_the_same_down_change_seen_twice_opens_one_incident(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        eid = add_endpoint(session, "web")
        session.commit()
    down = change(eid, "web", Status.UP, Status.DOWN, T0)
    fire(ctx, down)
    fire(ctx, down)
    fire(ctx, change(eid, "web", Status.UNKNOWN, Status.DOWN, T0 + dt.timedelta(seconds=30)))
    assert len(_incidents(ctx)) == 1


def test_degraded_closes_the_incident_and_a_new_outage_opens_another(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        eid = add_endpoint(session, "web")
        session.commit()
    fire(ctx, change(eid, "web", Status.UP, Status.DOWN, T0))
    fire(ctx, change(eid, "web", Status.DOWN, Status.DEGRADED, T0 + dt.timedelta(minutes=1)))
    fire(ctx, change(eid, "web", Status.DEGRADED, Status.DOWN, T0 + dt.timedelta(minutes=5)))
    rows = _incidents(ctx)
    assert [r.status for r in rows] == ["open", "resolved"]
    assert rows[0].started_at == T0 + dt.timedelta(minutes=5)


def test_affected_services_are_the_service_and_everything_that_needs_it(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        add_service(session, "hw")
        add_service(session, "db", host="hw")
        add_service(session, "grafana", depends_on=["db"])
        add_service(session, "proxy", depends_on=["grafana"])
        add_service(session, "unrelated", depends_on=["hw"])
        eid = add_endpoint(session, "db-tcp", service="db")
        session.commit()
    fire(ctx, change(eid, "db-tcp", Status.UP, Status.DOWN, T0, service="db"))
    (incident,) = _incidents(ctx)
    assert incident.affected_services == ["db", "grafana", "proxy"]
    with ctx.session_factory() as session:
        for service, found in (("proxy", 1), ("db", 1), ("unrelated", 0), ("prox", 0)):
            rows, _ = incidents.list_incidents(session=session, service=service)
            assert len(rows) == found, service


def test_an_endpoint_whose_service_is_not_in_the_catalog_still_gets_an_incident(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        eid = add_endpoint(session, "ghost-http", service="ghost")
        session.commit()
    fire(ctx, change(eid, "ghost-http", Status.UP, Status.DOWN, T0, service="ghost"))
    (incident,) = _incidents(ctx)
    assert incident.affected_services == ["ghost"]


def test_the_result_writer_opens_and_closes_incidents_end_to_end(ctx: AppContext) -> None:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_endpoint(session, "db-tcp", service="db")
        session.commit()
        eid = states.ensure_states(session, ["db-tcp"])["db-tcp"]
    start = T0.timestamp()

    def record(at: float, code: ResultCode, message: str = "") -> store.ResultRecord:
        return store.ResultRecord(endpoint_id=eid, slug="db-tcp", service="db", retries=0, checked_at=at,
                                  code=code, latency_ms=1.0, message=message)

    with ctx.session_factory() as session:
        store.write_batch(session, [record(start, ResultCode.UP)])
        store.write_batch(session, [record(start + 60, ResultCode.DOWN, "connection refused")])
        session.commit()
    (incident,) = _incidents(ctx)
    assert incident.is_open and incident.started_at == T0 + dt.timedelta(seconds=60)
    assert incident.affected_services == ["db"]
    with ctx.session_factory() as session:
        store.write_batch(session, [record(start + 180, ResultCode.UP)])
        session.commit()
    (incident,) = _incidents(ctx)
    assert not incident.is_open and incident.duration_seconds == 120


def test_the_list_puts_open_incidents_first_and_pages_through_the_rest(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        ids = [add_endpoint(session, f"ep-{n}") for n in range(4)]
        session.commit()
    for n, eid in enumerate(ids):  # ep-0 is the oldest outage and the only one still open
        at = T0 + dt.timedelta(hours=n)
        fire(ctx, change(eid, f"ep-{n}", Status.UP, Status.DOWN, at))
        if n:
            fire(ctx, change(eid, f"ep-{n}", Status.DOWN, Status.UP, at + dt.timedelta(minutes=5)))
    first = cast.viewer.get("/api/v1/incidents", params={"limit": 2}).json()
    assert [i["endpoint"] for i in first["items"]] == ["ep-0", "ep-3"]
    assert first["items"][0]["status"] == "open"
    second = cast.viewer.get("/api/v1/incidents", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [i["endpoint"] for i in second["items"]] == ["ep-2", "ep-1"] and second["next_cursor"] is None
    resolved = cast.viewer.get("/api/v1/incidents", params={"status": "resolved"}).json()["items"]
    assert {i["endpoint"] for i in resolved} == {"ep-1", "ep-2", "ep-3"}
    assert cast.viewer.get("/api/v1/incidents", params={"endpoint": "ep-2"}).json()["items"][0]["endpoint"] == "ep-2"
    assert cast.viewer.get("/api/v1/incidents", params={"status": "nope"}).status_code == 422
    page = cast.viewer.get("/incidents")
    assert page.status_code == 200 and page.text.index("ep-0") < page.text.index("ep-3")


def test_editors_add_notes_that_show_in_the_timeline_and_viewers_cannot(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_service(session, "grafana", depends_on=["db"])
        eid = add_endpoint(session, "db-tcp", service="db")
        session.commit()
    fire(ctx, change(eid, "db-tcp", Status.UP, Status.DOWN, T0, service="db", message="timed out"))
    incident_id = _incidents(ctx)[0].id
    response = cast.editor.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "Disk full on the VM."})
    assert response.status_code == 201, response.text
    assert cast.viewer.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "me too"}).status_code == 403
    assert cast.editor.post(f"/api/v1/incidents/{incident_id}/notes", json={"text": "  "}).status_code == 422
    detail = cast.viewer.get(f"/api/v1/incidents/{incident_id}").json()
    assert detail["notes"][0]["text"] == "Disk full on the VM." and detail["notes"][0]["author"] == "eddie"
    assert [e["kind"] for e in detail["timeline"]][:2] == ["opened", "note"]
    assert detail["affected_services"] == ["db", "grafana"]
    page = cast.viewer.get(f"/incidents/{incident_id}")
    assert page.status_code == 200
    assert "Disk full on the VM." in page.text and "grafana" in page.text and "timed out" in page.text
    assert "Add a note" not in page.text  # viewers read only
    assert cast.viewer.get("/api/v1/incidents/999").status_code == 404
