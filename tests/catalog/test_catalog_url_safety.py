"""Stored link XSS (security issue, finding 2): an editor's ``javascript://`` link in a service file must
never become a link an admin can click. The API refuses it, naming the field; one already in the index
(written before the check existed) is shown as text on the service page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from calcifer.catalog.models import CatalogService
from calcifer.web.context import AppContext
from tests.catalog.helpers import error_of, make_work_item, service_spec
from tests.conftest import Cast

# What the finding's editor used: a URL that starts with a "scheme://host" but runs script when clicked.
PAYLOAD = "javascript://host/%0Afetch('/settings/users',{method:'POST'})"


def put_service(cast: Cast, spec: dict[str, Any]) -> Any:
    item = make_work_item(cast.editor, title="Add grafana")
    return cast.editor.put(f"/api/v1/work-items/{item['id']}/services/{spec['slug']}", json=spec)


def put_endpoint(cast: Cast, spec: dict[str, Any]) -> Any:
    item = make_work_item(cast.editor, title="Watch grafana")
    return cast.editor.put(f"/api/v1/work-items/{item['id']}/endpoints/{spec['slug']}", json=spec)


def paths_of(error: dict[str, Any]) -> list[str]:
    return sorted(d["path"] for d in error["details"])


def test_an_editors_javascript_link_is_refused_with_a_422_naming_the_field(cast: Cast) -> None:
    spec = service_spec("grafana", links=[{"label": "Dashboards", "url": PAYLOAD}])
    error = error_of(put_service(cast, spec), 422)
    assert paths_of(error) == ["links.0.url"], error
    message = next(d["message"] for d in error["details"] if d["path"] == "links.0.url")
    assert "http:// or https://" in message and "javascript" in message


@pytest.mark.parametrize("url", [PAYLOAD, "data://text/html,<script>alert(1)</script>", "vbscript://x/msgbox(1)",
                                 "ftp://files.lan/", "https://"])
def test_every_service_url_field_refuses_what_is_not_a_web_url(cast: Cast, url: str) -> None:
    spec = service_spec("grafana", urls=["https://grafana.example.org", url],
                        links=[{"label": "Ok", "url": "https://wiki.lan/grafana"}, {"label": "Bad", "url": url}])
    error = error_of(put_service(cast, spec), 422)
    assert paths_of(error) == ["links.1.url", "urls.1"], error


@pytest.mark.parametrize("target", [PAYLOAD, "http:///health", "https://:443/"])
def test_an_http_endpoints_target_must_be_a_web_url_with_a_host(cast: Cast, target: str) -> None:
    spec = {"name": "Grafana web", "slug": "grafana-web", "type": "http", "target": target}
    error = error_of(put_endpoint(cast, spec), 422)
    assert paths_of(error) == ["target"], error


def test_web_urls_are_still_accepted(cast: Cast) -> None:
    spec = service_spec("grafana", urls=["https://grafana.example.org", "http://10.0.0.5:3000/d/x?orgId=1"],
                        links=[{"label": "Runbook", "url": "https://wiki.lan/runbooks/grafana#restart"}])
    response = put_service(cast, spec)
    assert response.status_code == 201, response.text


def test_the_published_schema_allows_only_web_urls(cast: Cast) -> None:
    schema = cast.outsider.get("/api/v1/schema/service").json()
    pattern = re.compile(schema["properties"]["urls"]["items"]["pattern"])
    assert pattern.search("https://grafana.example.org/d/x?orgId=1")
    assert not pattern.search(PAYLOAD)
    assert not pattern.search("data://text/html,x")


def test_a_javascript_link_already_in_the_index_renders_as_plain_text(ctx: AppContext, cast: Cast) -> None:
    # As if indexed before URLs were checked: the row holds what the file said.
    with ctx.session_factory() as session:
        session.add(CatalogService(
            slug="grafana", name="Grafana", kind="container", host=None, status="active", description="",
            owner=None, tags=[], depends_on=[], file="catalog/services/grafana.yaml", line=1, blob_id="0" * 40,
            commit_id="0" * 40,
            spec={"name": "Grafana", "slug": "grafana", "kind": "container",
                  "urls": [PAYLOAD, "https://grafana.example.org"],
                  "links": [{"label": "Admin tools", "url": PAYLOAD},
                            {"label": "Runbook", "url": "https://wiki.lan/grafana"}]}))
        session.commit()
    page = cast.admin.get("/services/grafana")
    assert page.status_code == 200, page.text
    html = page.text
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert not [h for h in hrefs if "javascript" in h.lower()], hrefs
    assert "https://grafana.example.org" in hrefs and "https://wiki.lan/grafana" in hrefs
    # the unsafe ones are still shown, as text a person can read and report
    assert "Admin tools" in html and "javascript://host/%0Afetch(" in html
