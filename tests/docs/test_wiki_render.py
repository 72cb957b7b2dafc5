"""GitHub's alerts and the doc's one title, as the renderer writes them."""

from __future__ import annotations

import pytest

from calcifer.docs.render import ALERT_KINDS, render_markdown


@pytest.mark.parametrize("kind", ALERT_KINDS)
def test_each_github_alert_renders_as_a_titled_box_of_its_kind(kind: str) -> None:
    doc = render_markdown(f"> [!{kind.upper()}]\n> Keep the **spare** disk.\n")
    assert doc.html.startswith(f'<div class="markdown-alert markdown-alert-{kind}">\n'
                               f'<p class="markdown-alert-title">{kind.capitalize()}</p>\n'
                               "<p>Keep the <strong>spare</strong> disk.</p>\n</div>")
    assert "[!" not in doc.html and "<blockquote>" not in doc.html


def test_an_alert_marker_is_case_insensitive_and_may_stand_alone_on_its_paragraph() -> None:
    html = render_markdown("> [!warning]\n>\n> First paragraph.\n>\n> Second.\n").html
    assert html == ('<div class="markdown-alert markdown-alert-warning">\n'
                    '<p class="markdown-alert-title">Warning</p>\n<p>First paragraph.</p>\n<p>Second.</p>\n</div>\n')


def test_a_quote_that_is_not_an_alert_stays_a_quote() -> None:
    for text in ("> Just a quote.\n", "> [!NOTE] on the same line as text\n", "> [!DANGER]\n> unknown kind\n",
                 "Text [!NOTE]\n"):
        html = render_markdown(text).html
        assert "markdown-alert" not in html, text


def test_alert_classes_written_by_hand_keep_only_the_known_ones() -> None:
    html = render_markdown('<div class="markdown-alert markdown-alert-note evil" onclick="x()">Hi</div>\n').html
    assert html.startswith('<div class="markdown-alert markdown-alert-note">Hi</div>')


def test_a_doc_opening_with_its_title_gives_the_body_without_it() -> None:
    doc = render_markdown("# Backups\n\nNightly at two.\n\n## Restore\n\nFrom the NAS.\n")
    assert doc.title == "Backups"
    assert doc.html.startswith('<h1 id="doc-backups">Backups</h1>')
    assert doc.body_html.startswith("<p>Nightly at two.</p>")
    assert "<h1" not in doc.body_html and '<h2 id="doc-restore">Restore</h2>' in doc.body_html


def test_a_first_heading_that_differs_from_the_front_matter_title_is_kept() -> None:
    doc = render_markdown("---\ntitle: Backups\n---\n# How we back up\n\nNightly.\n")
    assert doc.title == "Backups"
    assert doc.body_html.startswith('<h1 id="doc-how-we-back-up">How we back up</h1>')


def test_a_doc_without_a_leading_title_heading_keeps_all_of_its_body() -> None:
    doc = render_markdown("Intro first.\n\n# Later heading\n")
    assert doc.body_html == doc.html
