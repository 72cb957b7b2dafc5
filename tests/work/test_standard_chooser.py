"""A standard change starts from the work list and the dashboard: a chooser (/work/standard) leads to the
catalog's and the docs' own forms with "apply now (standard change)" already chosen."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from calcifer.catalog import index
from calcifer.web.context import AppContext
from tests.catalog import commit_files
from tests.conftest import Cast

STANDARD_BUTTON = 'href="/work/standard"'


def selected_target(page: str) -> str:
    """The value of the selected option of the form's "where the change goes" select."""
    select = page.split('name="target"')[1].split("</select>")[0]
    chosen = re.findall(r'<option value="([^"]+)"\s*selected', select)
    return chosen[0] if chosen else "new"


def switch_standard_changes(cast: Cast, on: bool) -> None:
    response = cast.admin.put("/api/v1/preferences/standard_changes_enabled", json={"value": on})
    assert response.status_code == 200, response.text


def test_editors_see_the_standard_change_button_on_the_work_list_and_dashboard(cast: Cast) -> None:
    for path in ("/work", "/"):
        assert STANDARD_BUTTON in cast.editor.get(path).text, path
        assert STANDARD_BUTTON not in cast.viewer.get(path).text, path
    switch_standard_changes(cast, False)
    for path in ("/work", "/"):
        assert STANDARD_BUTTON not in cast.editor.get(path).text, path


def test_the_chooser_leads_to_the_forms_with_the_standard_change_chosen(cast: Cast) -> None:
    page = cast.editor.get("/work/standard")
    assert page.status_code == 200
    links = re.findall(r'href="(/(?:catalog|docs)/[^"]+)"', page.text)
    assert links == ["/catalog/edit/service?target=standard", "/catalog/edit/endpoint?target=standard",
                     "/docs/new?target=standard"]
    for kind in ("service", "endpoint"):
        form = cast.editor.get(f"/catalog/edit/{kind}?target=standard")
        assert form.status_code == 200 and selected_target(form.text) == "standard", kind
        assert selected_target(cast.editor.get(f"/catalog/edit/{kind}").text) == "new"
    # The docs' chooser carries the choice through to its editor.
    chooser = cast.editor.get("/docs/new?target=standard").text
    assert '<input type="hidden" name="target" value="standard">' in chooser
    editor = cast.editor.get("/docs/new", params={"path": "docs/runbooks/db.md", "target": "standard"})
    assert editor.status_code == 200 and selected_target(editor.text) == "standard"
    assert selected_target(cast.editor.get("/docs/new", params={"path": "docs/runbooks/db.md"}).text) == "new"


def test_editing_a_service_or_endpoint_opens_its_form_set_to_a_standard_change(ctx: AppContext, cast: Cast) -> None:
    commit_files(ctx.repo_path, {
        "catalog/services/grafana.yaml": "name: Grafana\nslug: grafana\nkind: container\n",
        "catalog/endpoints/grafana-web.yaml": "name: Web\nslug: grafana-web\nservice: grafana\ntype: http\n"
                                              "target: https://grafana.example.org\n",
    })
    with ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=ctx.repo_path)
    page = cast.editor.get("/work/standard").text
    assert '<option value="grafana">Grafana</option>' in page
    assert '<option value="grafana-web">Web</option>' in page
    for kind, slug in (("service", "grafana"), ("endpoint", "grafana-web")):
        response = cast.editor.get("/work/standard", params={kind: slug})
        assert response.status_code == 303, response.text
        where = urlsplit(response.headers["location"])
        assert where.path == f"/catalog/edit/{kind}"
        assert parse_qs(where.query) == {"slug": [slug], "target": ["standard"]}
        form = cast.editor.get(response.headers["location"])
        assert selected_target(form.text) == "standard" and f'value="{slug}"' in form.text


def test_an_unknown_slug_is_named_and_the_chooser_shown_again(cast: Cast) -> None:
    response = cast.editor.get("/work/standard", params={"service": "nope"})
    assert response.status_code == 404
    assert "No service &#39;nope&#39; in the catalog. Pick one from the list." in response.text
    assert 'id="standard-edit-service"' in response.text


def test_the_chooser_is_for_editors_and_says_when_standard_changes_are_off(cast: Cast) -> None:
    assert cast.viewer.get("/work/standard").status_code == 403
    assert cast.outsider.get("/work/standard").status_code == 303  # to the login page
    switch_standard_changes(cast, False)
    page = cast.editor.get("/work/standard")
    assert page.status_code == 200
    assert 'id="standard-off"' in page.text and "/catalog/edit/service?target=standard" not in page.text
