"""Hostile markdown and HTML: whatever a doc says, its rendered HTML runs no code.

The corpus is shared with the browser test (tests/browser/test_docs_browser.py), which loads all of it
in Chromium and fails on any dialog or on ``window.__xss`` being set.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from calcifer.docs.render import render_inline_markdown, render_markdown

# Each payload tries to run `window.__xss = 1` or open a dialog.
PAYLOADS: list[str] = [
    "<script>window.__xss=1</script>",
    "<SCRIPT SRC=//127.0.0.1:9/x.js></SCRIPT>",
    '<img src=x onerror="window.__xss=1">',
    '<img src="ok.png" onload="window.__xss=1">',
    '<body onload="window.__xss=1">',
    '<svg onload="window.__xss=1"><script>window.__xss=1</script></svg>',
    '<svg><a xlink:href="javascript:window.__xss=1"><text x="0" y="10">svg link</text></a></svg>',
    "[md link](javascript:window.__xss=1)",
    "[mixed case](JaVaScRiPt:window.__xss=1)",
    "[entity](&#106;avascript:window.__xss=1)",
    "[tab entity](jav&#x09;ascript:window.__xss=1)",
    '<a href="jav&#x09;ascript:window.__xss=1">tab in html</a>',
    '<a href="&#x6A;avascript:window.__xss=1">entity in html</a>',
    '<a href=" javascript:window.__xss=1">leading space</a>',
    '<a href="java\nscript:window.__xss=1">newline</a>',
    '<a href="javascript&colon;window.__xss=1">named colon</a>',
    '<a href="vbscript:msgbox(1)">vbscript</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9MTwvc2NyaXB0Pg==">data html</a>',
    "[data md](data:text/html,<script>window.__xss=1</script>)",
    "![data img](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<iframe src="javascript:window.__xss=1"></iframe>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<object data="javascript:window.__xss=1"></object>',
    '<object data="data:text/html,<script>window.__xss=1</script>"></object>',
    '<embed src="javascript:window.__xss=1">',
    '<style>body{background:url("javascript:window.__xss=1")}</style>',
    '<div style="width: expression(window.__xss=1)">expression</div>',
    '<p style="background-image:url(javascript:window.__xss=1)">background</p>',
    '<form action="javascript:window.__xss=1"><button>go</button></form>',
    '<button formaction="javascript:window.__xss=1">formaction</button>',
    '<input autofocus onfocus="window.__xss=1">',
    '<input type="image" src="x" onerror="window.__xss=1">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
    '<base href="javascript:/">',
    '<link rel="stylesheet" href="javascript:window.__xss=1">',
    '<img src="x" onerror="window.__xss=1"',
    "<<script>script>window.__xss=1<</script>/script>",
    "<scr<script>ipt>window.__xss=1</scr</script>ipt>",
    '<details open ontoggle="window.__xss=1"><summary>toggle</summary>x</details>',
    '<video><source onerror="window.__xss=1"></video>',
    '<noscript><p title="</noscript><img src=x onerror=window.__xss=1>">',
    "<template><script>window.__xss=1</script></template>",
    '<a href="#" onclick="window.__xss=1">onclick</a>',
    "[angle](<javascript:window.__xss=1>)",
    '![x" onerror="window.__xss=1](x.png)',
    '[title](b.md "t\\" onmouseover=\\"window.__xss=1")',
    "[reference][evil]\n\n[evil]: javascript:window.__xss=1",
    '<isindex type=image src=1 onerror=window.__xss=1>',
    "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    '<svg><animate onbegin="window.__xss=1" attributeName=x dur=1s>',
    '<marquee onstart="window.__xss=1">marquee</marquee>',
    '<a href="service:javascript:alert(1)">service js</a>',
    '<h2 id="__xss">clobbering heading</h2><img name="__xss" src="y.png">',
    '<form id="calcifer"><input name="flash"></form>',
    '<a href="/work/1" target="_blank">target</a>',
    "```html\n<script>window.__xss=1</script>\n```",
    "# <img src=x onerror=window.__xss=1> heading",
    # Last: its <style> is never closed, so (as in a browser) everything after it is style text, and dropped.
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=1">',
]

# What may never appear in rendered HTML.
FORBIDDEN_TAGS = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "style", "form", "button",
                  "meta", "base", "link", "svg", "math", "template", "noscript", "textarea", "select", "video",
                  "audio", "source", "marquee", "isindex", "body", "html", "head", "title"}
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcset",
             "cite", "lowsrc", "dynsrc", "ping", "codebase", "longdesc", "usemap", "manifest"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:", "livescript:", "mocha:")


class Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        values = dict(attrs)
        if tag == "input" and (values.get("type") != "checkbox" or "disabled" not in values):
            self.problems.append(f"<input {values}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}>")
            if name in ("srcdoc", "formaction", "http-equiv", "name", "target", "xmlns"):
                self.problems.append(f"<{tag} {name}>")
            if name == "style" and (tag not in ("td", "th") or not re.fullmatch(r"text-align:\s*\w+;?", value or "")):
                self.problems.append(f"<{tag} style={value!r}>")
            if name == "id" and not (value or "").startswith("doc-"):
                self.problems.append(f"<{tag} id={value!r}> (could clobber a global)")
            if name in URL_ATTRS and value is not None:
                normalised = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(value)).lower()
                if normalised.startswith(BAD_SCHEMES):
                    self.problems.append(f"<{tag} {name}={value!r}>")


def problems_in(rendered_html: str) -> list[str]:
    checker = Checker()
    checker.feed(rendered_html)
    checker.close()
    if re.search(r"<\s*/?\s*script", rendered_html, re.IGNORECASE):
        checker.problems.append("a script tag in the text")
    return checker.problems


def test_the_corpus_is_big_enough() -> None:
    assert len(PAYLOADS) >= 30


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_each_payload_renders_inert(payload: str) -> None:
    for text in (payload, f"Text before.\n\n{payload}\n\nText after.", f"- item {payload}\n",
                 f"> {payload}\n", f"| a |\n|---|\n| {payload} |\n"):
        doc = render_markdown(text, doc_path="docs/evil.md")
        assert problems_in(doc.html) == [], (text, doc.html)
        assert problems_in(render_inline_markdown(text)) == [], text


def test_all_payloads_together_render_inert() -> None:
    doc = render_markdown("\n\n".join(PAYLOADS), doc_path="docs/evil.md")
    assert problems_in(doc.html) == [], doc.html
    assert "window.__xss" in doc.html  # the payloads' text is still shown, as text


def test_a_payload_does_not_swallow_the_rest_of_the_doc() -> None:
    for payload in PAYLOADS[:-1]:
        assert "The end." in render_markdown(f"{payload}\n\nThe end.\n", doc_path="docs/evil.md").html, payload


def test_the_checker_would_notice_executable_html() -> None:
    for bad in ('<a href=" JaVa&#x09;Script:x">a</a>', "<img src=x onerror=y>", "<script>x</script>",
                '<td style="position:fixed">x</td>', '<h2 id="calcifer">x</h2>', '<iframe src="/"></iframe>'):
        assert problems_in(bad), bad


def test_front_matter_cannot_inject_markup() -> None:
    doc = render_markdown('---\ntitle: "<script>window.__xss=1</script>"\nx: "<img src=x onerror=1>"\n---\nBody\n',
                          doc_path="docs/evil.md")
    assert doc.title == "<script>window.__xss=1</script>"  # plain text: the templates escape it
    assert problems_in(doc.html) == [] and "script" not in doc.html


def test_html_nested_too_deep_is_shown_as_text() -> None:
    # The sanitiser's HTML parser slows down with nesting depth: such a doc keeps its raw HTML as text.
    doc = render_markdown("# Deep\n\n" + "<div>" * 5000 + "x", doc_path="docs/deep.md")
    assert "&lt;div&gt;" in doc.html and "<div>" not in doc.html and doc.title == "Deep"
    shallow = render_markdown("<div><p>fine</p></div>\n\n" * 2000, doc_path="docs/wide.md")
    assert shallow.html.count("<div>") == 2000


def test_hostile_input_never_raises() -> None:
    hostile = ["\x00" * 10, "[" * 5000, "<" * 5000, "*" * 10000, "> " * 3000 + "deep", "- " * 2000 + "x",
               "```" + "x" * 100 + "\n" + "y" * 10000, "\ufeff---\n&a: *a\n---\n", "---\n" + "a: &a [*a, *a]\n" * 30
               + "---\n", "| a |\n" + "|---|\n" + "| \\| |\n" * 500, "[x](" + "(" * 2000 + ")"]
    for text in hostile:
        doc = render_markdown(text, doc_path="docs/x.md")
        assert problems_in(doc.html) == []
