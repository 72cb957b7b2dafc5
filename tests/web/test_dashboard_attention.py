"""The dashboard names what needs attention: the endpoints down or degraded and the open incidents."""

from __future__ import annotations

import datetime as dt

from calcifer.monitoring.models import MonitorState
from calcifer.monitoring.models.incidents import Incident
from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.factories import make_monitored, make_service, now


def test_the_dashboard_lists_endpoints_down_or_degraded_and_open_incidents(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_service(session, "shop")
        make_monitored(session, "shop-web", service="shop", status="up")
        make_monitored(session, "shop-db", service="shop", status="down", message="connection refused")
        make_monitored(session, "wiki-web", status="degraded", message="slow: 2.1 s")
        make_monitored(session, "held", status="down", paused=True)   # paused by hand: shown as paused
        session.commit()
        state = session.query(MonitorState).filter_by(slug="shop-db").one()
        session.add(Incident(endpoint_id=state.id, open_endpoint_id=state.id, endpoint_slug="shop-db",
                             service="shop", status="open", started_at=now() - dt.timedelta(minutes=9),
                             message="shop database unreachable", affected_services=["shop"], related_work=[]))
        session.commit()
    page = cast.viewer.get("/").text
    attention = page.split('id="dashboard-attention"', 1)[1].split('id="dashboard-incidents"', 1)[0]
    listed = [part.split('"', 1)[0] for part in attention.split('<li data-slug="')[1:]]
    assert listed == ["shop-db", "wiki-web"]   # down before degraded; up and paused left out
    assert "connection refused" in attention and "slow: 2.1 s" in attention
    incidents = page.split('id="dashboard-incidents"', 1)[1].split("</section>", 1)[0]
    assert "shop database unreachable" in incidents and 'href="/monitoring/endpoints/shop-db"' in incidents


def test_the_dashboard_says_so_when_nothing_needs_attention(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_monitored(session, "shop-web", status="up")
        session.commit()
    page = cast.viewer.get("/").text
    assert "Every checked endpoint is up." in page and "No open incident." in page
