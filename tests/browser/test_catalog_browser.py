"""The service catalog through the browser: a spec typed into the editor, committed on a work item,
documented and merged, then listed, shown and drawn. Checked at the end with the real git CLI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from calcifer.auth.choices import Role
from calcifer.catalog.schemas import ServiceSpec
from calcifer.catalog.yamlio import load_plain
from tests.browser.conftest import Console, LiveServer, login, shot
from tests.conftest import make_user

pytestmark = pytest.mark.browser

VM_SPEC = """\
# the Docker host
name: Docker VM
slug: vm-1
kind: vm
description: Runs the homelab's containers.
"""

GRAFANA_SPEC = """\
# Grafana: dashboards for the homelab
name: Grafana
slug: grafana
kind: container  # in docker on vm-1
description: Dashboards for metrics and logs.
host: vm-1
status: active
ports:
  - number: 3000  # the web UI
    protocol: tcp
    purpose: web
tags: [monitoring]
"""


def git(repo: Path, *args: str) -> str:
    """The real git CLI against the managed bare repository (an argument list, never a shell)."""
    result = subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True,
                            check=True)
    return result.stdout


def create_work_item(page: Any, server: LiveServer, title: str) -> int:
    page.goto(server("/work/new"))
    page.fill("#f-title", title)
    page.select_option("#category", "service")
    page.select_option("#action", "new")
    with page.expect_navigation():
        page.click("form[action='/work'] button[type=submit]")
    assert re.fullmatch(re.escape(server("/work/")) + r"\d+", page.url), page.url
    return int(page.url.rsplit("/", 1)[1])


def save_spec(page: Any, server: LiveServer, spec: str, item_id: int) -> None:
    """Type a service spec into the editor, send it to work item `item_id`, land on the work item."""
    page.goto(server("/catalog/edit/service?mode=yaml"))  # the YAML tab
    assert page.locator("h1").inner_text() == "New service"
    assert "kind: container" in page.input_value("#spec-text")  # a template to start from
    page.fill("#spec-text", "")
    page.locator("#spec-text").press_sequentially(spec[:40])  # a person types...
    page.fill("#spec-text", spec)  # ...and pastes the rest
    page.select_option("#target", str(item_id))
    with page.expect_navigation():
        page.click("#catalog-edit button[name=operation][value=save]")
    assert page.url.split("#")[0] == server(f"/work/{item_id}"), page.url
    assert f"Committed to work item #{item_id}" in page.locator("#flashes").inner_text()


def finish_and_merge(page: Any, server: LiveServer, item_id: int, notes: str) -> str:
    page.goto(server(f"/work/{item_id}"))
    boxes = page.locator("#checklist-block input[type=checkbox]")
    total = boxes.count()
    assert total > 0
    for index in range(total):
        with page.expect_response(lambda r, i=index: r.url.endswith(f"/checklist/{i}/toggle")) as answer:
            page.locator(f"#checklist-block input[data-checklist-index='{index}']").click()
        assert answer.value.status == 200
        page.wait_for_function("([n, t]) => document.querySelector('#checklist-progress').textContent.trim()"
                               " === `${n} of ${t} done`", arg=[index + 1, total])
    page.fill("#notes-text", notes)
    with page.expect_navigation():
        page.click("#notes button[type=submit]")
    assert page.locator("#merge-ready").is_visible()
    with page.expect_navigation():
        page.click("#merge-button")
    assert page.locator(".page-header .badge-complete").count() == 1
    merge_commit = page.locator("#merge-commit").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{40}", merge_commit), merge_commit
    return merge_commit


def wait_for_graph(page: Any, services: int) -> None:
    page.wait_for_function("n => /^\\d+ services/.test(document.querySelector('#graph-status').textContent)"
                           " && window.calciferGraph !== undefined", arg=services)
    status = page.locator("#graph-status").inner_text()
    assert status.startswith(f"{services} services"), status


def test_a_service_typed_into_the_editor_goes_live_through_its_work_item(page: Any, live_server: LiveServer,
                                                                        console: Console) -> None:
    ctx = live_server.ctx
    make_user(ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    item_id = create_work_item(page, live_server, "Add Grafana and its VM")

    # -- two specs typed into the editor, both committed on the same work item -------------------------
    save_spec(page, live_server, VM_SPEC, item_id)
    save_spec(page, live_server, GRAFANA_SPEC, item_id)
    commits = page.locator("#commits li").all_inner_texts()
    assert len(commits) == 2, commits
    assert "Added service vm-1" in commits[-1] and "Added service grafana" in commits[0], commits
    # not live yet: the catalog shows main
    page.goto(live_server("/services"))
    assert page.locator("#services-table tbody a[href='/services/grafana']").count() == 0

    # -- documented and merged --------------------------------------------------------------------------
    merge_commit = finish_and_merge(page, live_server, item_id, "Added Grafana on vm-1.\nRoll back: revert "
                                    "the merge commit.")
    repo = ctx.repo_path
    assert git(repo, "rev-parse", "main").strip() == merge_commit
    # (whether the typed comments survive is checked in tests/catalog/test_catalog_changes.py)
    for slug, typed in (("grafana", GRAFANA_SPEC), ("vm-1", VM_SPEC)):
        on_main = load_plain(git(repo, "show", f"main:catalog/services/{slug}.yaml"))
        assert ServiceSpec.model_validate(on_main) == ServiceSpec.model_validate(load_plain(typed)), on_main
    changes = git(repo, "show", "main:CHANGES.md")
    assert "- Added service grafana" in changes and "- Added service vm-1" in changes, changes

    # -- the services list --------------------------------------------------------------------------------
    page.goto(live_server("/services"))
    rows = page.locator("#services-table tbody tr")
    assert rows.count() == 2
    grafana_row = rows.filter(has=page.locator("a[href='/services/grafana']"))
    assert grafana_row.count() == 1
    assert "container" in grafana_row.inner_text() and "monitoring" in grafana_row.inner_text()
    assert grafana_row.locator("a[href='/services/vm-1']").count() == 1  # the host column
    assert page.locator("#catalog-problems").count() == 0
    assert merge_commit[:10] in page.locator(".page-header").inner_text()
    page.fill("#f-q", "dashboards")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert page.locator("#services-table tbody tr").count() == 1
    page.goto(live_server("/services"))
    shot(page, "catalog-services-light")

    # -- the service page ------------------------------------------------------------------------------------
    with page.expect_navigation():
        grafana_row.locator("a[href='/services/grafana']").first.click()
    assert page.url == live_server("/services/grafana")
    assert page.locator("h1").inner_text() == "Grafana"
    assert page.locator("#impact").is_visible()
    assert "Nothing depends on or runs on grafana." in page.locator("#impact").inner_text()
    assert "vm-1" in page.locator("#impact").inner_text()  # upstream
    assert "3000/tcp (web)" in page.locator("dl.kv").inner_text()
    shot(page, "catalog-service-light")
    page.goto(live_server("/services/vm-1"))
    impact = page.locator("#impact").inner_text()
    assert "If vm-1 goes down, 1 service is affected." in impact, impact
    assert page.locator("#impact a[href='/services/grafana']").count() >= 1

    # -- the graph ---------------------------------------------------------------------------------------------
    page.goto(live_server("/catalog/graph"))
    wait_for_graph(page, 2)
    assert page.evaluate("window.calciferGraph.nodes().length") == 2
    assert page.evaluate("window.calciferGraph.edges().length") == 1
    edge = page.evaluate("(() => { const e = window.calciferGraph.edges()[0];"
                         " return [e.source().id(), e.target().id(), e.data('kind')]; })()")
    assert edge == ["grafana", "vm-1", "host"]
    box = page.locator("#graph").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 200, box
    shot(page, "catalog-graph-light")
    light_text = page.evaluate("window.calciferGraph.nodes()[0].style('color')")

    page.emulate_media(color_scheme="dark")
    page.goto(live_server("/catalog/graph"))
    wait_for_graph(page, 2)
    assert page.evaluate("window.calciferGraph.nodes().length") >= 1
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
    dark_text = page.evaluate("window.calciferGraph.nodes()[0].style('color')")
    assert dark_text != light_text, "the graph's labels keep the light theme's colour in the dark theme"
    shot(page, "catalog-graph-dark")
    page.goto(live_server("/services"))
    shot(page, "catalog-services-dark")
    page.goto(live_server("/services/grafana"))
    shot(page, "catalog-service-dark")

    # centred on one service, clicking a node opens it
    page.goto(live_server("/catalog/graph?center=grafana&depth=1"))
    wait_for_graph(page, 2)
    position = page.evaluate("(() => { const p = window.calciferGraph.$id('vm-1').renderedPosition();"
                             " return [p.x, p.y]; })()")
    graph_box = page.locator("#graph").bounding_box()
    with page.expect_navigation():
        page.mouse.click(graph_box["x"] + position[0], graph_box["y"] + position[1])
    assert page.url == live_server("/services/vm-1")
    page.emulate_media(color_scheme="light")

    # a phone's width: nothing scrolls sideways
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("/services", "/services/grafana", "/catalog/graph"):
        page.goto(live_server(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 376, f"{path} is {width}px wide at 375px"
    console.assert_clean()


def test_an_invalid_spec_shows_every_error_and_commits_nothing(page: Any, live_server: LiveServer,
                                                              console: Console) -> None:
    ctx = live_server.ctx
    make_user(ctx, "eddie", Role.EDITOR)
    login(page, live_server, "eddie")
    item_id = create_work_item(page, live_server, "Try a spaceship")
    page.goto(live_server("/catalog/edit/service?mode=yaml"))
    spec = "name: Enterprise\nslug: enterprise\nkind: spaceship\nports:\n  - number: 70000\nwarp: 9\n"
    page.fill("#spec-text", spec)
    page.select_option("#target", str(item_id))
    with page.expect_navigation():
        page.click("#catalog-edit button[name=operation][value=save]")
    console.expect(r"Failed to load resource: the server responded with a status of 422")
    assert page.url == live_server("/catalog/edit/service")
    alert = page.locator(".alert-error")
    assert alert.count() == 1
    paths = page.locator(".alert-error ul.problems li .mono").all_inner_texts()
    assert sorted(paths) == ["kind", "ports.0.number", "warp"], paths
    assert page.input_value("#spec-text") == spec  # the person's text is kept for fixing
    shot(page, "catalog-edit-error")
    # nothing was committed on the work item
    page.goto(live_server(f"/work/{item_id}"))
    assert page.locator("#commits li").count() == 0
    assert git(ctx.repo_path, "rev-list", "--count", "main").strip() == "1"

    # broken YAML says which line
    page.goto(live_server("/catalog/edit/service?mode=yaml"))
    page.fill("#spec-text", "name: Broken\nslug: broken\nkind: [vm\n")
    with page.expect_navigation():
        page.click("#catalog-edit button[name=operation][value=save]")
    assert page.locator(".alert-error").count() == 1
    assert "line" in page.locator(".alert-error").inner_text()
    console.assert_clean()
