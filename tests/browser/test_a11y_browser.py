"""Every main page passes axe-core with no serious or critical violation, in the light and the dark theme.

axe-core is vendored in tests/browser/vendor (test tooling only, never served by the app). The app's CSP
forbids inline and injected scripts, so these tests open their browser context with `bypass_csp=True`
and inject axe by `page.evaluate` of the file's content; the app's own pages are unchanged.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pygit2
import pytest

from calcifer.auth import service as auth_service
from calcifer.auth import sso
from calcifer.auth.choices import ProviderKind, Role
from calcifer.auth.schemas import OidcConfig
from calcifer.monitoring.models import Incident, MonitorState
from tests.browser.conftest import DESKTOP, PHONE, SHOTS_DIR, Console, LiveServer, login
from tests.browser.test_docs_browser import land
from tests.conftest import make_token, make_user
from tests.monitoring.factories import make_monitored, make_service, now
from tests.monitoring.probes.helpers import add_endpoint, add_probe, result

pytestmark = pytest.mark.browser

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
DOC = "docs/runbooks/restart.md"
BLOCKING = ("serious", "critical")


@pytest.fixture
def axe_context(browser: Any, console: Console) -> Iterator[Any]:
    """A desktop context that ignores the app's CSP, only so that axe can be injected into its pages."""
    ctx = browser.new_context(viewport=DESKTOP, color_scheme="light", locale="en-GB", bypass_csp=True)
    ctx.set_default_timeout(10_000)
    ctx.set_default_navigation_timeout(20_000)
    ctx.on("page", console.watch)
    try:
        yield ctx
    finally:
        ctx.close()


def seed(server: LiveServer) -> dict[str, str]:
    """An admin, a service with two endpoints (one down, with an incident), a merged doc, an open item."""
    make_user(server.ctx, "ada", Role.ADMIN)
    with server.ctx.session_factory() as session:
        make_service(session, "shop", name="Web shop")
        make_monitored(session, "shop-web", service="shop", name="Shop front", status="up")
        make_monitored(session, "shop-db", service="shop", name="Shop database", status="down",
                       message="connection refused")
        session.commit()
        state = session.query(MonitorState).filter_by(slug="shop-db").one()
        incident = Incident(endpoint_id=state.id, open_endpoint_id=state.id, endpoint_slug="shop-db",
                            service="shop", status="open", started_at=now() - dt.timedelta(minutes=9),
                            message="shop database unreachable", affected_services=["shop"], related_work=[])
        session.add(incident)
        session.commit()
        incident_id = incident.id
    # an endpoint checked from two locations, one of them a remote probe (Settings → Probes, its location rows)
    add_endpoint(server.ctx, "shop-edge", ["local", "fra-vps"])
    probe_token = add_probe(server.ctx, "fra-1", "fra-vps")
    with httpx.Client(base_url=server.url, timeout=30, headers={"Authorization": f"Probe {probe_token}"}) as probe:
        sent = probe.post("/api/v1/probes/results", json={"results": [result(1, "shop-edge", "down")]})
        assert sent.status_code == 200, sent.text
    before = str(pygit2.Repository(str(server.ctx.repo_path)).references["refs/heads/main"].target)
    with httpx.Client(base_url=server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(server.ctx, 'ada')}"}) as client:
        land(client, {DOC: "# Restart the shop\n\n1. Stop it.\n2. Start it.\n"}, title="Shop runbook",
             entry="Shop restart runbook")
        # A work item left with a conflict by "Update from main" (its conflicts page).
        conflicted = client.post("/api/v1/work-items", json={"title": "Stop the shop gently", "category": "service",
                                                             "action": "change"}).json()["id"]
        assert client.put(f"/api/v1/work-items/{conflicted}/files/{DOC}", json={
            "content": "# Restart the shop\n\n1. Drain it, then stop it.\n2. Start it.\n"}).status_code == 200
        assert client.post(f"/api/v1/work-items/{conflicted}/commits", json={
            "message": "Drain first", "changelog": {"type": "Changed", "text": "Drain first"}}).status_code == 201
        land(client, {DOC: "# Restart the shop\n\n1. Stop it now.\n2. Start it.\n"}, title="Stop at once",
             entry="Stop at once")
        assert client.post(f"/api/v1/work-items/{conflicted}/update-from-main").json()["conflicts"] == [DOC]
        created = client.post("/api/v1/work-items", json={"title": "Move the shop", "category": "service",
                                                          "action": "change"})
        assert created.status_code == 201, created.text
        item_id = created.json()["id"]
        # A remote that cannot be reached: Settings → Repository shows its sync state and the push error.
        assert client.put("/api/v1/repository/remote",
                          json={"url": "file:///nonexistent/calcifer-a11y.git"}).status_code == 200
        hook = client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "secret": "s3cret",
                                                     "events": ["work_item.merged"], "name": "Chat"})
        assert hook.status_code == 201, hook.text
        # Settings → Backups → Targets lists one of each kind (never contacted: nothing listens there).
        for target in ({"name": "Bucket", "kind": "s3", "endpoint_url": "http://127.0.0.1:9", "bucket": "calcifer",
                        "access_key_id": "a", "secret_access_key": "b"},
                       {"name": "NAS", "kind": "sftp", "host": "127.0.0.1", "port": 9, "username": "backup",
                        "folder": "/backups", "password": "p"}):
            assert client.post("/api/v1/backups/targets", json=target).status_code == 201
    # OpenID Connect login on (its provider is never asked here): the login page shows "Sign in with ...".
    with server.ctx.session_factory() as session:
        sso.save_provider(session=session, actor=auth_service.get_user_by_username(session=session, username="ada"),
                          kind=ProviderKind.OIDC, enabled=True, secret="a11y-secret",
                          secret_key=server.settings.secret_key,
                          config=OidcConfig(name="Example ID", issuer="http://127.0.0.1:9", client_id="calcifer"))
    return {"item": str(item_id), "incident": str(incident_id), "before": before, "conflicted": str(conflicted),
            "webhook": str(hook.json()["id"])}


def main_pages(ids: dict[str, str]) -> list[str]:
    return ["/", "/work", f"/work/{ids['item']}", "/services", "/services/shop", "/endpoints",
            "/monitoring/endpoints/shop-db", "/monitoring", "/incidents", f"/incidents/{ids['incident']}",
            "/docs", f"/docs/view/{DOC}", f"/docs/new?item={ids['item']}", "/search?q=shop", "/changelog",
            "/settings", "/settings/users", "/settings/tokens", "/settings/audit", "/settings/preferences",
            "/account", "/account/two-factor",
            "/work/standard", "/settings/repository", "/repository/outside-changes", "/settings/probes",
            "/monitoring/endpoints/shop-edge", "/compare", f"/compare/{ids['before']}...main",
            f"/compare/{ids['before']}...main?view=split", "/settings/webhooks", "/settings/integrations",
            f"/settings/webhooks/{ids['webhook']}", "/settings/sso", f"/work/{ids['conflicted']}",
            f"/work/{ids['conflicted']}/conflicts", f"/docs/diff/{DOC}", f"/docs/diff/{DOC}?view=split",
            "/notifications", "/account/notifications", "/settings/mail", "/settings/backups",
            "/settings/backups/targets"]


def violations(page: Any) -> list[str]:
    """Serious and critical axe violations on the current page, one readable line per offending node."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = []
    for rule in result["violations"]:
        if rule["impact"] not in BLOCKING:
            continue
        for node in rule["nodes"]:
            found.append(f"{rule['id']} ({rule['impact']}): {' '.join(map(str, node['target']))} — "
                         f"{node.get('failureSummary', '').splitlines()[-1].strip()}")
    return found


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_main_page_has_no_serious_or_critical_axe_violation(axe_context: Any, live_server: LiveServer,
                                                                    console: Console, theme: str) -> None:
    ids = seed(live_server)
    # about:blank has no localStorage: set the theme only on the app's own pages
    axe_context.add_init_script(f"if (location.protocol === 'http:') localStorage.setItem('calcifer-theme', '{theme}')")
    page = axe_context.new_page()
    report: dict[str, list[str]] = {}

    page.goto(live_server("/login"))
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    report["/login"] = violations(page)
    login(page, live_server, "ada")
    for path in main_pages(ids):
        response = page.goto(live_server(path))
        assert response is not None and response.status == 200, (path, response and response.status)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        report[path] = violations(page)
    page.keyboard.press("?")
    assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
    report["the ? dialog"] = violations(page)

    failing = {path: found for path, found in report.items() if found}
    assert not failing, "\n".join(f"{path}:\n  " + "\n  ".join(found) for path, found in failing.items())
    console.assert_clean()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_work_page_s_uncommitted_changes_in_the_diff_view_have_no_serious_axe_violation(
        axe_context: Any, live_server: LiveServer, console: Console, theme: str) -> None:
    """The uncommitted changes drawn in the shared diff view (their folds open), unified and side by side;
    screenshots at desktop width and 375 px."""
    make_user(live_server.ctx, "ada", Role.ADMIN)
    path = "catalog/services/web.yaml"
    with httpx.Client(base_url=live_server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(live_server.ctx, 'ada')}"}) as client:
        item = client.post("/api/v1/work-items", json={"title": "Rename the web shop", "category": "service",
                                                       "action": "change"}).json()["id"]
        assert client.put(f"/api/v1/work-items/{item}/files/{path}", json={
            "content": "slug: web\nname: Web shop\ntags: [shop, public]\n"}).status_code in (200, 201)
        assert client.post(f"/api/v1/work-items/{item}/commits", json={
            "message": "Add web", "changelog": {"type": "Added", "text": "Web shop"}}).status_code == 201
        assert client.put(f"/api/v1/work-items/{item}/files/{path}", json={
            "content": "slug: web\nname: Web store\ntags: [shop, public, eu]\n"}).status_code == 200
        assert client.put(f"/api/v1/work-items/{item}/files/{DOC}", json={
            "content": "# Restart the web store\n\n1. Drain it.\n2. Restart it.\n"}).status_code in (200, 201)
    axe_context.add_init_script(f"if (location.protocol === 'http:') localStorage.setItem('calcifer-theme', '{theme}')")
    page = axe_context.new_page()
    login(page, live_server, "ada")
    report: dict[str, list[str]] = {}
    for view in ("unified", "split"):
        page.set_viewport_size(DESKTOP)
        page.goto(live_server(f"/work/{item}?view={view}#changes"))
        folds = page.locator("#changes details.diff-fold > summary")
        assert folds.count() == 2
        for index in range(folds.count()):
            folds.nth(index).click()
        assert page.locator(f"#changes .diff-table.diff-{view}").count() == 2
        report[view] = violations(page)
        SHOTS_DIR.mkdir(parents=True, exist_ok=True)
        page.locator("#changes").screenshot(path=str(SHOTS_DIR / f"git2-work-changes-{view}-{theme}-desktop.png"))
        page.set_viewport_size(PHONE)
        page.locator("#changes").screenshot(path=str(SHOTS_DIR / f"git2-work-changes-{view}-{theme}-375.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    failing = {view: found for view, found in report.items() if found}
    assert not failing, "\n".join(f"{view}:\n  " + "\n  ".join(found) for view, found in failing.items())
    console.assert_clean()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_an_ssh_remote_s_trusted_host_key_on_the_settings_page(
        axe_context: Any, live_server: LiveServer, console: Console, theme: str, tmp_path: Path) -> None:
    """Connecting an SSH remote in the browser shows the fingerprint of the host key trusted, and the way
    to trust another; no serious axe violation, no page-wide scroll at 375 px; screenshots."""
    from tests.remote.servers import bare_remote
    from tests.remote.ssh_server import sshd

    make_user(live_server.ctx, "ada", Role.ADMIN)
    remote = bare_remote(tmp_path / "forge" / "infra.git")
    with httpx.Client(base_url=live_server.url, timeout=30,
                      headers={"Authorization": f"Bearer {make_token(live_server.ctx, 'ada')}"}) as client:
        public_key = client.put("/api/v1/repository/remote", json={
            "url": "ssh://git@127.0.0.1/placeholder.git", "auth": "ssh"}).json()["public_key"]
    with sshd(tmp_path / "sshd", public_key) as base:
        axe_context.add_init_script(
            f"if (location.protocol === 'http:') localStorage.setItem('calcifer-theme', '{theme}')")
        page = axe_context.new_page()
        login(page, live_server, "ada")
        page.goto(live_server("/settings/repository"))
        page.fill("#f-url", f"{base}{remote}")
        with page.expect_navigation():
            page.click("form[action='/settings/repository'] button[type=submit]")
        shown = page.locator("#ssh-host-key").inner_text()
        listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(tmp_path / "sshd" / "host_ed25519.pub")],
                                capture_output=True, text=True, check=True).stdout
        assert shown == listed.split()[1]
        assert page.locator("#f-ssh_host_key").count() == 1 and page.locator("#f-reread_host_key").count() == 1
        found = violations(page)
        SHOTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS_DIR / f"remotes-ssh-host-key-{theme}-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(SHOTS_DIR / f"remotes-ssh-host-key-{theme}-375.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not found, "\n  ".join(found)
    console.assert_clean()
