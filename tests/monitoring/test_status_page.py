"""The status page: chosen services, worst status per service, 90-day bars, open incidents; public or
logged-in only by a setting."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calcifer.app import create_app, prepare
from calcifer.monitoring import service
from calcifer.web.context import AppContext
from tests.conftest import Cast, drop_schema, make_settings
from tests.monitoring.factories import make_hourly, make_monitored, make_service, now


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    service.clear_caches()
    yield
    service.clear_caches()


def _seed(ctx: AppContext, *, tag_shop: bool = False) -> None:
    with ctx.session_factory() as session:
        make_service(session, "shop", name="Web shop", tags=["status-page"] if tag_shop else [])
        make_service(session, "wiki", name="Team wiki")
        make_service(session, "lonely")  # no endpoints: not shown unless tagged
        web = make_monitored(session, "shop-web", service="shop", status="up")
        make_monitored(session, "shop-db", service="shop", status="down", message="refused 10.0.0.5:5432")
        make_monitored(session, "wiki-web", service="wiki", status="up")
        make_monitored(session, "wiki-old", service="wiki", status="down", paused=True)
        make_hourly(session, web.id, now(), checks=60, failures=0)
        make_hourly(session, web.id, now() - dt.timedelta(days=1), checks=60, failures=60)
        session.commit()


def _service(html: str, slug: str) -> str:
    return html.split(f'data-service="{slug}"')[1].split('class="mon-service"')[0]


def test_the_status_page_shows_each_service_with_its_worst_endpoint(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    page = cast.viewer.get("/status")
    assert page.status_code == 200
    assert re.findall(r'data-service="([^"]+)"', page.text) == ["shop", "wiki"]
    assert 'data-status="down"' in _service(page.text, "shop").split("<details")[0]
    assert 'data-status="up"' in _service(page.text, "wiki").split("<details")[0]  # paused ones do not count
    shop = _service(page.text, "shop")
    assert shop.count('<span class="d-') == 90 and 'class="d-down"' in shop and 'class="d-up"' in shop
    assert "Some services are down" in page.text


def test_services_tagged_status_page_are_the_only_ones_shown(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx, tag_shop=True)
    page = cast.viewer.get("/status").text
    assert re.findall(r'data-service="([^"]+)"', page) == ["shop"] and "tagged <code>status-page</code>" in page


def test_the_status_page_needs_a_login_unless_public(cast: Cast) -> None:
    response = cast.outsider.get("/status")
    assert response.status_code in (303, 401)


def test_a_public_status_page_works_for_anonymous_visitors_without_leaking_details(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", status_page_public=True)
    ctx = prepare(settings)
    try:
        _seed(ctx)
        with TestClient(create_app(ctx=ctx), follow_redirects=False) as client:
            page = client.get("/status")
            assert page.status_code == 200
            assert "Web shop" in page.text and "Team wiki" in page.text
            assert "user-menu" not in page.text and "Log out" not in page.text
            assert "10.0.0.5" not in page.text  # messages (hosts, addresses) are not shown to the public
            assert client.get("/monitoring").status_code == 303  # only /status is public
    finally:
        ctx.engine.dispose()
        drop_schema(settings)


def test_an_empty_catalog_gives_an_empty_status_page(cast: Cast) -> None:
    page = cast.viewer.get("/status").text
    assert "Nothing to show yet" in page and "Status not known yet" in page


def test_open_incidents_show_on_the_status_page_and_the_endpoint_page(ctx: AppContext, cast: Cast) -> None:
    _seed(ctx)
    from calcifer.monitoring.models.incidents import Incident

    with ctx.session_factory() as session:
        from calcifer.monitoring.models import MonitorState

        state = session.query(MonitorState).filter_by(slug="shop-db").one()
        session.add(Incident(endpoint_id=state.id, open_endpoint_id=state.id, endpoint_slug="shop-db",
                             service="shop", status="open", started_at=now() - dt.timedelta(minutes=9),
                             message="connection refused", affected_services=["shop"], related_work=[]))
        session.commit()
    status = cast.viewer.get("/status").text
    assert "Open incidents" in status and "shop" in status.split("Open incidents")[1]
    endpoint = cast.viewer.get("/monitoring/endpoints/shop-db").text
    assert "Open incident" in endpoint and "connection refused" in endpoint
    assert "Open incident" not in cast.viewer.get("/monitoring/endpoints/shop-web").text
