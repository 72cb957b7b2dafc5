"""The Content-Security-Policy in a real Chromium (security issue, finding 2): script that reaches a page
inline does not run and Chromium reports the violation; every main page runs its own scripts (htmx, the
theme toggle, "/" to search, the docs preview, the graph, the chart, Swagger UI) with no violation."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import HTMLResponse

import tests.browser.conftest as browser_conftest
from calcifer.auth.choices import Role
from calcifer.catalog.models import CatalogService
from calcifer.monitoring.choices import ResultCode
from tests.browser.conftest import Console, LiveServer, login
from tests.conftest import make_token, make_user
from tests.monitoring.factories import make_monitored, make_result, make_scheduler, now

pytestmark = pytest.mark.browser

INJECTED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Injected</title><link rel="icon" href="data:,"></head>
<body>
<p id="text">A page that some text reached unescaped.</p>
<script>window.__injected = "inline script";</script>
<button id="handler" type="button" onclick="window.__injected = 'event handler'">Press</button>
<a id="js-link" href="javascript:void(window.__injected = 'javascript: link')">Open</a>
</body></html>
"""

# What Chromium logs for each blocked attempt.
VIOLATIONS = {
    "inline script": r"Executing inline script violates the following Content Security Policy directive 'script-src",
    "event handler": r"Executing inline event handler violates the following Content Security Policy directive",
    "javascript: link": r"Running the JavaScript URL violates the following Content Security Policy directive",
}


@pytest.fixture
def injecting_server(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> LiveServer:
    """The live server with one extra page that carries inline script, as injected text would."""
    original: Callable[..., FastAPI] = browser_conftest.create_app

    def create_app_with_injection(*args: Any, **kwargs: Any) -> FastAPI:
        app = original(*args, **kwargs)

        @app.get("/test-injected")
        def injected() -> HTMLResponse:
            return HTMLResponse(INJECTED)

        return app

    monkeypatch.setattr(browser_conftest, "create_app", create_app_with_injection)
    server: LiveServer = request.getfixturevalue("live_server")
    return server


def test_an_injected_inline_script_handler_or_javascript_link_does_not_run(
        page: Any, injecting_server: LiveServer, console: Console) -> None:
    make_user(injecting_server.ctx, "alice", Role.ADMIN)
    for pattern in VIOLATIONS.values():
        console.expect(pattern)
    login(page, injecting_server, "alice")
    page.goto(injecting_server("/test-injected"))
    page.wait_for_load_state("load")
    assert page.evaluate("typeof window.__injected") == "undefined", "the inline script ran"
    page.click("#handler")
    assert page.evaluate("typeof window.__injected") == "undefined", "the event handler ran"
    page.click("#js-link", no_wait_after=True)
    page.wait_for_function("() => document.readyState === 'complete'")
    assert page.evaluate("typeof window.__injected") == "undefined", "the javascript: link ran"
    assert page.locator("#text").is_visible()
    reported = "\n".join(console.errors)
    for what, pattern in VIOLATIONS.items():
        assert any(re.search(pattern, e) for e in console.errors), (what, reported)


GRAFANA = """\
name: Grafana
slug: grafana
kind: container
urls:
  - https://grafana.example.org
links:
  - label: Runbook
    url: https://wiki.example.org/grafana
depends_on: [postgres]
endpoints:
  - name: Grafana web
    slug: grafana-web
    type: http
    target: https://grafana.example.org/api/health
"""
POSTGRES = "name: Postgres\nslug: postgres\nkind: container\n"
DOC = "---\ntitle: Grafana runbook\n---\n# Grafana runbook\n\nRestart grafana with care.\n"


def land(client: httpx.Client, files: dict[str, str]) -> int:
    """Files on main through a documented, merged work item; then one open work item, whose id is returned."""
    item = client.post("/api/v1/work-items", json={"title": "Add grafana", "category": "service",
                                                   "action": "new"}).json()
    for path, content in files.items():
        written = client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": content})
        assert written.status_code in (200, 201), written.text
    committed = client.post(f"/api/v1/work-items/{item['id']}/commits",
                            json={"message": "Add grafana", "changelog": {"type": "Added", "text": "Grafana"}})
    assert committed.status_code == 201, committed.text
    for index in range(len(item["checklist"])):
        assert client.put(f"/api/v1/work-items/{item['id']}/checklist/{index}", json={"done": True}).status_code == 200
    assert client.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "Revert to roll back."}).status_code == 200
    merged = client.post(f"/api/v1/work-items/{item['id']}/merge")
    assert merged.status_code == 200, merged.text
    open_item = client.post("/api/v1/work-items", json={"title": "Tune grafana", "category": "service",
                                                        "action": "change"})
    assert open_item.status_code == 201, open_item.text
    return int(open_item.json()["id"])


def seed(server: LiveServer) -> int:
    make_user(server.ctx, "alice", Role.ADMIN)
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(server.ctx, 'alice')}"}) as client:
        item_id = land(client, {"catalog/services/grafana.yaml": GRAFANA, "catalog/services/postgres.yaml": POSTGRES,
                                "docs/grafana.md": DOC})
    moment = now()
    with server.ctx.session_factory() as session:
        # A link indexed before URLs were checked: shown as text, never as a link.
        postgres = session.query(CatalogService).filter_by(slug="postgres").one()
        postgres.spec = {**postgres.spec, "links": [{"label": "Admin tools", "url": "javascript://x/%0Aalert(1)"}]}
        state = make_monitored(session, "lab-web", type="http", name="Lab web", target="https://lab.example.org/",
                               status="up", latency_ms=40.0)
        for n in range(60):
            make_result(session, state.id, moment - dt.timedelta(minutes=2 * n), latency_ms=30.0 + n % 7,
                        status=ResultCode.DOWN if n == 5 else ResultCode.UP)
        make_scheduler(session)
        session.commit()
    return item_id


def visit(page: Any, console: Console, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert "script-src 'self'" in (response.header_value("content-security-policy") or ""), url
    page.wait_for_load_state("load")
    console.assert_clean()


def test_the_main_pages_run_under_the_policy_without_a_violation(page: Any, live_server: LiveServer,
                                                                  console: Console) -> None:
    item_id = seed(live_server)
    page.goto(live_server("/login"))
    console.assert_clean()
    login(page, live_server, "alice")
    for path in ("/", "/work", f"/work/{item_id}", "/services", "/services/grafana", "/endpoints",
                 "/endpoints/grafana-web", "/monitoring", "/incidents", "/docs", "/docs/view/docs/grafana.md",
                 "/settings", "/search?q=grafana", "/changelog"):
        visit(page, console, live_server(path))

    # theme toggle (theme.js applied the stored theme, app.js toggles it) and "/" to search
    page.goto(live_server("/"))
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    # htmx: the header's instant search swaps its results in
    page.keyboard.type("grafana")
    page.wait_for_selector("#global-search-results .search-instant a.search-hit-title")

    # a stored javascript: link is text on the service page
    visit(page, console, live_server("/services/postgres"))
    assert page.locator("#main a[href^='javascript' i]").count() == 0
    assert page.get_by_text("Admin tools").is_visible()

    # the chart's tick labels are placed by app.js (no style="" attributes under the policy)
    visit(page, console, live_server("/monitoring/endpoints/lab-web"))
    assert page.locator(".mon-chart .y-ticks span").count() > 0
    assert page.evaluate("document.querySelector('.mon-chart .y-ticks span').style.top").endswith("%")
    page.click(".mon-ranges a:has-text('1h')")  # htmx swaps the chart; the new ticks are placed too
    page.wait_for_url("**range=1h")
    page.wait_for_function("() => { const s = document.querySelector('.mon-chart .x-ticks span');"
                           " return s && s.style.left.endsWith('%'); }")

    # the graph draws (cytoscape and graph.js from /static)
    visit(page, console, live_server("/catalog/graph"))
    page.wait_for_function("() => /^\\d+ services/.test(document.querySelector('#graph-status').textContent)")
    assert page.locator("#graph canvas").count() > 0

    # the docs editor's live preview (htmx)
    visit(page, console, live_server(f"/docs/edit/docs/grafana.md?item={item_id}"))
    with page.expect_response(lambda r: r.url.endswith("/docs/preview") and r.request.method == "POST"):
        page.locator("#doc-content").press("Control+End")
        page.locator("#doc-content").press_sequentially("\n\nThe **zanzibarwombat** rule.\n", delay=5)
    page.wait_for_function("() => document.querySelector('#doc-preview').textContent.includes('zanzibarwombat')")

    # Swagger UI renders the API and its operations
    visit(page, console, live_server("/api/docs"))
    # Swagger UI parses the whole OpenAPI document (~270 KB) in the page: slow on a loaded 2-core machine.
    page.wait_for_selector(".swagger-ui .info .title", timeout=90_000)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Calcifer")
    page.wait_for_selector(".swagger-ui .opblock")
    page.locator(".swagger-ui .opblock-summary").first.click()
    page.wait_for_selector(".swagger-ui .opblock.is-open")
    console.assert_clean()
