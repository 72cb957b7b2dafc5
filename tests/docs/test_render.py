"""Rendering docs: GitHub-flavoured markdown, Pygments, anchors and TOC, front matter, links between docs."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from calcifer.docs.render import (
    RenderedDoc,
    TocEntry,
    doc_title,
    index_markdown,
    render_inline_markdown,
    render_markdown,
    split_front_matter,
)


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.found if name == tag]

    def hrefs(self) -> list[str | None]:
        return [attrs.get("href") for attrs in self.all("a")]


def render(text: str, path: str = "docs/services/grafana.md") -> RenderedDoc:
    return render_markdown(text, doc_path=path)


# -- GitHub-flavoured markdown ----------------------------------------------------------------------------

def test_tables_render_with_their_column_alignment() -> None:
    doc = render("| Host | Port |\n|:-----|-----:|\n| grafana | 3000 |\n")
    elements = Elements(doc.html)
    assert len(elements.all("table")) == 1
    # as classes, not style="" (which the Content-Security-Policy blocks)
    assert [a.get("class") for a in elements.all("th")] == ["align-left", "align-right"]
    assert "<td class=\"align-right\">3000</td>" in doc.html
    assert "style=" not in doc.html


def test_task_lists_render_disabled_checkboxes() -> None:
    doc = render("- [ ] rotate the keys\n- [x] take a backup\n")
    boxes = Elements(doc.html).all("input")
    assert len(boxes) == 2
    assert all(b.get("type") == "checkbox" and "disabled" in b for b in boxes)
    assert "checked" not in boxes[0] and "checked" in boxes[1]


def test_strikethrough_and_autolinks() -> None:
    doc = render("~~old~~ see https://grafana.com/docs and www.example.org, not config.py or backup.sh\n")
    assert "<s>old</s>" in doc.html
    hrefs = Elements(doc.html).hrefs()
    assert hrefs == ["https://grafana.com/docs", "http://www.example.org"]
    assert "config.py" in doc.html and "backup.sh" in doc.html


def test_fenced_code_is_highlighted_by_pygments_with_classes_not_styles() -> None:
    doc = render("```python\ndef backup():\n    return 42  # answer\n```\n")
    elements = Elements(doc.html)
    assert any(a.get("class") == "highlight" for a in elements.all("div"))
    classes = {a.get("class") for a in elements.all("span")}
    assert {"k", "nf", "mi", "c1"} <= classes
    assert "style=" not in doc.html


def test_code_in_an_unknown_language_or_none_is_plain_and_escaped() -> None:
    doc = render("```nosuchlanguage\n<b>bold?</b>\n```\n\n    indented <i>\n")
    assert "highlight" not in doc.html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in doc.html and "indented &lt;i&gt;" in doc.html
    assert "<b>" not in doc.html


def test_headings_get_prefixed_anchors_and_a_table_of_contents() -> None:
    doc = render("# Grafana\n\n## Setup `docker`\n\n### Ports & TLS\n\n## Setup docker\n\n## Setup docker\n")
    assert doc.toc == [
        TocEntry(level=1, text="Grafana", anchor="doc-grafana"),
        TocEntry(level=2, text="Setup docker", anchor="doc-setup-docker"),
        TocEntry(level=3, text="Ports & TLS", anchor="doc-ports--tls"),
        TocEntry(level=2, text="Setup docker", anchor="doc-setup-docker-1"),
        TocEntry(level=2, text="Setup docker", anchor="doc-setup-docker-2"),
    ]
    ids = [a.get("id") for name, a in Elements(doc.html).found if name in ("h1", "h2", "h3")]
    assert ids == [t.anchor for t in doc.toc]


def test_in_page_links_follow_the_prefixed_anchors() -> None:
    doc = render("## Restore\n\nSee [restore](#restore) and [footnote][^1].\n\n[^1]: A note.\n")
    hrefs = Elements(doc.html).hrefs()
    assert "#doc-restore" in hrefs
    assert "#doc-fn1" in hrefs and "#doc-fnref1" in hrefs
    assert 'id="doc-fn1"' in doc.html


# -- front matter and titles ---------------------------------------------------------------------------------

def test_front_matter_is_parsed_and_not_rendered() -> None:
    doc = render("---\ntitle: Grafana runbook\nowner: ops\nreviewed: 2026-01-31\ntags: [monitoring]\n---\n"
                 "# Heading\n\nBody.\n")
    assert doc.front_matter == {"title": "Grafana runbook", "owner": "ops", "reviewed": "2026-01-31",
                                "tags": ["monitoring"]}
    assert doc.title == "Grafana runbook"
    assert "owner" not in doc.html and "<hr" not in doc.html
    assert "<h1" in doc.html


def test_front_matter_is_plain_json() -> None:
    doc = render("---\nwhen: 2026-01-31 10:00:00\nratio: .nan\nbig: .inf\nnested: {a: [1, .nan]}\n---\n")
    assert doc.front_matter == {"when": "2026-01-31T10:00:00", "ratio": "nan", "big": "inf",
                                "nested": {"a": [1, "nan"]}}
    json.dumps(doc.front_matter, allow_nan=False)


def test_broken_front_matter_is_dropped_not_rendered() -> None:
    front, body = split_front_matter("---\ntitle: [unclosed\n---\n# Real title\n")
    assert front == {} and body == "# Real title\n"
    assert render("---\n- a list\n---\nText\n").front_matter == {}


def test_a_leading_rule_without_a_closing_one_is_markdown() -> None:
    doc = render("---\n\nJust text after a rule.\n")
    assert doc.front_matter == {} and "<hr" in doc.html and "Just text" in doc.html


def test_title_comes_from_front_matter_then_first_heading_then_file_name() -> None:
    assert doc_title("---\ntitle: From front matter\n---\n# Heading\n", doc_path="docs/a.md") == "From front matter"
    assert doc_title("Intro\n\n## First *heading*\n\n# Later\n", doc_path="docs/a.md") == "First heading"
    assert doc_title("no heading at all\n", doc_path="docs/runbooks/backup.md") == "backup.md"
    assert render("plain text").title is None


# -- links and images -------------------------------------------------------------------------------------

def test_relative_links_between_docs_point_at_the_doc_pages() -> None:
    doc = render("[backup](../runbooks/backup.md) [step](../runbooks/backup.md#step-2) [same](loki.md) "
                 "[root](/docs/index.md) [page](/docs/view/docs/other.md)")
    assert Elements(doc.html).hrefs() == [
        "/docs/view/docs/runbooks/backup.md", "/docs/view/docs/runbooks/backup.md#doc-step-2",
        "/docs/view/docs/services/loki.md", "/docs/view/docs/index.md", "/docs/view/docs/other.md"]
    assert doc.links == ["docs/runbooks/backup.md", "docs/services/loki.md", "docs/index.md", "docs/other.md"]


def test_service_links_point_at_the_service_pages() -> None:
    doc = render("[g](service:grafana) [l](../../catalog/services/loki.yaml) [p](/services/prometheus) "
                 "[bad](service:Not_A_Slug)")
    assert Elements(doc.html).hrefs() == ["/services/grafana", "/services/loki", "/services/prometheus", None]
    assert doc.links == ["service:grafana", "service:loki", "service:prometheus"]


def test_images_under_docs_are_served_raw_and_others_dropped() -> None:
    doc = render("![d](diagram.png) ![up](../img/net.svg \"Network\") ![ext](https://example.org/a.png) "
                 "![out](../../../etc/x.png) ![md](other.md)")
    srcs = [a.get("src") for a in Elements(doc.html).all("img")]
    assert srcs == ["/docs/raw/docs/services/diagram.png", "/docs/raw/docs/img/net.svg",
                    "https://example.org/a.png", None, None]
    assert doc.links == []


def test_links_that_leave_the_repository_or_name_other_files_lose_their_href() -> None:
    doc = render("[up](../../../../etc/passwd) [file](../../Makefile) [changes](../../CHANGES.md) "
                 "[folder](../runbooks/)")
    assert Elements(doc.html).hrefs() == [None, None, "/changelog", "/docs?prefix=docs/runbooks"]


def test_raw_html_links_are_rewritten_like_markdown_ones() -> None:
    doc = render('<a href="../runbooks/backup.md">raw</a> <a href="service:loki">svc</a> <img src="x.png" alt="">')
    elements = Elements(doc.html)
    assert elements.hrefs() == ["/docs/view/docs/runbooks/backup.md", "/services/loki"]
    assert elements.all("img")[0]["src"] == "/docs/raw/docs/services/x.png"
    assert doc.links == ["docs/runbooks/backup.md", "service:loki"]


def test_only_links_to_other_hosts_get_rel_noopener() -> None:
    doc = render("[ext](https://grafana.com) [proto](//example.org/x) [int](../a.md) [mail](mailto:ops@example.org)")
    rels = [(a.get("href"), a.get("rel")) for a in Elements(doc.html).all("a")]
    assert rels == [("https://grafana.com", "noopener noreferrer"), ("//example.org/x", "noopener noreferrer"),
                    ("/docs/view/docs/a.md", None), ("mailto:ops@example.org", None)]


def test_urls_are_quoted() -> None:
    doc = render("[sp](<my doc.md>) [q](../a%20b.md)")
    assert Elements(doc.html).hrefs() == ["/docs/view/docs/services/my%20doc.md", "/docs/view/docs/a%20b.md"]
    assert doc.links == ["docs/services/my doc.md", "docs/a b.md"]


def test_inline_markdown_for_changelog_entries_is_sanitised() -> None:
    html = render_inline_markdown("Added `grafana` <script>alert(1)</script>[x](javascript:alert(1)) "
                                  "([#12](/work/12))")
    assert "<code>grafana</code>" in html and "<script" not in html
    assert Elements(html).hrefs() == ["/work/12"]


@pytest.mark.parametrize("text", [
    "# Restart\n\nSee [the runbook](../runbooks/db.md) and ![diagram](img/a.png).",
    "---\ntitle: From front matter\n---\n# Other heading\n\nplain text, https://example.org/x.md, www.example.org",
    "---\ntitle: T\n---\nno link here, only me@example.org",
    "No heading, a <a href='raw.md'>raw link</a> and <IMG src=raw.png>",
    "# <b>Bold</b> heading\n\n[^1]\n\n[^1]: a note with [a link](note.md)",
    "> [!NOTE]\n> see [this](../x.md) and [svc](service://shop)",
    "```\n<a href=code.md>not a link</a>\n```\n\n[ref]: refd.md\n\n[ref]",
    "<div>" * 3000 + "[deep](deep.md)",
    "Setext title\n============\n\ntext",
])
def test_the_index_reads_the_same_title_and_links_as_the_rendered_page(text: str) -> None:
    shown = render_markdown(text, doc_path="docs/ops/page.md")
    indexed = index_markdown(text, doc_path="docs/ops/page.md")
    assert (indexed.title, indexed.links, indexed.front_matter) == (shown.title, shown.links, shown.front_matter)
