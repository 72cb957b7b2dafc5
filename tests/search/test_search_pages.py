"""The search page, its as-you-type results and the header's instant results, over HTTP."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import Cast, browser_login, make_user
from tests.search.helpers import land


def _viewer(client: TestClient) -> TestClient:
    browser_login(client, "vera")  # the cast's viewer
    return client


def test_the_page_lists_ranked_results_with_marks_and_a_kind_filter(cast: Cast, client: TestClient,
                                                                    ctx: AppContext) -> None:
    land(cast.editor, {"docs/heron.md": "# Heron backups\n\nThe heron job runs nightly.\n"},
         title="Heron job", entry="Added the heron job")
    page = _viewer(client).get("/search", params={"q": "heron"})
    assert page.status_code == 200
    html = page.text
    assert 'id="search-q"' in html and 'hx-get="/search/results"' in html and 'hx-target="#search-results"' in html
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert '<a class="search-hit-title" href="/docs/view/docs/heron.md"><mark>Heron</mark> backups</a>' in html
    assert "The <mark>heron</mark> job runs nightly." in html
    assert re.search(r"\d+ results?", html)
    assert '<option value="doc">Docs</option>' in html
    only_docs = client.get("/search", params={"q": "heron", "kind": "doc"}).text
    assert '<option value="doc" selected>Docs</option>' in only_docs
    assert 'href="/work/' not in only_docs.split('id="search-results"')[1]


def test_results_fragment_follows_typing_and_keeps_the_address(client: TestClient, ctx: AppContext,
                                                              cast: Cast) -> None:
    land(cast.editor, {"docs/lynx.md": "# Lynx\n\nfirewall rules\n"})
    viewer = _viewer(client)
    response = viewer.get("/search/results", params={"q": "lynx", "kind": "doc"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and "<mark>Lynx</mark>" in response.text
    assert response.headers["HX-Replace-Url"] == "/search?q=lynx&kind=doc"
    empty = viewer.get("/search/results", params={"q": ""})
    assert "results appear as you type" in empty.text and empty.headers["HX-Replace-Url"] == "/search"
    none = viewer.get("/search/results", params={"q": "nothingmatchesthis"})
    assert "Nothing matches" in none.text


def test_header_instant_results_are_a_small_dropdown(client: TestClient, ctx: AppContext, cast: Cast) -> None:
    land(cast.editor, {"docs/otter.md": "# Otter storage\n\nZFS pools.\n"})
    viewer = _viewer(client)
    dashboard = viewer.get("/").text
    assert 'id="global-search"' in dashboard and 'hx-get="/search/instant"' in dashboard
    assert 'id="global-search-results"' in dashboard
    dropdown = viewer.get("/search/instant", params={"q": "otte"}).text
    assert '<details class="dropdown search-instant" open' in dropdown
    assert 'href="/docs/view/docs/otter.md"><mark>Otter</mark> storage</a>' in dropdown
    assert 'href="/search?q=otte"' in dropdown
    assert viewer.get("/search/instant", params={"q": ""}).text.strip() == ""
    # on the search page itself the page's own box does the live search
    assert 'hx-get="/search/instant"' not in viewer.get("/search").text


def test_more_results_come_on_further_pages(client: TestClient, ctx: AppContext, cast: Cast) -> None:
    land(cast.editor, {f"docs/many-{n:02d}.md": f"# Many {n}\n\nmarten\n" for n in range(25)})
    viewer = _viewer(client)
    first = viewer.get("/search", params={"q": "marten", "kind": "doc"}).text
    assert first.count('class="search-hit"') == 20
    match = re.search(r'href="(/search\?[^"]*cursor=20[^"]*)"', first)
    assert match, "no link to the next page"
    second = viewer.get(match.group(1).replace("&amp;", "&")).text
    assert second.count('class="search-hit"') >= 5 and 'rel="prev"' in second


def test_search_pages_need_a_login(client: TestClient, ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    for path in ("/search?q=x", "/search/results?q=x", "/search/instant?q=x"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
