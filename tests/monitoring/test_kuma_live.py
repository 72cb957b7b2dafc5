"""The live link to Uptime Kuma: an endpoint's page shows its Kuma monitor's status next to Calcifer's.

Kuma itself does not run here: a small HTTP server on 127.0.0.1 answers ``/api/badge/<id>/status`` with
the SVG Kuma's badge route returns (badge-maker's flat badge, "Status: Up"), at that one seam.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.monitoring import kuma_live
from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml
from tests.conftest import browser_login, make_user


def badge(value: str) -> str:
    # The shape of Kuma's /api/badge/:id/status answer (badge-maker, style "flat").
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="72" height="20" role="img" aria-label="Status: {value}">'
            f'<title>Status: {value}</title><g shape-rendering="crispEdges"><rect width="43" height="20" fill="#555"/>'
            f'</g><g fill="#fff"><text x="225" y="140">Status</text><text>{value}</text></g></svg>')


class Kuma(BaseHTTPRequestHandler):
    statuses = {"1": "Up", "2": "Down", "3": "N/A"}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        Kuma.hits.append(self.path)
        parts = self.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["api", "badge"] and parts[3] == "status" and parts[2] in self.statuses:
            body = badge(self.statuses[parts[2]]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "image/svg+xml")
        else:
            body, _ = b"Not Found", self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kuma() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Kuma)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kuma_live._cache.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_kuma_status_is_read_from_its_badge_and_cached(kuma: str) -> None:
    assert kuma_live.status(kuma_live.KumaLink(kuma, 1), now=1000.0) == kuma_live.KumaStatus("up", "Up")
    assert kuma_live.status(kuma_live.KumaLink(kuma, 2), now=1000.0).state == "down"
    assert "public status page" in kuma_live.status(kuma_live.KumaLink(kuma, 3), now=1000.0).text
    assert "HTTP 404" in kuma_live.status(kuma_live.KumaLink(kuma, 9), now=1000.0).text
    asked = len(Kuma.hits)
    kuma_live.status(kuma_live.KumaLink(kuma, 1), now=1010.0)  # within the TTL: not asked again
    assert len(Kuma.hits) == asked
    kuma_live.status(kuma_live.KumaLink(kuma, 1), now=1000.0 + kuma_live.TTL_S + 1)
    assert len(Kuma.hits) == asked + 1


def test_an_unreachable_kuma_is_an_unknown_status_not_an_error() -> None:
    kuma_live._cache.clear()
    found = kuma_live.status(kuma_live.KumaLink("http://127.0.0.1:9", 1), timeout=1.0)
    assert found.state == "unknown" and "could not be reached" in found.text


def test_the_endpoint_page_loads_the_kuma_status_after_itself(ctx: AppContext, app, kuma: str) -> None:  # type: ignore[no-untyped-def]
    commit_files(ctx.repo_path, {
        "catalog/services/web.yaml": service_yaml("web"),
        "catalog/endpoints/web-home.yaml": "name: Home\nslug: web-home\nservice: web\ntype: http\n"
                                           f"target: https://web.example.org\nkuma:\n  monitor: 2\n  url: {kuma}\n",
        "catalog/endpoints/web-old.yaml": "name: Old\nslug: web-old\nservice: web\ntype: http\n"
                                          "target: https://old.example.org\nkuma:\n  monitor: 5\n"})
    from calcifer.catalog import index
    with ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=ctx.repo_path, force=True)
    make_user(ctx, "vera", Role.VIEWER)
    browser = TestClient(app, follow_redirects=False)
    browser_login(browser, "vera")
    Kuma.hits.clear()
    page = browser.get("/monitoring/endpoints/web-home").text
    assert 'hx-get="/monitoring/endpoints/web-home/kuma"' in page and not Kuma.hits  # the page never waits on Kuma
    fragment = browser.get("/monitoring/endpoints/web-home/kuma").text
    assert 'data-status="down"' in fragment and f"{kuma}/dashboard/2" in fragment
    # A monitor imported without Kuma's address (importer's `kuma: {monitor}`) has no live link.
    assert "kuma-status" not in browser.get("/monitoring/endpoints/web-old").text
