"""Search finds hand-written docs first, shows snippets as plain text, and filters by kind in one click."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from tests.conftest import Cast, browser_login
from tests.search.helpers import WORK_LOG, land, search


def test_a_doc_whose_title_matches_ranks_above_changelog_entries_and_work_logs(cast: Cast) -> None:
    # The changelog entry and the work log say "narwhal" more often and in fewer words than the doc.
    land(cast.editor, {"docs/narwhal.md": "# Narwhal pump\n\nThe pump in the cellar; see the wiring doc for the "
                                          "fuses, the valves and the spare parts we keep for it.\n"},
         title="Narwhal narwhal", entry="Narwhal: narwhal narwhal")
    hits = search(cast.viewer, "narwhal")["items"]
    order = [(h["kind"], h["key"]) for h in hits]
    doc = order.index(("doc", "docs/narwhal.md"))
    generated = [i for i, (kind, key) in enumerate(order) if kind == "changelog" or key.startswith(WORK_LOG)]
    assert any(kind == "changelog" for kind, _ in order), order
    assert generated and all(doc < i for i in generated), order


def test_a_hand_written_doc_with_the_word_only_in_its_text_ranks_above_the_changelog(cast: Cast) -> None:
    land(cast.editor, {"docs/cellar.md": "# Cellar\n\nThe ocelot sensor sits by the door.\n"},
         title="Cellar docs", entry="Ocelot ocelot ocelot")
    order = [h["kind"] for h in search(cast.viewer, "ocelot")["items"]]
    assert order.index("doc") < order.index("changelog"), order


def test_snippets_show_the_text_without_markdown_marks(cast: Cast) -> None:
    land(cast.editor, {"docs/quail.md": (
        "# Farm\n\n> [!WARNING]\n> Feed the **quail** before [the geese](geese.md).\n\n"
        "- [x] quail water\n1. quail grit\n\n| pen | quail |\n|---|---|\n| north | six |\n\n***\n\n"
        "The quail log[^1] is at <https://example.com/quail>.\n\n[^1]: paper\n")})
    hit = next(h for h in search(cast.viewer, "quail", kind="doc")["items"] if h["key"] == "docs/quail.md")
    text = html.unescape(re.sub(r"</?mark>", "", hit["snippet"]))
    assert "Feed the quail before the geese." in text
    assert "quail water" in text and "quail grit" in text and "https://example.com/quail" in text
    for mark in ("[!", "**", "](", "|", "> ", "- [", "1. ", "***", "[^1]", "<http"):
        assert mark not in text, (mark, text)


def test_the_search_page_filters_by_kind_with_one_click(cast: Cast, client: TestClient) -> None:
    land(cast.editor, {"docs/heron.md": "# Heron backups\n\nThe heron job runs nightly.\n"},
         title="Heron job", entry="Added the heron job")
    browser_login(client, "vera")
    page = client.get("/search", params={"q": "heron"}).text
    chips = page.split('id="search-kinds"', 1)[1].split("</nav>", 1)[0]
    assert re.search(r'<a class="chip" href="/search\?q=heron" aria-current="page">Everything '
                     r'<span class="chip-count">\d+</span></a>', chips)
    assert re.search(r'<a class="chip" href="/search\?q=heron&amp;kind=doc">Docs <span class="chip-count">\d+</span>',
                     chips)
    assert 'kind=changelog">Changelog' in chips
    only_docs = client.get("/search", params={"q": "heron", "kind": "doc"}).text
    chips = only_docs.split('id="search-kinds"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/search?q=heron&amp;kind=doc" aria-current="page">Docs' in chips
