"""Reading docs in Chromium: a doc full of hostile payloads runs nothing; a real doc reads well on a phone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from calcifer.auth.choices import Role
from tests.browser.conftest import PHONE, Console, LiveServer, login, shot
from tests.conftest import make_token, make_user
from tests.docs.test_xss import PAYLOADS

pytestmark = pytest.mark.browser

EVIL_ENTRY = '<img src=x onerror="window.__xss=1"> evil doc [x](javascript:window.__xss=1)'
ARCH_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="240" height="80" viewBox="0 0 240 80">'
            '<rect width="240" height="80" rx="8" fill="#ea580c"/>'
            '<text x="120" y="48" font-size="20" text-anchor="middle" fill="#fff">grafana → loki</text>'
            '<script>window.__xss=1</script></svg>')
GRAFANA_DOC = """---
title: Grafana
owner: ops
---
# Grafana

Grafana shows the dashboards of the homelab. It reads from [Loki](service:loki) and Prometheus;
backups follow the [backup runbook](../runbooks/backup.md).

![Architecture](../img/arch.svg)

## Install

1. Create the volume.
2. Start the container:

```yaml
services:
  grafana:
    image: grafana/grafana:11.2.0
    ports: ["3000:3000"]
```

## Upgrade checklist

- [x] Read the release notes
- [ ] Take a backup
- [ ] Bump the image tag

| Setting | Value | Why |
|:--------|------:|-----|
| retention | 30 d | disk budget |
| admin user | ~~admin~~ ops | no default names |

### Rollback

Revert the merge commit and restart: see https://grafana.com/docs/grafana/latest/ for details.
"""


def api(server: LiveServer, username: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {make_token(server.ctx, username)}"},
                        timeout=30)


def land(client: httpx.Client, files: dict[str, str], *, title: str, entry: str) -> dict[str, Any]:
    """A work item that writes `files`, commits them with a changelog entry, is documented and merged."""
    response = client.post("/api/v1/work-items", json={"title": title, "category": "service", "action": "new"})
    assert response.status_code == 201, response.text
    item = response.json()
    for path, content in files.items():
        written = client.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": content})
        assert written.status_code in (200, 201), written.text
    committed = client.post(f"/api/v1/work-items/{item['id']}/commits",
                            json={"message": title, "changelog": {"type": "Added", "text": entry}})
    assert committed.status_code == 201, committed.text
    for index in range(len(item["checklist"])):
        assert client.put(f"/api/v1/work-items/{item['id']}/checklist/{index}", json={"done": True}).status_code == 200
    assert client.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "Done; revert to roll back."}
                        ).status_code == 200
    merged = client.post(f"/api/v1/work-items/{item['id']}/merge")
    assert merged.status_code == 200, merged.text
    return dict(merged.json())


XSS_STATE = """() => ({
  xss: typeof window.__xss,
  dangerous: document.querySelectorAll('#doc-body :is(script, iframe, object, embed, style, form, button, svg, '
                                       + 'math, base, meta, link, frame, video)').length,
  handlers: [...document.querySelectorAll('#main *')].filter(el => [...el.attributes].some(
      a => a.name.toLowerCase().startsWith('on'))).length,
  badUrls: [...document.querySelectorAll('#main [href], #main [src]')].map(
      el => (el.getAttribute('href') || el.getAttribute('src') || '').replace(/[\\x00-\\x20]/g, '').toLowerCase())
      .filter(u => /^(javascript|vbscript|data):/.test(u)).length,
})"""


def test_a_doc_full_of_payloads_runs_no_code(page: Any, live_server: LiveServer, console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    evil = ("---\ntitle: <img src=x onerror=window.__xss=1>\n---\n# <script>window.__xss=1</script> Evil\n\n"
            + "\n\n".join(PAYLOADS) + "\n")
    with api(live_server, "eddie") as client:
        land(client, {"docs/evil.md": evil, "docs/linker.md": "# Linker\n\n[evil](evil.md)\n"},
             title="Evil doc", entry=EVIL_ENTRY)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    console.expect(r"Failed to load resource")  # the payloads' <img>s point at images that do not exist

    login(page, live_server, "eddie")
    for path in ("/docs/view/docs/evil.md", "/docs/history/docs/evil.md", "/docs", "/changelog", "/",
                 "/docs/view/docs/linker.md"):
        page.goto(live_server(path))
        page.wait_for_load_state("load")
        # Give event handlers (onload, onerror, onfocus, ontoggle, animations) their chance to run.
        page.mouse.move(200, 300)
        page.keyboard.press("Tab")
        page.wait_for_timeout(300)
        state = page.evaluate(XSS_STATE)
        assert state == {"xss": "undefined", "dangerous": 0, "handlers": 0, "badUrls": 0}, (path, state)
    page.goto(live_server("/docs/view/docs/evil.md"))
    for link in page.locator("#doc-body a").all()[:40]:
        if link.is_visible():
            link.click(modifiers=["Control"], no_wait_after=True)  # a new tab if anything, never a script
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert dialogs == []
    assert page.locator("#doc-title").inner_text() == "<img src=x onerror=window.__xss=1>"
    assert page.locator("#doc-body").inner_text().count("window.__xss") > 5  # shown as text, inert
    shot(page, "docs-evil")


def test_a_doc_reads_well_on_a_phone_in_both_themes(new_context: Any, live_server: LiveServer,
                                                    console: Console) -> None:
    make_user(live_server.ctx, "eddie", Role.EDITOR)
    make_user(live_server.ctx, "vera", Role.VIEWER)
    with api(live_server, "eddie") as client:
        land(client, {"docs/services/grafana.md": GRAFANA_DOC, "docs/img/arch.svg": ARCH_SVG,
                      "docs/runbooks/backup.md": "# Backup runbook\n\nBack up [Grafana](../services/grafana.md).\n"},
             title="Document Grafana", entry="Grafana runbook and architecture")
    context = new_context(PHONE)
    page = context.new_page()
    login(page, live_server, "eddie")
    page.goto(live_server("/docs/view/docs/services/grafana.md"))
    assert page.locator("h1#doc-title").inner_text() == "Grafana"
    assert page.locator("#toc a").all_inner_texts() == ["Install", "Upgrade checklist", "Rollback"]
    assert page.locator("#doc-body .highlight span.nt").count() > 0
    assert page.locator("#doc-body input[type=checkbox][disabled]").count() == 3
    image = page.locator("#doc-body img[alt=Architecture]")
    assert image.get_attribute("src") == "/docs/raw/docs/img/arch.svg"
    page.wait_for_function("() => document.querySelector('#doc-body img').complete")
    assert page.evaluate("document.querySelector('#doc-body img').naturalWidth") == 240
    assert page.locator("#backlinks a", has_text="Backup runbook").count() == 1
    assert page.locator(".page-header .actions a", has_text="Edit").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    shot(page, "docs-view-phone-light")
    page.emulate_media(color_scheme="dark")
    shot(page, "docs-view-phone-dark")
    page.emulate_media(color_scheme="light")

    page.locator("#toc a", has_text="Rollback").click()
    assert page.evaluate("location.hash") == "#doc-rollback"
    with page.expect_navigation():
        page.locator("#doc-body a", has_text="backup runbook").click()
    assert page.url == live_server("/docs/view/docs/runbooks/backup.md")
    with page.expect_navigation():
        page.locator(".page-header .actions a", has_text="History").click()
    assert page.locator("#history-table tbody tr").count() == 1
    shot(page, "docs-history-phone")

    page.goto(live_server("/docs"))
    with page.expect_navigation():
        page.locator("#docs-tree a", has_text="services/").click()
    assert page.locator("#docs-tree").get_by_role("link", name="Grafana", exact=True).count() == 1
    page.goto(live_server("/docs"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "docs-tree-phone")

    page.goto(live_server("/changelog?type=Added"))
    assert page.locator("#changelog-entries li", has_text="Grafana runbook and architecture").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "docs-changelog-phone")

    viewer = new_context(PHONE).new_page()
    login(viewer, live_server, "vera")
    viewer.goto(live_server("/docs/view/docs/services/grafana.md"))
    assert viewer.locator(".page-header .actions a", has_text="Edit").count() == 0
    console.assert_clean()
