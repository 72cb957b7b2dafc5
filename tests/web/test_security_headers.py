"""Security headers (security issue, finding 2): every page carries a strict Content-Security-Policy,
nosniff and a Referrer-Policy, and no template needs the policy relaxed (no inline script, event handler
or style; every variable URL in href/src/action checked)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from calcifer.web.templating import PACKAGE_DIR
from tests.conftest import browser_login, make_user

PAGES = ("/", "/work", "/services", "/endpoints", "/monitoring", "/incidents", "/docs", "/docs/new", "/settings",
         "/settings/users", "/search?q=grafana", "/catalog/graph", "/api/docs", "/no/such/page")


def policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_strict(headers: object, where: str) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    rules = policy(csp)
    assert rules["script-src"] == ["'self'"], (where, csp)
    assert rules["style-src"] == ["'self'"], (where, csp)
    assert rules["object-src"] == ["'none'"] and rules["base-uri"] == ["'none'"], (where, csp)
    assert rules["frame-ancestors"] == ["'none'"] and rules["form-action"] == ["'self'"], (where, csp)
    assert rules["default-src"] == ["'self'"], (where, csp)
    assert "unsafe" not in csp and "*" not in csp, (where, csp)
    assert headers["x-content-type-options"] == "nosniff", where  # type: ignore[index]
    assert headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin"), where  # type: ignore[index]


def test_every_page_sends_a_strict_content_security_policy(client: TestClient, ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    login = client.get("/login")
    assert_strict(login.headers, "/login")
    browser_login(client, "alice")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), path
        assert_strict(response.headers, path)
        # nothing on the page needs more than the policy allows
        html = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"<[^>]+\s(on[a-z]+|hx-on[:-][\w:-]*|style)\s*=", html), path
        assert "<style" not in html, path
    for path in ("/api/v1/services", "/static/app.js", "/healthz"):
        assert_strict(client.get(path).headers, path)


def test_an_error_page_sends_the_policy_too(app, ctx: AppContext) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)

    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("internals")

    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    browser_login(client, "alice")
    response = client.get("/boom-for-test")
    assert response.status_code == 500
    assert_strict(response.headers, "500")


TEMPLATES = sorted(PACKAGE_DIR.glob("*/templates/**/*.html"))
STATIC_JS = sorted((PACKAGE_DIR / "web" / "static").glob("*.js"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(PACKAGE_DIR)))
def test_no_template_writes_inline_script_style_or_an_unchecked_url(template: Path) -> None:
    text = re.sub(r"\{#.*?#\}", "", template.read_text(encoding="utf-8"), flags=re.S)  # comments may say <style>
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>: move it to static/*.js"
    assert not re.search(r"\s(on[a-z]+|hx-on[:-][\w:-]*)\s*=", text), "inline event handler: use app.js"
    assert not re.search(r"\sstyle\s*=|<style", text), "inline style: use a stylesheet or data-* and app.js"
    for attribute in re.findall(r'\s(?:href|src|action|formaction)="(\{\{[^"]*)"', text):
        assert "static_url(" in attribute or "| safe_url" in attribute, (
            f"{attribute!r}: write variable URLs through the safe_url filter or m.link")


@pytest.mark.parametrize("script", STATIC_JS, ids=lambda p: p.name)
def test_no_script_of_ours_evaluates_strings(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*[\"']", text), script.name
