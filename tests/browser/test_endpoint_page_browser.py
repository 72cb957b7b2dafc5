"""One endpoint page and the graph's health colours, in a real browser: the catalog's endpoint link lands
on the page that shows monitoring and the declaration together; graph nodes take the worst status of
their service's endpoints and the legend names each colour."""

from __future__ import annotations

from typing import Any

import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import Console, LiveServer, login, shot
from tests.browser.test_catalog_browser import wait_for_graph
from tests.conftest import make_user
from tests.monitoring.factories import make_endpoint, make_monitored, make_service

pytestmark = pytest.mark.browser


def _seed(server: LiveServer) -> None:
    with server.ctx.session_factory() as session:
        make_service(session, "shop", name="Web shop")
        make_service(session, "wiki", name="Team wiki")
        make_service(session, "blog", name="Blog")
        make_service(session, "lonely", name="Lonely")  # no endpoints
        make_monitored(session, "shop-web", service="shop", name="Shop front", status="up")
        make_monitored(session, "shop-db", service="shop", name="Shop database", status="down",
                       message="connection refused")
        make_monitored(session, "wiki-web", service="wiki", name="Wiki", status="degraded", message="slow")
        make_endpoint(session, "blog-web", service="blog", name="Blog web")  # never checked
        session.commit()
    make_user(server.ctx, "vera", Role.VIEWER)


def test_the_endpoints_list_links_to_one_page_with_status_and_declaration(page: Any, live_server: LiveServer,
                                                                          console: Console) -> None:
    _seed(live_server)
    login(page, live_server, "vera")
    page.goto(live_server("/endpoints"))
    row = page.locator('tr[data-slug="shop-db"]')
    assert row.locator("[data-status]").get_attribute("data-status") == "down"
    with page.expect_navigation():
        row.locator("a", has_text="Shop database").click()
    assert page.url == live_server("/monitoring/endpoints/shop-db")
    assert page.locator("h1 [data-status]").get_attribute("data-status") == "down"
    declaration = page.locator("#endpoint-declaration")
    assert declaration.is_visible()
    assert "catalog/endpoints/shop-db.yaml:1" in declaration.inner_text()
    shot(page, "endpoint-one-page")
    console.assert_clean()


def test_graph_nodes_take_the_worst_endpoint_status_and_the_legend_names_the_colours(
        page: Any, live_server: LiveServer, console: Console) -> None:
    _seed(live_server)
    login(page, live_server, "vera")
    page.goto(live_server("/catalog/graph"))
    wait_for_graph(page, 4)
    health = page.evaluate("() => Object.fromEntries(window.calciferGraph.nodes().map("
                           "n => [n.id(), n.data('health')]))")
    assert health == {"shop": "down", "wiki": "degraded", "blog": "unknown", "lonely": "none"}
    colours = page.evaluate("() => Object.fromEntries(window.calciferGraph.nodes().map("
                            "n => [n.id(), n.style('background-color')]))")
    assert len({colours["shop"], colours["wiki"], colours["blog"], colours["lonely"]}) == 4, colours
    legend = page.locator("#graph-health-legend")
    assert legend.is_visible()
    text = legend.inner_text()
    for word in ("down", "degraded", "unknown", "up", "paused", "no endpoints"):
        assert word in text, text
    # The legend's swatches are the nodes' colours.
    swatch = page.evaluate("() => getComputedStyle(document.querySelector('.graph-swatch-down')).backgroundColor")
    assert swatch.replace(" ", "") == colours["shop"].replace(" ", ""), (swatch, colours["shop"])
    shot(page, "catalog-graph-health")
    console.assert_clean()
