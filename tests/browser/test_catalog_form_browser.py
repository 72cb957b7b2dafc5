"""The service and endpoint forms in a real browser: problems appear next to their field as a person
types (before anything is saved), the options follow the check type, "Add endpoint" pre-fills the
service, and the page passes axe-core in both themes and fits a phone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import Console, LiveServer, login, shot
from tests.browser.test_a11y_browser import axe_context, violations  # noqa: F401 (a fixture)
from tests.browser.test_docs_browser import land
from tests.conftest import make_token, make_user

pytestmark = pytest.mark.browser

VM = "name: VM 1\nslug: vm-1\nkind: vm\n"
GRAFANA = "# dashboards\nname: Grafana\nslug: grafana\nkind: container\nhost: vm-1\n"


def seed(server: LiveServer) -> None:
    make_user(server.ctx, "eddie", Role.EDITOR)
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(server.ctx, 'eddie')}"}) as client:
        land(client, {"catalog/services/vm-1.yaml": VM, "catalog/services/grafana.yaml": GRAFANA},
             title="Grafana and its VM", entry="Grafana and its VM")


def commits(server: LiveServer) -> int:
    import subprocess

    out = subprocess.run(["git", "--git-dir", str(server.ctx.repo_path), "rev-list", "--all", "--count"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_problems_show_next_to_their_field_while_typing(page: Any, live_server: LiveServer,
                                                        console: Console) -> None:
    seed(live_server)
    before = commits(live_server)
    login(page, live_server, "eddie")
    page.goto(live_server("/catalog/edit/service"))
    assert page.get_attribute("#tab-form", "aria-pressed") == "true"
    page.fill("#f-name", "Loki")
    page.fill("#f-slug", "loki")
    page.locator("#f-ports-0-number").fill("")
    page.locator("#f-ports-0-number").press_sequentially("70000")
    error = page.locator("#f-ports-0-number-error")
    error.wait_for(state="visible")
    assert "65535" in error.inner_text()
    described = page.get_attribute("#f-ports-0-number", "aria-describedby") or ""
    assert "f-ports-0-number-error" in described.split()
    assert page.get_attribute("#f-ports-0-number", "aria-invalid") == "true"
    assert "error" in page.locator("#edit-problems-head").inner_text()

    # fixed: the message goes; an unknown host is a warning next to the host
    page.locator("#f-ports-0-number").fill("3100")
    page.locator("#f-host").fill("nowhere")
    page.locator("#f-ports-0-number-error").wait_for(state="hidden")
    host = page.locator("#f-host-error")
    host.wait_for(state="visible")
    assert "'nowhere' is not a service in the catalog" in host.inner_text()
    assert "field-warning" in (host.get_attribute("class") or "")
    assert page.get_attribute("#f-ports-0-number", "aria-invalid") is None

    # a row added with the keyboard gets the next place and the focus
    page.locator("[data-rows=ports] [data-add-row]").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "f-ports-2-number"
    page.keyboard.type("99999")
    page.locator("#f-ports-2-number-error").wait_for(state="visible")
    shot(page, "catalog-form-live-errors")
    page.locator("#f-ports-2-number").locator("xpath=ancestor::*[@data-row]").locator("[data-remove-row]").click()
    page.locator("#f-ports-2-number").wait_for(state="detached")

    # to the YAML tab: what was typed comes along, checked the same way, with lines
    with page.expect_navigation():
        page.click("#tab-yaml")
    text = page.input_value("#spec-text")
    assert "slug: loki" in text and "host: nowhere" in text and "number: 3100" in text
    page.locator("#spec-text").press("End")
    page.locator("#spec-text").press("Control+End")
    page.keyboard.type("depends_on:\n- tempo\n")
    item = page.locator(".edit-problems-list li", has_text="tempo")
    item.wait_for()
    assert "line " in item.inner_text() and "warning" in item.inner_text()
    assert commits(live_server) == before  # nothing was saved
    console.assert_clean()


def test_add_endpoint_prefills_the_service_and_the_options_follow_the_type(page: Any, live_server: LiveServer,
                                                                          console: Console) -> None:
    seed(live_server)
    login(page, live_server, "eddie")
    page.goto(live_server("/services/grafana"))
    with page.expect_navigation():
        page.click("#add-endpoint")
    assert page.url == live_server("/catalog/edit/endpoint?service=grafana")
    assert page.input_value("#f-service") == "grafana"
    assert page.input_value("#f-slug") == "grafana-http"
    assert page.locator("#options-http").is_visible() and not page.locator("#options-tcp").is_visible()
    assert page.locator("#f-opt-http-method").is_visible()
    page.select_option("#f-type", "tcp")
    assert page.locator("#options-tcp").is_visible() and not page.locator("#options-http").is_visible()
    assert page.locator("#f-opt-tcp-expect_banner").is_visible()
    # a URL is no tcp target, and a tcp check needs a port: each said next to its field, before saving
    page.locator("#f-target-error").wait_for(state="visible")
    assert "port" in page.locator("#f-target-error").inner_text()
    page.fill("#f-target", "grafana.internal")
    page.locator("#f-port-error").wait_for(state="visible")
    page.locator("#f-target-error").wait_for(state="hidden")
    assert "needs a port" in page.locator("#f-port-error").inner_text()
    page.select_option("#f-type", "icmp")
    assert page.locator("#options-icmp").is_visible() and page.locator("#f-opt-icmp-packets").is_visible()
    page.locator("#f-port-error").wait_for(state="hidden")
    console.assert_clean()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_forms_pass_axe_and_fit_a_phone(axe_context: Any, live_server: LiveServer,  # noqa: F811
                                            console: Console, theme: str) -> None:
    seed(live_server)
    axe_context.add_init_script(f"if (location.protocol === 'http:') localStorage.setItem('calcifer-theme', '{theme}')")
    page = axe_context.new_page()
    login(page, live_server, "eddie")
    report = {}
    for path in ("/catalog/edit/service?slug=grafana", "/catalog/edit/endpoint?service=grafana",
                 "/catalog/edit/service?slug=grafana&mode=yaml"):
        page.goto(live_server(path))
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        report[path] = violations(page)
    # with live problems shown next to fields
    page.goto(live_server("/catalog/edit/service?slug=grafana"))
    page.fill("#f-ports-0-number", "70000")
    page.locator("#f-ports-0-number-error").wait_for(state="visible")
    report["a live error"] = violations(page)
    page.fill("#f-ports-0-number", "")
    page.locator("#f-host").fill("nowhere")
    page.locator("#f-host-error").wait_for(state="visible")
    report["a live warning"] = violations(page)
    shot(page, f"catalog-form-{theme}")
    failing = {path: found for path, found in report.items() if found}
    assert not failing, "\n".join(f"{path}:\n  " + "\n  ".join(found) for path, found in failing.items())
    page.set_viewport_size({"width": 375, "height": 812})
    for path in ("/catalog/edit/service?slug=grafana", "/catalog/edit/endpoint?service=grafana"):
        page.goto(live_server(path))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 376, f"{path} is {width}px wide at 375px"
    shot(page, f"catalog-form-{theme}-375")
    console.assert_clean()
