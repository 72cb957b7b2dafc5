"""Markdown to safe HTML: GitHub-flavoured markdown, Pygments, heading anchors, front matter, links.

``render_markdown`` parses with markdown-it-py (CommonMark + GFM tables, strikethrough, autolinks,
task lists, footnotes; raw HTML is allowed *into* the parser), then runs everything through nh3
(ammonia) with an allow-list, so whatever the markdown or its HTML says, the result holds no script,
no event handler, no ``javascript:``/``vbscript:``/``data:`` URL and no iframe/object/embed/style/form.

Links are rewritten inside the sanitiser (one place for markdown and raw HTML alike):

- a relative link to a doc (``../runbooks/backup.md``) → ``/docs/view/docs/runbooks/backup.md``;
  a repo-root path in GitHub's style (``/docs/runbooks/backup.md``) works the same;
- a relative image under docs/ → ``/docs/raw/<path>`` (served from main by the docs routes);
- ``service:grafana`` or a link to ``catalog/services/grafana.yaml`` → ``/services/grafana``;
- ``CHANGES.md`` → ``/changelog``; a link that leaves the repository, or any other file, loses its href;
- ``#section`` → ``#doc-section``: every ``id`` in a doc gets the prefix ``doc-``, so a heading can
  never clobber a global of the page's scripts (``<h2 id="calcifer">`` would become
  ``window.calcifer``);
- links to other hosts get ``rel="noopener noreferrer"``.
"""

from __future__ import annotations

import functools
import html
import math
import posixpath
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from calcifer.catalog import yamllimits
from calcifer.catalog.yamlio import load_plain
from calcifer.catalog.yamllimits import YamlTooComplex
from calcifer.errors import Invalid

__all__ = ["ALERT_KINDS", "ID_PREFIX", "IMAGE_TYPES", "RenderedDoc", "TocEntry", "check_front_matter", "doc_title",
           "render_inline_markdown", "render_markdown", "split_front_matter"]

ID_PREFIX = "doc-"
DOCS_DIR = "docs"
# Served by /docs/raw: extension → content type. Nothing else is ever served raw.
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}
MAX_HIGHLIGHT_CHARS = 200_000  # a bigger code block is shown plain: Pygments is linear, but not free
MAX_FRONT_MATTER_CHARS = 64_000
MAX_TITLE_CHARS = 300
MAX_HTML_DEPTH = 400
# markdown-it costs ~10 µs of CPU per character whatever the markup (a table, a list, prose): a doc
# longer than this renders its first part, cut at a line, and says so, so no doc or preview costs
# more than ~2 s to render. The whole text stays in git, the editor and search.
MAX_RENDER_CHARS = 200_000
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]")  # browsers drop tabs/newlines inside URLs; we drop all
_HEADING_DROP = re.compile(r"[^\w\- ]", re.UNICODE)


@dataclass(frozen=True)
class TocEntry:
    level: int
    text: str
    anchor: str  # the element id, with its "doc-" prefix: link to f"#{anchor}"


@dataclass(frozen=True)
class RenderedDoc:
    html: str
    title: str | None  # front matter `title`, else the first heading, else None
    toc: list[TocEntry]
    links: list[str]  # repo-relative doc paths it links to, and "service:<slug>" for service links
    front_matter: dict[str, Any] = field(default_factory=dict)
    # ``html`` without a leading ``# Title`` that repeats ``title``: a page that shows the title in its
    # own header shows this, so the title is never there twice.
    body_html: str = ""


# -- front matter --------------------------------------------------------------------------------------


def _front_matter_block(text: str) -> tuple[str, str] | None:
    """(YAML text, body) when ``text`` opens with front matter, else None."""
    body = text[1:] if text.startswith("\ufeff") else text
    first, sep, rest = body.partition("\n")
    if first.rstrip("\r").rstrip() != "---" or not sep:
        return None
    lines = rest.split("\n")
    consumed = 0
    for index, line in enumerate(lines):
        stripped = line.rstrip("\r").rstrip()
        if stripped in ("---", "..."):
            yaml_text = "\n".join(part.rstrip("\r") for part in lines[:index])
            return yaml_text, "\n".join(lines[index + 1:])
        consumed += len(line) + 1
        if consumed > MAX_FRONT_MATTER_CHARS:
            break
    return None  # no closing line: the "---" is a thematic break


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split YAML front matter (``---`` … ``---`` or ``...`` at the very top) from the markdown.

    Returns (front matter, body). Front matter that is not a YAML mapping, or does not parse, gives
    ``{}`` and is still removed, so it is never rendered. Text without front matter comes back whole.
    """
    block = _front_matter_block(text)
    if block is None:
        return {}, text
    yaml_text, remainder = block
    return _load_front_matter(yaml_text), remainder


def check_front_matter(text: str) -> None:
    """Raise YamlTooComplex (an Invalid, with the line in the doc) when the front matter is over the
    YAML parser limits; an author sees why it would be dropped instead of a silent ``{}``."""
    block = _front_matter_block(text)
    if block is None:
        return
    try:
        yamllimits.check_yaml(block[0])
    except YamlTooComplex as exc:
        line = int(exc.details["line"]) + 1  # the opening "---" comes first
        message = f"Front matter: {exc.details['message']}"
        raise YamlTooComplex(f"{message} (line {line})", details={"line": line, "message": message}) from exc


def front_matter_error(text: str) -> tuple[int, str] | None:
    """Why the front matter of ``text`` would be dropped when the doc is read (1-based line, sentence), or
    None when it has none or it reads as a mapping."""
    body = text[1:] if text.startswith("\ufeff") else text
    first, sep, rest = body.partition("\n")
    if first.rstrip("\r").rstrip() != "---" or not sep:
        return None
    lines = rest.split("\n")
    consumed = 0
    for index, line in enumerate(lines):
        if line.rstrip("\r").rstrip() in ("---", "..."):
            yaml_text = "\n".join(part.rstrip("\r") for part in lines[:index])
            if not yaml_text.strip():
                return None
            data, exc = _parsed_front_matter(yaml_text)
            if exc is not None:
                details = exc.details if isinstance(exc.details, dict) else {}
                # +1: the block starts after the opening "---"
                return int(details.get("line", 1)) + 1, f"front matter: {details.get('message', exc.message)}"
            if not isinstance(data, dict):
                return 2, "front matter must be a mapping of fields (title: ...), not a list or a single value"
            return None
        consumed += len(line) + 1
        if consumed > MAX_FRONT_MATTER_CHARS:
            break
    return None  # no closing line: the "---" is a thematic break, not front matter


@functools.lru_cache(maxsize=256)
def _parsed_front_matter(yaml_text: str) -> tuple[Any, Invalid | None]:
    """The YAML of a front matter block, or why it does not read. Kept for the last few hundred blocks:
    a merge's docs are read by the integration check, the docs index and the search index in turn."""
    try:
        return load_plain(yaml_text), None
    except Invalid as exc:
        return None, exc


def _load_front_matter(yaml_text: str) -> dict[str, Any]:
    if not yaml_text.strip():
        return {}
    data, exc = _parsed_front_matter(yaml_text)
    if exc is not None:
        return {}
    return _json_safe(data) if isinstance(data, dict) else {}


def _json_safe(value: Any) -> Any:
    # The API returns front matter as JSON, which has no NaN or infinity (YAML's .nan, .inf).
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


# -- the markdown parser -------------------------------------------------------------------------------

_FORMATTER = HtmlFormatter(cssclass="highlight")


def _fence(self: Any, tokens: list[Token], idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip() if token.info else ""
    lang = info.split(maxsplit=1)[0] if info else ""
    if lang and env.get("highlight", True) and len(token.content) <= MAX_HIGHLIGHT_CHARS:
        try:
            lexer = get_lexer_by_name(lang[:40])
        except ClassNotFound:
            lexer = None
        except Exception:  # noqa: BLE001 - a lexer lookup must never break a page
            lexer = None
        if lexer is not None:
            try:
                return str(pygments_highlight(token.content, lexer, _FORMATTER))
            except Exception:  # noqa: BLE001 - fall back to plain text
                pass
    return f"<pre><code>{escapeHtml(token.content)}</code></pre>\n"


def _normalize_www(self: Any, match: Any) -> None:
    match.url = "http://" + match.url


# GFM's "www." autolinks; bare domains stay text (config.py and backup.sh are not web sites).
_WWW = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?::\d{1,5})?"
                  r"(?:[/?#][^\s<>]*[^\s<>.,;:!?'\")\]])?")


# GitHub's alerts: a blockquote whose first line is only "[!NOTE]" (or TIP, IMPORTANT, WARNING, CAUTION).
ALERT_KINDS = ("note", "tip", "important", "warning", "caution")
_ALERT_MARKER = re.compile(r"^\[!(NOTE|TIP|IMPORTANT|WARNING|CAUTION)\][ \t]*(?:\n|$)", re.IGNORECASE)


def _alerts(state: Any) -> None:
    """Core rule between block and inline parsing: turn alert blockquotes into GitHub's markup,
    ``<div class="markdown-alert markdown-alert-note"><p class="markdown-alert-title">Note</p>…</div>``."""
    tokens: list[Token] = state.tokens
    index = 0
    while index < len(tokens):
        opening = tokens[index]
        if (opening.type != "blockquote_open" or index + 2 >= len(tokens)
                or tokens[index + 1].type != "paragraph_open" or tokens[index + 2].type != "inline"):
            index += 1
            continue
        inline = tokens[index + 2]
        marker = _ALERT_MARKER.match(inline.content)
        if marker is None:
            index += 1
            continue
        kind = marker.group(1).lower()
        closing = _matching_close(tokens, index)
        if closing is None:
            index += 1
            continue
        for token in (opening, tokens[closing]):
            token.tag = "div"
        opening.attrSet("class", f"markdown-alert markdown-alert-{kind}")
        inline.content = inline.content[marker.end():]
        title_open = Token("paragraph_open", "p", 1, block=True, level=opening.level + 1)
        title_open.attrSet("class", "markdown-alert-title")
        title = Token("inline", "", 0, content=kind.capitalize(), level=opening.level + 2, children=[])
        title_close = Token("paragraph_close", "p", -1, block=True, level=opening.level + 1)
        if inline.content.strip():
            tokens[index + 1:index + 1] = [title_open, title, title_close]
        else:  # the marker was the whole first paragraph
            tokens[index + 1:index + 4] = [title_open, title, title_close]
        index += 1


def _matching_close(tokens: list[Token], index: int) -> int | None:
    depth = 0
    for position in range(index, len(tokens)):
        kind = tokens[position].type
        if kind == "blockquote_open":
            depth += 1
        elif kind == "blockquote_close":
            depth -= 1
            if depth == 0:
                return position
    return None


def _make_parser(*, html: bool = True) -> MarkdownIt:
    md = MarkdownIt("gfm-like", {"html": html, "typographer": False})
    linkify = md.linkify
    assert linkify is not None  # the gfm-like preset needs linkify-it-py, a dependency
    linkify.set({"fuzzy_link": False, "fuzzy_ip": False})
    linkify.add("www.", {"validate": _WWW, "normalize": _normalize_www})
    md.use(tasklists_plugin, enabled=False).use(footnote_plugin)
    md.add_render_rule("fence", _fence)
    md.core.ruler.after("block", "github_alerts", _alerts)
    return md


_local = threading.local()


def _parser(*, html: bool = True) -> MarkdownIt:
    # linkify-it keeps match state in the instance, so each thread gets its own parsers.
    name = "md" if html else "md_text"
    md: MarkdownIt | None = getattr(_local, name, None)
    if md is None:
        md = _make_parser(html=html)
        setattr(_local, name, md)
    return md


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)\b[^>]*?(/?)>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr", "param", "keygen"})


def _too_deep(raw_html: str) -> bool:
    """True when tags nest deeper than MAX_HTML_DEPTH (counted roughly: unclosed tags count as open).

    The HTML5 parser the sanitiser uses takes time proportional to depth for every tag, so a doc of
    100,000 nested <div>s would take minutes; such a doc is shown with its raw HTML as text instead.
    """
    depth = 0
    for match in _TAG.finditer(raw_html):
        if match.group(1):
            depth = max(0, depth - 1)
        elif not match.group(3) and match.group(2).lower() not in _VOID:
            depth += 1
            if depth > MAX_HTML_DEPTH:
                return True
    return False


# -- headings ------------------------------------------------------------------------------------------


def _plain_text(inline: Token | None) -> str:
    if inline is None or not inline.children:
        return inline.content if inline is not None else ""
    parts = []
    for child in inline.children:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content if child.type != "html_inline" else "")
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())


def _slug(text: str) -> str:
    # GitHub's anchors: lower case, punctuation dropped, spaces become dashes.
    slug = _HEADING_DROP.sub("", text.strip().lower()).replace(" ", "-")
    return slug[:100] or "section"


def _anchor_headings(tokens: list[Token]) -> list[TocEntry]:
    seen: dict[str, int] = {}
    toc: list[TocEntry] = []
    for index, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[index + 1] if index + 1 < len(tokens) and tokens[index + 1].type == "inline" else None
        text = _plain_text(inline)
        base = _slug(text)
        count = seen.get(base, 0)
        slug = base if count == 0 else f"{base}-{count}"
        while slug in seen:  # "a-1" written by hand after two "a"s
            count += 1
            slug = f"{base}-{count}"
        seen[base] = count + 1
        seen.setdefault(slug, 1)
        token.attrSet("id", slug)
        toc.append(TocEntry(level=int(token.tag[1]), text=text, anchor=ID_PREFIX + slug))
    return toc


# -- links ---------------------------------------------------------------------------------------------


def _quote_path(path: str) -> str:
    return quote(path, safe="/-._~!$&'()*+,;=:@")


def _fragment(fragment: str) -> str:
    return f"#{ID_PREFIX}{fragment}" if fragment else ""


def _repo_target(path: str, fragment: str, *, image: bool) -> tuple[str | None, str | None]:
    """Where a repository file is shown, and what the doc links to: (url, link) — either may be None."""
    if path == "CHANGES.md" and not image:
        return "/changelog", None
    if path.startswith(f"{DOCS_DIR}/"):
        lower = path.lower()
        extension = posixpath.splitext(lower)[1]
        if extension in IMAGE_TYPES:
            return f"/docs/raw/{_quote_path(path)}", None
        if image:
            return None, None
        if lower.endswith(".md"):
            return f"/docs/view/{_quote_path(path)}{_fragment(fragment)}", path
        if not extension:  # a folder
            return f"/docs?prefix={quote(path.rstrip('/'), safe='/')}", None
        return None, None
    if image:
        return None, None
    folder, _, name = path.rpartition("/")
    stem, extension = posixpath.splitext(name)
    if folder in ("catalog/services", "catalog/endpoints") and extension in (".yaml", ".yml") and _SLUG.match(stem):
        if folder == "catalog/services":
            return f"/services/{stem}", f"service:{stem}"
        return f"/endpoints/{stem}", None
    return None, None


def _looks_like_repo_path(path: str) -> bool:
    return (path == "CHANGES.md" or path.startswith("catalog/")
            or (path.startswith(f"{DOCS_DIR}/") and not path.startswith(("docs/view/", "docs/history/",
                                                                          "docs/diff/", "docs/raw/",
                                                                          "docs/edit/"))))


class _LinkRewriter:
    """The sanitiser's attribute filter for one document: rewrites URLs and records the links."""

    def __init__(self, doc_path: str) -> None:
        self.folder = posixpath.dirname(doc_path)
        self.links: list[str] = []

    def _record(self, link: str | None) -> None:
        if link and link not in self.links:
            self.links.append(link)

    def __call__(self, tag: str, attr: str, value: str) -> str | None:
        if attr == "id":
            value = value.strip()
            return ID_PREFIX + value[:200] if value else None
        if tag == "a" and attr == "href":
            return self.url(value, image=False)
        if tag == "img" and attr == "src":
            return self.url(value, image=True)
        if attr in ("width", "height", "start", "colspan", "rowspan"):
            return value if value.isdigit() and len(value) <= 5 else None
        return value

    def url(self, raw: str, *, image: bool) -> str | None:
        value = _URL_NOISE.sub("", raw)
        if not value:
            return None
        scheme = _SCHEME.match(value)
        if scheme:
            name = scheme.group(1).lower()
            if name in ("http", "https") or (name == "mailto" and not image):
                return value
            if name == "service" and not image:
                slug = value[len(scheme.group(0)):].strip("/").lower()
                if _SLUG.match(slug):
                    self._record(f"service:{slug}")
                    return f"/services/{slug}"
            return None  # javascript:, vbscript:, data:, file:, anything unknown
        if value.startswith("//"):
            return value  # another host, scheme-relative
        if value.startswith("#"):
            return None if image else _fragment(value[1:]) or "#"
        location, _, fragment = value.partition("#")
        location = location.partition("?")[0]
        if value.startswith("/"):
            path = unquote(location[1:])
            if _looks_like_repo_path(path):  # GitHub reads "/docs/a.md" from the repository root
                return self._resolved(path, fragment, image=image)
            self._record_site_link(path)
            return value
        if not location:
            return None if image else value  # "?x=1": the same page
        joined = posixpath.normpath(posixpath.join(self.folder, unquote(location)))
        if joined == ".." or joined.startswith("../") or joined.startswith("/"):
            return None  # leaves the repository
        return self._resolved(joined, fragment, image=image)

    def _resolved(self, path: str, fragment: str, *, image: bool) -> str | None:
        url, link = _repo_target(path, fragment, image=image)
        self._record(link)
        return url

    def _record_site_link(self, path: str) -> None:
        if path.startswith("docs/view/"):
            target = path[len("docs/view/"):]
            if target.startswith(f"{DOCS_DIR}/") and target.endswith(".md") and ".." not in target.split("/"):
                self._record(target)
        elif path.startswith("services/"):
            slug = path[len("services/"):].strip("/")
            if _SLUG.match(slug):
                self._record(f"service:{slug}")


# -- the sanitiser ------------------------------------------------------------------------------------

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt",
         "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "ins",
         "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "section", "small", "span", "strong",
         "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var"}
# Removed together with everything inside them (the rest of the unknown tags keep their text).
_CLEAN_CONTENT = {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet",
                  "template", "noscript", "noembed", "noframes", "xmp", "title", "textarea", "select",
                  "option", "head", "meta", "link", "base"}
_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title", "id"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "input": {"checked"},
    "li": {"id"},
    "ol": {"start"},
    "td": {"style", "colspan", "rowspan"},
    "th": {"style", "colspan", "rowspan"},
    "details": {"open"},
    **{f"h{level}": {"id"} for level in range(1, 7)},
}
_CLASSES: dict[str, set[str]] = {
    "span": {name for name in STANDARD_TYPES.values() if name},  # Pygments' token classes
    "div": {"highlight", "markdown-alert", *(f"markdown-alert-{kind}" for kind in ALERT_KINDS)},
    "p": {"markdown-alert-title"},
    "ul": {"contains-task-list"},
    "li": {"task-list-item", "footnote-item"},
    "input": {"task-list-item-checkbox"},
    "section": {"footnotes"},
    "ol": {"footnotes-list"},
    "hr": {"footnotes-sep"},
    "sup": {"footnote-ref"},
    "a": {"footnote-backref"},
}
_URL_SCHEMES = {"http", "https", "mailto", "service"}
# ammonia writes every attribute as name="value" with '"' escaped, so this reads its output exactly.
_A_TAG = re.compile(r'<a((?:\s+[^\s="\'>/]+="[^"]*")*)\s*>')
_HREF = re.compile(r'\shref="([^"]*)"')


# A table cell's alignment becomes a class: the Content-Security-Policy (web/headers.py) blocks style="".
_CELL_TAG = re.compile(r"<(td|th)((?:\s+[^\s=\"'>/]+=\"[^\"]*\")*)\s*>")
_CELL_STYLE = re.compile(r'\sstyle="([^"]*)"')
_ALIGNMENT = re.compile(r"text-align:\s*(left|right|center)\s*;?")


def _cell_alignment(match: re.Match[str]) -> str:
    tag, attrs = match.group(1), match.group(2)
    style = _CELL_STYLE.search(attrs)
    if style is None:
        return match.group(0)
    align = _ALIGNMENT.fullmatch(style.group(1).strip())
    attrs = _CELL_STYLE.sub("", attrs) + (f' class="align-{align.group(1)}"' if align else "")
    return f"<{tag}{attrs}>"


def _external(href: str) -> bool:
    lower = href.lower()
    return lower.startswith(("http:", "https:", "//"))


def _add_rel(match: re.Match[str]) -> str:
    attrs = match.group(1)
    href = _HREF.search(attrs)
    if href is None or not _external(html.unescape(href.group(1))):
        return match.group(0)
    return f'<a{attrs} rel="noopener noreferrer">'


def _sanitize(raw_html: str, rewriter: _LinkRewriter) -> str:
    cleaned = nh3.clean(
        raw_html,
        tags=_TAGS,
        clean_content_tags=_CLEAN_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=rewriter,
        strip_comments=True,
        link_rel=None,
        url_schemes=_URL_SCHEMES,
        allowed_classes=_CLASSES,
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": "disabled", "type": "checkbox"}},
        filter_style_properties={"text-align"},
    )
    return _CELL_TAG.sub(_cell_alignment, _A_TAG.sub(_add_rel, cleaned))


# -- public API ---------------------------------------------------------------------------------------


def _first_heading(tokens: list[Token]) -> str | None:
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and index + 1 < len(tokens):
            text = _plain_text(tokens[index + 1])
            if text:
                return text[:MAX_TITLE_CHARS]
    return None


def _front_matter_title(front_matter: dict[str, Any]) -> str | None:
    value = front_matter.get("title")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = " ".join(str(value).split())
        return text[:MAX_TITLE_CHARS] or None
    return None


def _shortened(body: str) -> tuple[str, str]:
    """(the part of ``body`` to render, the note that says the rest is not shown, or "")."""
    if len(body) <= MAX_RENDER_CHARS:
        return body, ""
    cut = body.rfind("\n", 0, MAX_RENDER_CHARS)
    shown = body[:cut if cut > 0 else MAX_RENDER_CHARS]
    note = (f'<p class="doc-truncated"><strong>This doc is too large to show in full:</strong> '
            f"the first {len(shown):,} of its {len(body):,} characters are shown. Split it into smaller "
            "docs to see everything here; the whole text is in the editor and in git.</p>")
    return shown, note


def _render(text: str, *, doc_path: str, highlight: bool) -> RenderedDoc:
    front_matter, body = split_front_matter(text)
    body, note = _shortened(body)
    md = _parser()
    env: dict[str, Any] = {"highlight": highlight}
    tokens = md.parse(body, env)
    toc = _anchor_headings(tokens)
    raw_html = md.renderer.render(tokens, md.options, env)
    if _too_deep(raw_html):
        md = _parser(html=False)
        env = {"highlight": highlight}
        tokens = md.parse(body, env)
        toc = _anchor_headings(tokens)
        raw_html = md.renderer.render(tokens, md.options, env)
    rewriter = _LinkRewriter(doc_path)
    title = _front_matter_title(front_matter) or _first_heading(tokens)
    lead = _leading_title_tokens(tokens, title)
    if lead:
        heading_html = _sanitize(md.renderer.render(tokens[:lead], md.options, env), rewriter)
        body_html = _sanitize(md.renderer.render(tokens[lead:], md.options, env), rewriter) + note
        safe_html = heading_html + body_html
    else:
        safe_html = body_html = _sanitize(raw_html, rewriter) + note
    return RenderedDoc(html=safe_html, title=title, toc=toc, links=rewriter.links, front_matter=front_matter,
                       body_html=body_html)


def _leading_title_tokens(tokens: list[Token], title: str | None) -> int:
    """How many tokens the doc's opening ``# Title`` takes when it says the same as ``title``, else 0."""
    if (title is None or len(tokens) < 3 or tokens[0].type != "heading_open" or tokens[0].tag != "h1"
            or tokens[1].type != "inline"):
        return 0
    same = " ".join(_plain_text(tokens[1]).split()).casefold() == " ".join(title.split()).casefold()
    return 3 if same else 0


def render_markdown(text: str, *, doc_path: str = "docs/index.md") -> RenderedDoc:
    """Render a doc's markdown to sanitised HTML, with its title, table of contents, links and front matter.

    ``doc_path`` (repo-relative) is where relative links and images are resolved from. Never raises
    for any text; hostile input yields inert HTML.
    """
    return _render(text, doc_path=doc_path, highlight=True)


# An anchor or an image in rendered HTML: the only tags whose URLs the sanitiser records as links.
_LINK_TAG = re.compile(r"<(?:a|img)[\s/>]", re.IGNORECASE)


def index_markdown(text: str, *, doc_path: str) -> RenderedDoc:
    """What the index needs of a doc: its title, links and front matter (``html``, ``body_html`` and
    ``toc`` are left empty). The same links as ``render_markdown``'s, for less: no syntax highlighting,
    no heading anchors, one sanitising pass, and none when the HTML has no anchor or image at all (the
    sanitiser records links only from those); no parsing either when the text cannot link (below) and
    the front matter names the title."""
    front_matter, body = split_front_matter(text)
    body = _shortened(body)[0]
    # A recorded link needs a markdown link or reference (``[``) or raw HTML or an autolink (``<``):
    # linkify's bare URLs are http(s), www. or mail, never recorded. Without either, no links; and with
    # a title in the front matter, nothing to parse at all.
    may_link = "[" in body or "<" in body
    title = _front_matter_title(front_matter)
    if title is not None and not may_link:
        return RenderedDoc(html="", title=title, toc=[], links=[], front_matter=front_matter)
    md = _parser()
    env: dict[str, Any] = {"highlight": False}
    tokens = md.parse(body, env)
    if not may_link:
        return RenderedDoc(html="", title=_first_heading(tokens), toc=[], links=[], front_matter=front_matter)
    raw_html = md.renderer.render(tokens, md.options, env)
    if _too_deep(raw_html):
        md = _parser(html=False)
        env = {"highlight": False}
        tokens = md.parse(body, env)
        raw_html = md.renderer.render(tokens, md.options, env)
    title = title or _first_heading(tokens)
    links: list[str] = []
    if _LINK_TAG.search(raw_html):
        rewriter = _LinkRewriter(doc_path)
        _sanitize(raw_html, rewriter)
        links = rewriter.links
    return RenderedDoc(html="", title=title, toc=[], links=links, front_matter=front_matter)


def doc_title(text: str, *, doc_path: str) -> str:
    """The doc's title: front matter ``title``, else its first heading, else its file name."""
    front_matter, body = split_front_matter(text)
    title = _front_matter_title(front_matter)
    if title:
        return title
    heading = _first_heading(_parser().parse(_shortened(body)[0], {"highlight": False}))
    return heading or posixpath.basename(doc_path)


def render_inline_markdown(text: str, *, doc_path: str = "CHANGES.md") -> str:
    """One line of markdown (a changelog entry) as sanitised inline HTML."""
    md = _parser()
    return _sanitize(md.renderInline(text[:MAX_RENDER_CHARS], {"highlight": False}), _LinkRewriter(doc_path))
