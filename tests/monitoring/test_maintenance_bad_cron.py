"""A recurring window whose cron never fires (or fires less than once a year) is refused; one already in the
database (an older version stored them) is shown as invalid and skipped, and breaks nothing else."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from calcifer.monitoring import hooks, maintenance
from calcifer.monitoring.models import MaintenanceWindow
from calcifer.web.context import AppContext
from tests.catalog.helpers import error_of
from tests.conftest import Cast
from tests.monitoring.factories import make_endpoint
from tests.notify.helpers import add_endpoint, add_service


@pytest.mark.parametrize(("cron", "says"), [
    ("0 0 31 2 *", "never fires"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4 *", "never fires"),
    ("0 0 29 2 *", "less than once a year"),
    ("* * * * * *", "5 fields"),
    ("@reboot", "5 fields"),
])
def test_a_cron_that_never_fires_or_fires_too_rarely_is_refused_and_nothing_is_stored(
        ctx: AppContext, cast: Cast, cron: str, says: str) -> None:
    response = cast.editor.post("/api/v1/maintenance-windows", json={
        "title": "Leap day", "kind": "recurring", "cron": cron, "duration_minutes": 60})
    error = error_of(response, 422)
    assert says in error["message"] and "e.g. 0 2 * * 0" in error["message"]
    assert [d["field"] for d in error["details"]] == ["cron"]
    with ctx.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 0


def test_the_form_refuses_a_cron_that_never_fires_with_a_message(ctx: AppContext, cast: Cast) -> None:
    answer = cast.editor.post("/maintenance", data={
        "title": "Never", "kind": "recurring", "cron": "0 0 31 2 *", "duration_minutes": "30"},
        follow_redirects=True)
    assert answer.status_code == 200 and "never fires" in answer.text
    with ctx.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 0


def test_usual_crons_are_still_accepted(cast: Cast) -> None:
    for cron in ("0 2 * * 0", "@yearly", "0 0 L 2 *", "0 0 29 2 1", "*/5 * * * *"):
        response = cast.editor.post("/api/v1/maintenance-windows", json={
            "title": "Fine", "kind": "recurring", "cron": cron, "duration_minutes": 30})
        assert response.status_code == 201, (cron, response.text)
        assert response.json()["state"] in {"scheduled", "active"} and response.json()["problem"] is None


@pytest.fixture
def tcp_port() -> Iterator[int]:
    """A listening socket on 127.0.0.1: the kernel completes the check's connection from its backlog."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _store_bad_window(ctx: AppContext, cron: str = "0 0 31 2 *") -> int:
    """What an older version stored: a recurring window with a cron that never fires, covering everything."""
    with ctx.session_factory() as session:
        window = MaintenanceWindow(title="Never", description="", kind="recurring", cron=cron,
                                   duration_minutes=60, services=[], endpoints=[], created_by_name="old")
        session.add(window)
        session.commit()
        return window.id


def test_a_stored_window_that_never_fires_breaks_nothing_and_is_shown_as_invalid(
        ctx: AppContext, cast: Cast, tcp_port: int) -> None:
    pytest.importorskip("calcifer.monitoring.scheduler")
    with ctx.session_factory() as session:
        make_endpoint(session, "local", type="tcp", target="127.0.0.1", port=tcp_port)
        session.commit()
    bad_id = _store_bad_window(ctx)
    maintenance.invalidate_cache()

    listed = cast.viewer.get("/api/v1/maintenance-windows")
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["state"] == "invalid" and "never fires" in item["problem"] and item["next_start"] is None
    one = cast.viewer.get(f"/api/v1/maintenance-windows/{bad_id}")
    assert one.status_code == 200 and one.json()["state"] == "invalid"

    page = cast.viewer.get("/maintenance")
    assert page.status_code == 200 and "invalid" in page.text and "never fires" in page.text

    checked = cast.editor.post("/api/v1/monitoring/endpoints/local/check")
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "up" and checked.json()["in_maintenance"] is False

    ended = cast.editor.post(f"/api/v1/maintenance-windows/{bad_id}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["state"] == "ended" and ended.json()["ended_at"]


def test_the_scheduler_maintenance_set_skips_a_bad_window_and_keeps_the_good_ones(ctx: AppContext,
                                                                                  cast: Cast) -> None:
    with ctx.session_factory() as session:
        add_service(session, "db")
        add_endpoint(session, "db-tcp", service="db")
        add_endpoint(session, "web-http")
        session.commit()
    _store_bad_window(ctx)
    _store_bad_window(ctx, cron="0 0 29 2 *")  # fires, but only every four years: skipped all the same
    now = dt.datetime.now(dt.UTC)
    created = cast.editor.post("/api/v1/maintenance-windows", json={
        "title": "Patch db", "kind": "one_off", "starts_at": (now - dt.timedelta(minutes=5)).isoformat(),
        "ends_at": (now + dt.timedelta(hours=1)).isoformat(), "services": ["db"]})
    assert created.status_code == 201, created.text
    with ctx.session_factory() as session:
        assert hooks.endpoints_in_maintenance(session=session, now=dt.datetime.now(dt.UTC)) == {"db-tcp"}
        assert maintenance.compute_slugs_in_maintenance(
            session=session, now=dt.datetime(2028, 2, 29, 0, 30, tzinfo=dt.UTC)) == set()


# Five fields drawn so that many combinations never fire (31 February, 30 February, 31 April) or are not
# valid at all; free text besides.
FIVE_FIELDS = st.tuples(st.sampled_from(["0", "*/5", "60"]), st.sampled_from(["2", "*", "H"]),
                        st.sampled_from(["31", "30", "29", "*", "L", "1-31/0"]),
                        st.sampled_from(["2", "FEB", "4", "*"]), st.sampled_from(["*", "?", "MON", "8"])
                        ).map(" ".join)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cron=st.one_of(FIVE_FIELDS, FIVE_FIELDS, FIVE_FIELDS, st.text(max_size=40)))
def test_any_cron_text_is_either_stored_as_a_working_window_or_refused_with_a_422(cast: Cast, cron: str) -> None:
    response = cast.editor.post("/api/v1/maintenance-windows", json={
        "title": "Fuzz", "kind": "recurring", "cron": cron, "duration_minutes": 30})
    assert response.status_code in (201, 422), (cron, response.status_code, response.text)
    if response.status_code == 201:
        assert response.json()["state"] in {"active", "scheduled"} and response.json()["next_start"]
    else:
        assert [d["field"] for d in response.json()["error"]["details"]] == ["cron"]
    listed = cast.viewer.get("/api/v1/maintenance-windows?limit=5")
    assert listed.status_code == 200 and all(w["state"] != "invalid" for w in listed.json()["items"])
