"""Incidents and alerts of a multi-location endpoint say which locations saw what (and what they were told)."""

from __future__ import annotations

from sqlalchemy import select

from calcifer.monitoring.models import Incident
from calcifer.notify.models import Delivery
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.probes.helpers import add_endpoint, add_probe, headers, result


def test_the_incident_and_its_alert_name_the_locations_that_saw_it_down(cast: Cast, ctx: AppContext) -> None:
    add_endpoint(ctx, "web", ["fra-vps", "home"], verdict="any")
    fra, home = add_probe(ctx, "fra-1", "fra-vps"), add_probe(ctx, "home-1", "home")
    assert cast.admin.post("/api/v1/notification-channels",
                           json={"name": "ops", "url": "json://127.0.0.1:9/hook"}).status_code == 201
    cast.outsider.post("/api/v1/probes/results", headers=headers(home), json={"results": [result(1, "web", "up")]})
    down = result(1, "web", "down", message="connection refused")
    assert cast.outsider.post("/api/v1/probes/results", headers=headers(fra),
                              json={"results": [down]}).status_code == 200
    with ctx.session_factory() as session:
        incident = session.execute(select(Incident).where(Incident.endpoint_slug == "web")).scalar_one()
        alert = session.execute(select(Delivery).where(Delivery.endpoint_slug == "web")).scalar_one()
    assert "down from fra-vps (connection refused)" in incident.message and "up from home" in incident.message
    assert "down from fra-vps (connection refused)" in alert.body and "up from home" in alert.body
    page = cast.viewer.get(f"/incidents/{incident.id}")
    assert page.status_code == 200 and "down from fra-vps (connection refused); up from home" in page.text


def test_the_endpoint_page_draws_a_sparkline_per_location(cast: Cast, ctx: AppContext) -> None:
    import time

    add_endpoint(ctx, "web", ["fra-vps", "home"])
    fra = add_probe(ctx, "fra-1", "fra-vps")
    now = time.time()
    cast.outsider.post("/api/v1/probes/results", headers=headers(fra), json={"results": [
        result(i, "web", "up", checked_at=now - 60 * (5 - i), latency_ms=10.0 * i) for i in range(1, 5)]})
    page = cast.viewer.get("/monitoring/endpoints/web").text
    assert page.count('class="mon-spark"') == 1  # home has not reported: no line for it
    assert "Latency from fra-vps over the last hour: 4 checks, 10 ms to 40 ms" in page
    assert "style=" not in page.split('id="endpoint-locations"')[1].split("</section>")[0]
