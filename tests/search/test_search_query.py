"""The search box's text → engine queries, and highlighting: pure functions, checked without a server."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calcifer.errors import Invalid
from calcifer.search import query as q
from calcifer.search.plaintext import doc_title, plain_text


def test_words_are_anded_quotes_make_phrases_and_the_last_word_is_a_prefix() -> None:
    parsed = q.parse('Grafana "primary database" dash')
    assert parsed.groups == (("grafana",), ("primary", "database"), ("dash",)) and parsed.prefix
    assert parsed.fts5() == '"grafana" "primary database" "dash"*'
    assert parsed.tsquery() == "'grafana' & ('primary' <-> 'database') & 'dash':*"


def test_a_trailing_space_a_quote_or_a_one_letter_word_is_not_a_prefix() -> None:
    assert not q.parse("grafana ").prefix
    assert not q.parse('"grafana"').prefix
    assert not q.parse("grafana d").prefix


def test_punctuation_splits_words_and_a_dotted_name_is_a_phrase() -> None:
    assert q.parse("vault.lab.example").groups == (("vault", "lab", "example"),)
    assert q.parse("foo_bar-baz").groups == (("foo", "bar", "baz"),)
    assert q.parse("C++ & C#").groups == (("c",),)


def test_engine_syntax_is_only_words() -> None:
    parsed = q.parse('foo" OR bar* NEAR( \x00 title:x')
    assert parsed.fts5() == '"foo" "or bar near title x"'
    assert q.parse('*:^-()"" ').empty
    assert q.parse("\x00").empty


def test_repeated_words_are_searched_once() -> None:
    assert q.parse("dns dns DNS").groups == (("dns",),)


def test_too_long_or_too_many_words_is_invalid() -> None:
    with pytest.raises(Invalid, match="at most 500"):
        q.parse("x" * 501)
    with pytest.raises(Invalid, match="at most 32 are allowed"):
        q.parse(" ".join(f"w{n}" for n in range(33)))


def test_snippet_escapes_first_then_marks_and_cuts_at_words() -> None:
    text = ("Intro words. " * 40) + "Then <b>Grafana</b> & friends restart grafana-agent. " + ("Tail. " * 40)
    snippet = str(q.snippet(text, q.parse("grafana"), width=120))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "&lt;b&gt;<mark>Grafana</mark>&lt;/b&gt; &amp; friends" in snippet
    assert "<mark>grafana</mark>-agent" in snippet
    assert len(re.sub(r"</?mark>|&\w+;", "x", snippet)) < 200


def test_snippet_prefers_the_place_with_the_most_distinct_words() -> None:
    text = "backup " + ("filler " * 100) + "backup restore drill " + ("filler " * 100)
    snippet = str(q.snippet(text, q.parse("backup restore"), width=80))
    assert "<mark>backup</mark> <mark>restore</mark>" in snippet


def test_snippet_without_a_match_is_the_start_and_highlight_marks_whole_words() -> None:
    assert str(q.snippet("Short body.\n\nSecond line.", q.parse("zzz"))) == "Short body. Second line."
    assert str(q.highlight("Dashboards for dash", q.parse("dash "))) == "Dashboards for <mark>dash</mark>"
    assert str(q.highlight("Dashboards for dash", q.parse("dash"))) == "<mark>Dashboards</mark> for <mark>dash</mark>"


@given(st.text(max_size=300), st.text(max_size=40))
def test_snippets_never_carry_a_tag_but_mark(text: str, words: str) -> None:
    try:
        parsed = q.parse(words)
    except Invalid:
        return
    for html in (str(q.snippet(text, parsed)), str(q.highlight(text, parsed))):
        assert not re.search(r"<(?!/?mark>)", html)


@given(st.text(max_size=120))
def test_every_parsed_query_is_valid_fts5(text: str) -> None:
    try:
        parsed = q.parse(text)
    except Invalid:
        return
    if parsed.empty:
        return
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='unicode61 remove_diacritics 0')")
    connection.execute("INSERT INTO t VALUES ('a b', 'c d')")
    connection.execute("SELECT rowid FROM t WHERE t MATCH ?", (parsed.fts5(),)).fetchall()


def test_doc_title_from_front_matter_then_heading_then_file_name() -> None:
    assert doc_title("---\ntitle: 'Backups'\n---\n# Other\n", doc_path="docs/x.md") == "Backups"
    assert doc_title("```\n# not a heading\n```\n\n## Restore drill ##\n", doc_path="docs/x.md") == "Restore drill"
    assert doc_title("Setext title\n===\n\ntext", doc_path="docs/x.md") == "Setext title"
    assert doc_title("# A *b* [c](d) `e`\n", doc_path="docs/x.md") == "A b c e"
    assert doc_title("no heading here", doc_path="docs/runbooks/disk-full_alerts.md") == "disk-full_alerts.md"


def test_plain_text_drops_markup_but_keeps_html_as_text() -> None:
    text = plain_text("---\ntitle: T\n---\n# Head\n\nSee **the** [guide](https://x.example/g) and `cmd`.\n"
                      "![diagram](d.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<b>kept</b>\n")
    assert "title: T" not in text and "Head" in text and "See the guide and cmd." in text
    assert "https://x.example" not in text and "diagram" in text and "|---|" not in text
    assert "<b>kept</b>" in text


TITLE_CASES = ["# A *b* [c](d) `e`\n", "no heading", "Setext\n===\n", "Setext2\n---\n", "---\ntitle: X\n---\n# Y",
               "```\n# c\n```\n# Real", "#NoSpace\n# Yes", "   # indented 3\n", "    # code\n# after", "# Title ##\n",
               "<h1>x</h1>\n# md", "<h1>x</h1>\n\n# md", "- item\n---\n", "> q\n===\n# t", "1. one\n# two",
               "para\nmore para\n===\n", "a\n\nb\n---", "---\ntags: [a]\n---\n\n## Sub first\n# Top"]


@pytest.mark.parametrize("text", TITLE_CASES)
def test_doc_titles_agree_with_the_docs_pages(text: str) -> None:
    # The index computes titles with regular expressions (the docs slice's parser is ~3 ms a doc).
    from calcifer.docs.render import doc_title as docs_doc_title

    assert doc_title(text, doc_path="docs/a/n.md") == docs_doc_title(text, doc_path="docs/a/n.md")
