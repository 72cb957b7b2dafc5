"""Grafana links on service and endpoint pages: validated by the schema, embedded as d-solo frames with a
Content-Security-Policy whose frame-src is exactly the configured Grafana origins, and shown as links."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from calcifer.app import create_app, prepare
from calcifer.auth.choices import Role
from calcifer.catalog.schemas import EndpointSpec, ServiceSpec
from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml
from tests.conftest import browser_login, drop_schema, make_settings, make_user

GRAFANA = "https://grafana.example.org"
LINKS = f"""links:
  - label: Hosts
    kind: grafana
    url: {GRAFANA}/d/abc123/hosts?orgId=1
    panels: [2, 7]
    variables: {{host: git}}
  - label: Elsewhere
    kind: grafana
    url: https://other.example.net/d/zz/other
    panels: [1]
  - label: Runbook
    url: https://wiki.example.org/git
"""


@pytest.fixture
def grafana_ctx(tmp_path: Path) -> Iterator[AppContext]:
    settings = make_settings(tmp_path / "data", grafana_origins=[GRAFANA, "https://grafana2.example.org/"])
    context = prepare(settings)
    yield context
    context.engine.dispose()
    drop_schema(settings)


def test_the_schema_takes_grafana_links_and_says_what_is_wrong() -> None:
    spec = ServiceSpec.model_validate({"name": "Git", "slug": "git", "kind": "container", "links": [
        {"label": "Hosts", "kind": "grafana", "url": f"{GRAFANA}/d/abc/hosts", "panels": [2],
         "variables": {"h": "x"}}]})
    assert spec.links[0].panels == [2]
    with pytest.raises(ValidationError, match="dashboard URL"):
        ServiceSpec.model_validate({"name": "Git", "slug": "git", "kind": "container",
                                    "links": [{"label": "G", "kind": "grafana", "url": GRAFANA}]})
    with pytest.raises(ValidationError, match="add kind: grafana"):
        EndpointSpec.model_validate({"name": "W", "slug": "w", "type": "http", "target": "https://x.example.org",
                                     "links": [{"label": "G", "url": f"{GRAFANA}/d/a/b", "panels": [1]}]})
    with pytest.raises(ValidationError):
        ServiceSpec.model_validate({"name": "Git", "slug": "git", "kind": "container",
                                    "links": [{"label": "G", "kind": "prometheus", "url": f"{GRAFANA}/d/a"}]})


def test_service_and_endpoint_pages_embed_allowed_panels_with_a_matching_policy(grafana_ctx: AppContext) -> None:
    commit_files(grafana_ctx.repo_path, {
        "catalog/services/git.yaml": service_yaml("git") + LINKS,
        "catalog/endpoints/git-web.yaml": "name: Web\nslug: git-web\nservice: git\ntype: http\n"
                                          "target: https://git.example.org\n" + LINKS,
        "catalog/services/plain.yaml": service_yaml("plain")})
    app = create_app(ctx=grafana_ctx)
    make_user(grafana_ctx, "vera", Role.VIEWER)
    browser = TestClient(app, follow_redirects=False)
    browser_login(browser, "vera")
    from calcifer.catalog import index
    with grafana_ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=grafana_ctx.repo_path, force=True)

    for path in ("/services/git", "/monitoring/endpoints/git-web"):
        page = browser.get(path)
        assert page.status_code == 200, page.text
        policy = page.headers["content-security-policy"]
        assert policy.endswith("; frame-src https://grafana.example.org https://grafana2.example.org"), policy
        assert "default-src 'self'" in policy
        html = page.text
        assert (f'src="{GRAFANA}/d-solo/abc123/hosts?orgId=1&amp;panelId=2&amp;var-host=git"') in html
        assert "panelId=7" in html
        assert "other.example.net/d-solo" not in html  # not an allowed origin: a link only
        assert 'href="https://other.example.net/d/zz/other"' in html
        assert "not one of the origins this instance allows" in html
    plain = browser.get("/services/plain")
    assert "frame-src" not in plain.headers["content-security-policy"]
